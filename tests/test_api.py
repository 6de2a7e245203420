"""socm.pairwise and socm.mine on lazy sequences, their statistics within a memory budget or in
a store on disk: the same results, each item read once, a chunk at a time."""

from __future__ import annotations

import weakref

import numpy as np
import pytest
from conftest import random_tokens

import socm
import socm.api as api
from socm.core import pairs as core_pairs


class Lazy:
    """A sequence that makes its token matrices on demand (from a seed per text), counting
    reads and the most items alive at once."""

    def __init__(self, n: int, dim: int = 16, seed: int = 0) -> None:
        self.n, self.dim, self.seed = n, dim, seed
        self.reads = np.zeros(n, dtype=int)
        self.alive = 0
        self.most_alive = 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> np.ndarray:
        self.reads[i] += 1
        rng = np.random.default_rng((self.seed, i))
        x = random_tokens(rng, int(rng.integers(2, 25)), self.dim, rank=int(rng.integers(2, 9)))
        self.alive += 1
        self.most_alive = max(self.most_alive, self.alive)
        weakref.finalize(x, self._freed)
        return x

    def _freed(self) -> None:
        self.alive -= 1

    def materialise(self) -> list[np.ndarray]:
        return [Lazy.__getitem__(Lazy(self.n, self.dim, self.seed), i) for i in range(self.n)]


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(api, "CHUNK_ITEMS", 16)


