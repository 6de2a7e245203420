"""A mine run's stages beside its store (MineCheckpoint): found once, read back after."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_tokens

from socm.core.mine import MineOptions, find_candidates
from socm.core.pairs import ScoreOptions, pairwise
from socm.core.stats import token_stats
from socm.errors import SocmWarning
from socm.store import MineCheckpoint, StatsStore


@pytest.fixture
def stats(rng):
    return [token_stats(random_tokens(rng, int(rng.integers(4, 12)), 10)) for _ in range(25)]


def run(store, stats, window=8, method=None, **changes):
    """One run through a checkpoint (``method``: what ``find`` reports having run); the
    numbers of searches and scored windows."""
    calls = {"find": 0, "score": 0}
    means = np.stack([s.mean for s in stats])
    opts = MineOptions(neighbors=3, search="exact").replace(**changes)

    def find():
        calls["find"] += 1
        cand = find_candidates(means, opts.replace(search="exact"), "cpu")
        cand.neighbor_info["method"] = method or cand.neighbor_info["method"]
        return cand

    def score(pairs):
        calls["score"] += 1
        return pairwise(stats, pairs)

    cp = MineCheckpoint(store, [f"t{k}" for k in range(len(stats))], window=window)
    cand = cp.candidates(find, opts)
    res = cp.scores(score, cand.pairs(), cand.n_texts, ScoreOptions())
    return cand, res, calls, cp


def test_a_rerun_reads_back_the_candidates_and_every_window(stats, tmp_path):
    store = StatsStore(tmp_path, {"model": "m"})
    cand, res, calls, cp = run(store, stats)
    assert calls["find"] == 1 and calls["score"] == cp.windows["n_windows"] > 1
    assert not cp.candidates_read_back
    back, again, calls, cp = run(store, stats)
    assert calls == {"find": 0, "score": 0} and cp.candidates_read_back
    assert back.neighbor_info["read_back"] and back.seconds < cand.seconds + 1
    np.testing.assert_array_equal(back.pairs(), cand.pairs())
    for name in res.columns:
        np.testing.assert_array_equal(again.columns[name], res.columns[name])
    ref = pairwise(stats, cand.pairs())
    np.testing.assert_allclose(res.columns["socm"], ref.columns["socm"], rtol=0, atol=1e-12)


def test_candidates_that_cannot_be_saved_are_kept_and_the_run_goes_on(stats, tmp_path):
    store = StatsStore(tmp_path, {"model": "m"})
    (tmp_path / "candidates").write_text("a file where the folder would be")
    with pytest.warns(SocmWarning, match="kept in memory only"):
        cand, res, calls, _ = run(store, stats)
    assert calls["find"] == 1 and len(res) == len(cand) > 0


def test_auto_reads_back_what_either_method_saved_and_scores_follow_the_pairs(stats, tmp_path):
    store = StatsStore(tmp_path, {"model": "m"})
    run(store, stats, search="auto", method="hnsw")  # auto picked HNSW that time
    _, _, calls, cp = run(store, stats, search="auto")  # whatever auto would pick now
    assert calls == {"find": 0, "score": 0} and cp.candidates_read_back
    _, _, calls, _ = run(store, stats, search="exact")  # exact asked for: not HNSW's
    assert calls["find"] == 1
    # another seed for the random pairs: searched again, the same pairs not scored again
    _, _, calls, cp = run(store, stats, seed=5)
    assert calls == {"find": 1, "score": 0} and cp.windows["read_back"] > 1
