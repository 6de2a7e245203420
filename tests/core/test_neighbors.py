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