def test_pairwise_beyond_the_budget_equals_in_memory(small_chunks, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    texts = Lazy(60)
    ref = core_pairs.pairwise(texts.materialise())
    got = socm.pairwise(texts, memory_budget=1)  # a temporary store from the first chunk
    assert (texts.reads == 1).all() and texts.most_alive <= 16
    np.testing.assert_array_equal(got.i, ref.i)
    np.testing.assert_array_equal(got.j, ref.j)
    for col in ("d_mu", "d_sigma", "socm"):
        np.testing.assert_allclose(getattr(got, col), getattr(ref, col), rtol=0, atol=1e-12)
    assert not list(tmp_path.glob("socm-stats-*"))  # the temporary store is gone
    listed = np.array([[5, 3], [0, 59], [17, 40], [3, 5]])
    got = socm.pairwise(Lazy(60), listed, numerics="paper", memory_budget=1)
    ref = core_pairs.pairwise(texts.materialise(), listed, numerics="paper")
    np.testing.assert_allclose(got.socm, ref.socm, rtol=0, atol=1e-12)


def test_mine_in_a_store_equals_in_memory_and_reuses_it(small_chunks, tmp_path, monkeypatch):
    texts = Lazy(80, seed=1)
    ref = socm.mine(texts.materialise(), neighbors=4)
    store = tmp_path / "store"
    got = socm.mine(texts, neighbors=4, store=store)
    assert (texts.reads == 1).all() and texts.most_alive <= 16 and store.is_dir()
    np.testing.assert_array_equal(got.i, ref.i)
    np.testing.assert_array_equal(got.j, ref.j)
    for col in ref.columns:
        np.testing.assert_allclose(got.columns[col], ref.columns[col], rtol=0, atol=1e-12)
    calls = []
    real = api.reduce_many
    monkeypatch.setattr(api, "reduce_many", lambda a, *k: calls.append(len(a)) or real(a, *k))
    again = socm.mine(Lazy(80, seed=1), neighbors=4, store=store)
    assert sum(calls) == 0  # every text's statistics were in the store
    np.testing.assert_array_equal(again.socm, got.socm)


def test_mine_in_a_store_frees_the_unit_means_before_scoring(small_chunks, tmp_path, monkeypatch):
    from socm.core import mine as core_mine

    searched, alive_at_scoring = [], []
    find, score = core_mine.mine_candidates, core_mine.score_and_rank

    def spy_find(means, *a, **k):
        searched.append(weakref.ref(means))
        return find(means, *a, **k)

    def spy_score(stats, *a, **k):
        alive_at_scoring.append(searched[-1]() is not None)
        return score(stats, *a, **k)

    monkeypatch.setattr(core_mine, "mine_candidates", spy_find)
    monkeypatch.setattr(core_mine, "score_and_rank", spy_score)
    texts = Lazy(50, seed=4)
    ref = socm.mine(texts.materialise(), neighbors=3)  # in memory: the texts hold their means
    got = socm.mine(texts, neighbors=3, store=tmp_path / "s")
    assert alive_at_scoring == [True, False]  # the store's run read them back with the factors
    np.testing.assert_array_equal(got.i, ref.i)
    np.testing.assert_allclose(got.socm, ref.socm, rtol=0, atol=1e-12)


def test_float32_store_within_1e_6(small_chunks, tmp_path):
    texts = Lazy(40, seed=2)
    ref = socm.mine(texts.materialise(), neighbors=3)
    got = socm.mine(texts, neighbors=3, store=tmp_path / "s32", store_dtype="float32")
    np.testing.assert_array_equal(got.i, ref.i)
    for col in ("d_mu", "d_sigma", "socm", "relative_d_sigma"):
        np.testing.assert_allclose(got.columns[col], ref.columns[col], rtol=0, atol=1e-6)


def test_duplicates_found_by_content_in_memory_and_in_a_store_alike(rng, tmp_path):
    texts = [random_tokens(rng, int(rng.integers(6, 20)), 12) for _ in range(20)]
    texts[7] = texts[3].copy()
    texts[9] = 2.0 * texts[4]  # the same unit mean and shape, other tokens: not a duplicate
    kept = socm.mine(texts, neighbors=2, drop_duplicates=True)
    stored = socm.mine(texts, neighbors=2, drop_duplicates=True, store=tmp_path / "s")
    for res in (kept, stored):
        assert res.excluded == {"n_fragments": 0, "n_duplicates": 1}
        assert 7 not in set(res.i.tolist()) | set(res.j.tolist())
    assert kept.i.tolist() == stored.i.tolist() and kept.j.tolist() == stored.j.tolist()


def _counting(monkeypatch, name: str, fail_after: int | None = None) -> list[int]:
    """Count the calls of ``socm.core.mine.<name>`` (raising KeyboardInterrupt after
    ``fail_after`` of them)."""
    import socm.core.mine as core_mine

    calls: list[int] = []
    real = getattr(core_mine, name)

    def counted(*args, **kwargs):
        if fail_after is not None and len(calls) >= fail_after:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(core_mine, name, counted)
    return calls


def test_mine_in_a_store_resumes_its_search_and_scores(small_chunks, tmp_path, monkeypatch):
    import socm.store.scores as scores

    monkeypatch.setattr(scores, "SCORE_WINDOW", 32)  # ~4 windows of ~115 candidate pairs
    texts = Lazy(60, seed=3)
    whole = socm.mine(texts.materialise(), neighbors=3)
    store = tmp_path / "store"
    with monkeypatch.context() as m:
        _counting(m, "score_candidates", fail_after=2)
        with pytest.raises(KeyboardInterrupt):
            socm.mine(Lazy(60, seed=3), neighbors=3, store=store)
    assert len(list((store / "candidates").glob("*.npz"))) == 1
    assert len(list((store / "scores").glob("*.npz"))) == 2
    with monkeypatch.context() as m:
        searched, scored = _counting(m, "find_candidates"), _counting(m, "score_candidates")
        resumed = socm.mine(Lazy(60, seed=3), neighbors=3, store=store)
    n_windows = len(list((store / "scores").glob("*.npz")))
    assert n_windows >= 4 and (len(searched), len(scored)) == (0, n_windows - 2)
    np.testing.assert_array_equal(resumed.i, whole.i)
    np.testing.assert_array_equal(resumed.j, whole.j)
    for col in whole.columns:
        np.testing.assert_allclose(resumed.columns[col], whole.columns[col], rtol=0, atol=1e-12)
    with monkeypatch.context() as m:
        searched, scored = _counting(m, "find_candidates"), _counting(m, "score_candidates")
        again = socm.mine(Lazy(60, seed=3), neighbors=3, store=store)
    assert (len(searched), len(scored)) == (0, 0)  # a rerun reads every stage back
    np.testing.assert_array_equal(again.socm, resumed.socm)
    with monkeypatch.context() as m:  # other options: searched and scored again
        searched, scored = _counting(m, "find_candidates"), _counting(m, "score_candidates")
        fewer = socm.mine(Lazy(60, seed=3), neighbors=3, min_tokens=8, store=store)
    assert len(searched) == 1 and len(scored) >= 1
    ref = socm.mine(texts.materialise(), neighbors=3, min_tokens=8)
    assert fewer.excluded == ref.excluded and fewer.excluded["n_fragments"] > 0
    np.testing.assert_array_equal(fewer.i, ref.i)
    np.testing.assert_array_equal(fewer.j, ref.j)
