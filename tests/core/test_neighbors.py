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
