"""A mine run's scores saved a window at a time: equal to scoring at once, resumed after an
interruption without scoring finished windows again, damaged windows scored again."""

from __future__ import annotations

import numpy as np
import pytest

from socm.core.pairs import pairwise
from socm.core.schema import current_schema
from socm.core.stats import token_stats_many
from socm.store import scored_in_windows, scores_key


@pytest.fixture
def texts():
    rng = np.random.default_rng(3)
    return token_stats_many([rng.normal(1, 1, (int(rng.integers(3, 9)), 6)) for _ in range(30)])


@pytest.fixture
def pairs():
    rng = np.random.default_rng(4)
    i = rng.integers(0, 30, 200)
    j = (i + rng.integers(1, 30, 200)) % 30
    return np.stack([np.minimum(i, j), np.maximum(i, j)], axis=1)


class Counting:
    """The engine on listed pairs, counting its calls; interrupted after ``stop_after``."""

    def __init__(self, texts, stop_after: int | None = None) -> None:
        self.texts, self.stop_after, self.calls = texts, stop_after, 0

    def __call__(self, part: np.ndarray):
        if self.stop_after is not None and self.calls >= self.stop_after:
            raise KeyboardInterrupt
        self.calls += 1
        return pairwise(self.texts, part)


def run(texts, pairs, folder, stop_after=None, window=32, key=None):
    score = Counting(texts, stop_after)
    key = key or scores_key(pairs, "texts", "float64", "exact", current_schema())
    res, info = scored_in_windows(score, pairs, 30, current_schema(), folder, key, window)
    assert info["size"] == window
    return res, info["read_back"], info["n_windows"], score.calls


def test_windows_equal_scoring_at_once(texts, pairs, tmp_path):
    res, reused, n_windows, calls = run(texts, pairs, tmp_path)
    assert (reused, n_windows, calls) == (0, 7, 7)  # 200 pairs, 32 a window
    ref = pairwise(texts, pairs)
    np.testing.assert_array_equal(res.i, pairs[:, 0])
    np.testing.assert_array_equal(res.j, pairs[:, 1])
    for name in ("d_mu", "d_sigma", "socm", "relative_d_sigma"):
        np.testing.assert_allclose(res.columns[name], ref.columns[name], rtol=0, atol=1e-12)


def test_an_interrupted_run_resumes_from_its_finished_windows(texts, pairs, tmp_path):
    whole, *_ = run(texts, pairs, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        run(texts, pairs, tmp_path / "cut", stop_after=3)
    res, reused, n_windows, calls = run(texts, pairs, tmp_path / "cut")
    assert (reused, n_windows, calls) == (3, 7, 4)  # only the windows left are scored
    for name, col in whole.columns.items():
        np.testing.assert_array_equal(res.columns[name], col)  # bit for bit
    again = run(texts, pairs, tmp_path / "cut")
    assert again[1:] == (7, 7, 0)


def test_a_damaged_window_is_scored_again(texts, pairs, tmp_path):
    whole, *_ = run(texts, pairs, tmp_path)
    files = sorted(tmp_path.glob("*.npz"))
    files[2].write_bytes(files[2].read_bytes()[:100])  # torn
    np.savez(files[4], d_mu=np.zeros(3))  # another length and other columns
    res, reused, _, calls = run(texts, pairs, tmp_path)
    assert (reused, calls) == (5, 2)
    for name, col in whole.columns.items():
        np.testing.assert_array_equal(res.columns[name], col)


def test_the_key_covers_what_defines_the_numbers(texts, pairs, tmp_path):
    schema = current_schema()
    base = scores_key(pairs, "texts", "float64", "exact", schema)
    assert base == scores_key(pairs.copy(), "texts", "float64", "exact", schema)
    others = {
        scores_key(pairs[::-1], "texts", "float64", "exact", schema),
        scores_key(pairs, "other", "float64", "exact", schema),
        scores_key(pairs, "texts", "float32", "exact", schema),
        scores_key(pairs, "texts", "float64", "paper", schema),
        scores_key(pairs, "texts", "float64", "exact", schema[:-1]),
    }
    assert base not in others and len(others) == 5
    run(texts, pairs, tmp_path, window=32)
    _, reused, n_windows, calls = run(texts, pairs, tmp_path, window=50)
    assert (reused, n_windows, calls) == (0, 4, 4)  # windows of another size are not read


def test_one_window_keeps_the_given_order(texts, pairs, tmp_path):
    """At most one window: the pairs go to the scorer as given (as without a store)."""
    seen = []

    def score(part):
        seen.append(part.copy())
        return pairwise(texts, part)

    key = scores_key(pairs, "texts", "float64", "exact", current_schema())
    scored_in_windows(score, pairs, 30, current_schema(), tmp_path, key, 1000)
    np.testing.assert_array_equal(seen[0], pairs)


def test_a_window_of_other_pairs_under_the_same_key_is_scored_again(texts, pairs, tmp_path):
    """A window is read back only for the very pairs it scored, whatever its key says (a
    locality order that changed)."""
    run(texts, pairs, tmp_path)
    other = pairs.copy()
    other[::7, 1] = (other[::7, 0] + 1) % 30  # a few pairs changed, the same count
    other = np.stack([other.min(axis=1), other.max(axis=1)], axis=1)
    key = scores_key(pairs, "texts", "float64", "exact", current_schema())  # the first's
    res, reused, n_windows, calls = run(texts, other, tmp_path, key=key)
    assert reused + calls == n_windows and calls >= 1
    ref = pairwise(texts, other)
    for name in ("d_mu", "d_sigma", "socm"):
        np.testing.assert_allclose(res.columns[name], ref.columns[name], rtol=0, atol=1e-12)


def test_a_window_that_cannot_be_saved_is_kept_and_the_run_goes_on(texts, pairs, tmp_path):
    from socm.errors import SocmWarning

    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")
    with pytest.warns(SocmWarning, match="kept in memory only"):
        res, reused, n_windows, calls = run(texts, pairs, blocked / "scores")
    assert (reused, calls) == (0, n_windows)
    ref = pairwise(texts, pairs)
    np.testing.assert_allclose(res.columns["socm"], ref.columns["socm"], rtol=0, atol=1e-12)
