"""Neighbour search: what ``search="auto"`` runs, and the estimate it decides by."""

from __future__ import annotations

import numpy as np
import pytest

import socm.core.neighbors as neighbors
from socm.core.neighbors import auto_method, exact_search_seconds, nearest_neighbors


def test_auto_runs_exact_within_the_limit_and_hnsw_beyond(rng, monkeypatch):
    pytest.importorskip("faiss")
    means = rng.normal(size=(300, 16))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    assert auto_method(means, "cpu")[0] == "exact"
    _, _, info = nearest_neighbors(means, 3, "auto", device="cpu")
    assert info["method"] == "exact" and info["auto"]["limit_s"] == neighbors.AUTO_EXACT_SECONDS
    monkeypatch.setattr(neighbors, "AUTO_EXACT_SECONDS", 0.0)
    method, estimate = auto_method(means, "cpu")
    assert method == "hnsw" and estimate > 0
    _, _, info = nearest_neighbors(means, 3, "auto", device="cpu")
    assert info["method"] == "hnsw" and not info["exact"] and "recall" in str(info)


def test_the_estimate_times_the_block_dtype_asked_for(rng):
    means = rng.normal(size=(2000, 64))
    for dtype in ("auto", "float64", "float32"):
        assert 0 < exact_search_seconds(means, "cpu", block_dtype=dtype) < 60


def test_float32_blocks_in_column_chunks_find_the_float64_neighbours(rng, monkeypatch):
    """On the CPU float32 blocks convert the means a chunk of texts at a time (no float32
    copy of all of them): with chunks of 7 texts the neighbours and their float64 cosines are
    those of the float64 search."""
    means = rng.normal(size=(300, 16)) + 0.5
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    want_idx, want_cos, _ = nearest_neighbors(
        means, 5, "exact", device="cpu", block_dtype="float64"
    )
    monkeypatch.setattr(neighbors, "CONVERT_CHUNK_TEXTS", 7)
    calls = []
    scores = neighbors._scores
    monkeypatch.setattr(neighbors, "_scores", lambda *a: calls.append(1) or scores(*a))
    idx, cos, _ = nearest_neighbors(
        means, 5, "exact", device="cpu", block_dtype="float32", block_bytes=16 * 300 * 4
    )
    assert len(calls) > 1  # several row blocks, each in chunks of 7 texts
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(cos, want_cos)


@pytest.mark.parametrize("method", ["exact", "faiss", "hnsw"])
def test_a_subset_is_searched_as_if_its_means_were_copied_out(rng, method):
    """``searched=`` gives the results of searching ``means[searched]`` (rows and neighbours
    numbered within it): exactly for the exact methods, and for HNSW on texts so few that its
    shortlists hold every neighbour."""
    if method != "exact":
        pytest.importorskip("faiss")
    means = rng.normal(size=(300, 16)) + 0.3
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    means[7] = means[3]  # a duplicate left out: it would be text 3's nearest
    searched = np.setdiff1d(np.arange(300), [0, 7, 150, 299])
    want_idx, want_cos, _ = nearest_neighbors(means[searched], 5, "exact", device="cpu")
    idx, cos, info = nearest_neighbors(means, 5, method, device="cpu", searched=searched)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(cos, want_cos)
    if method == "hnsw":
        assert info["recall"] == 1.0
    with pytest.raises(ValueError, match="increasing text indices below N = 300"):
        nearest_neighbors(means, 5, method, searched=searched[::-1])
    with pytest.raises(ValueError, match="integer text indices, got dtype float64"):
        nearest_neighbors(means, 5, method, searched=[1.5, 2.5, 7.0])
    with pytest.raises(ValueError, match="1 <= k < N = 3"):
        nearest_neighbors(means, 3, method, searched=[1, 2, 3])


def test_texts_left_out_of_a_mine_search_cost_no_copy_of_the_means(rng):
    import tracemalloc

    from socm.core.mine import MineOptions, find_candidates

    means = rng.normal(size=(12_000, 128))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    eligible = np.ones(len(means), dtype=bool)
    eligible[::1000] = False  # a fragment or a duplicate now and then
    opts = MineOptions(neighbors=3, search="exact", random_pairs=1000)
    opts = opts.replace(search_options={"block_bytes": 4 << 20})
    tracemalloc.start()
    try:
        cand = find_candidates(means, opts, "cpu", eligible=eligible)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < means.nbytes / 2  # the 12 MB of means were copied for the search before
    assert not np.isin(np.flatnonzero(~eligible), np.concatenate([cand.i, cand.j])).any()


def test_a_subset_picks_its_block_dtype_by_the_texts_searched(rng, monkeypatch):
    means = rng.normal(size=(300, 16))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    monkeypatch.setattr(neighbors, "AUTO_EXACT_MAX", 298)  # float32 blocks above 298 texts
    searched = np.arange(2, 298)
    _, _, copy = nearest_neighbors(means[searched], 3, "exact", device="cpu")
    _, _, sub = nearest_neighbors(means, 3, "exact", device="cpu", searched=searched)
    _, _, every = nearest_neighbors(means, 3, "exact", device="cpu")
    assert copy["block_dtype"] == sub["block_dtype"] == "float64"
    assert every["block_dtype"] == "float32"
