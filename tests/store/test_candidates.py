"""A mine run's candidates beside its store: written once, read back whole, or ignored."""

from __future__ import annotations

import numpy as np
from conftest import random_tokens

from socm.core.mine import MineOptions, find_candidates
from socm.core.stats import token_stats
from socm.store import candidates_key, load_candidates, save_candidates, texts_key


def test_round_trip_and_a_damaged_file_is_ignored(rng, tmp_path):
    means = np.stack([token_stats(random_tokens(rng, 6, 12)).mean for _ in range(30)])
    opts = MineOptions(neighbors=3)
    cand = find_candidates(means, opts, "cpu")
    key = candidates_key(texts_key([f"t{k}" for k in range(30)], {"model": "m"}), opts, "auto")
    path = save_candidates(tmp_path, key, cand)
    back = load_candidates(tmp_path, key)
    for name in ("i", "j", "cosine", "rank_1", "rank_2", "random_cosines"):
        np.testing.assert_array_equal(getattr(back, name), getattr(cand, name))
    assert back.n_texts == 30 and back.neighbor_info["method"] == cand.neighbor_info["method"]
    assert back.excluded == cand.excluded
    path.write_bytes(path.read_bytes()[:-40])  # torn
    assert load_candidates(tmp_path, key) is None
    assert load_candidates(tmp_path, "other") is None


def test_the_key_covers_texts_order_search_and_encoder():
    opts = MineOptions(neighbors=3)
    ab = texts_key(["a", "b"], {"model": "m"})
    base = candidates_key(ab, opts, "auto")
    assert base == candidates_key(ab, opts, "auto")
    others = [
        candidates_key(texts_key(["b", "a"], {"model": "m"}), opts, "auto"),
        candidates_key(ab, opts.replace(neighbors=4), "auto"),
        candidates_key(ab, opts, "hnsw"),
        candidates_key(ab, opts.replace(seed=1), "auto"),
        candidates_key(texts_key(["a", "b"], {"model": "m", "layer": 3}), opts, "auto"),
        candidates_key(
            texts_key(["a", "b"], {}), opts.replace(search_options={"margin": 9}), "auto"
        ),
        candidates_key(ab, opts, "auto", np.array([True, False])),
    ]
    assert base not in others and len(set(others)) == len(others)
    every = np.array([True, True])  # every text searched: the key of no mask
    assert candidates_key(ab, opts, "auto", every) == base


def test_the_key_of_an_approximate_search_covers_its_algorithm_version(monkeypatch):
    import socm.store.candidates as saved

    opts = MineOptions(neighbors=3)
    ab = texts_key(["a", "b"], {"model": "m"})
    hnsw = candidates_key(ab, opts, "hnsw")
    exact = candidates_key(ab, opts, "exact")
    monkeypatch.setattr(saved, "HNSW_VERSION", saved.HNSW_VERSION + 1)
    assert candidates_key(ab, opts, "hnsw") != hnsw
    assert candidates_key(ab, opts, "exact") == exact
