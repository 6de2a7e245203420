"""The batched pair engine against the single-pair functions and the textbook route."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from conftest import random_tokens

import socm
from socm.core.pairs import all_pairs_index, iter_pairwise_between, resolve_device
from socm.core.reference import textbook_d_sigma, textbook_paper_d_sigma


@pytest.fixture
def texts(rng) -> list[np.ndarray]:
    # lengths 1..140 (n = 1, n > D included), D = 32
    lengths = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 140, 4, 4, 30, 31, 7]
    return [random_tokens(rng, n, 32, rank=int(rng.integers(3, 32))) for n in lengths]


def test_all_pairs_order_and_values(texts):
    res = socm.pairwise(texts)
    combos = list(itertools.combinations(range(len(texts)), 2))
    assert res.i.dtype == np.int64 and res.d_sigma.dtype == np.float64
    assert list(zip(res.i.tolist(), res.j.tolist(), strict=True)) == combos
    for p, (a, b) in enumerate(combos):
        assert res.d_mu[p] == pytest.approx(socm.d_mu(texts[a], texts[b]), abs=1e-12)
        assert res.d_sigma[p] == pytest.approx(socm.d_sigma(texts[a], texts[b]), abs=1e-10)
        assert res.socm[p] == pytest.approx(socm.socm(texts[a], texts[b]), abs=1e-10)


def test_against_textbook(texts):
    res = socm.pairwise(texts)
    for p in range(0, len(res), 7):
        ref = textbook_d_sigma(texts[res.i[p]], texts[res.j[p]])
        assert abs(res.d_sigma[p] - ref) <= 1e-6


@pytest.mark.parametrize("numerics", ["exact", "paper"])
def test_listed_pairs_match_all_pairs(texts, numerics, rng):
    full = socm.pairwise(texts, numerics=numerics)
    order = rng.permutation(len(full))
    pairs = np.stack([full.i[order], full.j[order]], axis=1)
    listed = socm.pairwise(texts, pairs=pairs, numerics=numerics)
    np.testing.assert_array_equal(listed.i, full.i[order])
    np.testing.assert_allclose(listed.d_sigma, full.d_sigma[order], atol=1e-10)
    np.testing.assert_allclose(listed.socm, full.socm[order], atol=1e-10)


def test_paper_mode_pairs_respect_first_text(texts):
    pairs = np.array([[3, 9], [9, 3], [10, 0], [0, 10], [5, 5]])
    res = socm.pairwise(texts, pairs=pairs, numerics="paper")
    for p, (a, b) in enumerate(pairs):
        assert res.d_sigma[p] == pytest.approx(socm.d_sigma(texts[a], texts[b], "paper"), abs=1e-10)
        assert abs(res.d_sigma[p] - textbook_paper_d_sigma(texts[a], texts[b])) <= 2e-4
    full = socm.pairwise(texts, numerics="paper")  # all-pairs: first text = lower index
    for p in range(0, len(full), 11):
        a, b = full.i[p], full.j[p]
        assert full.d_sigma[p] == pytest.approx(
            socm.d_sigma(texts[a], texts[b], "paper"), abs=1e-10
        )


@pytest.mark.parametrize("numerics", ["exact", "paper"])
def test_between_two_sets_matches_listed_pairs_on_the_union(numerics, rng):
    # texts of rank 0 (one token) and 1 (two tokens), n > D, and more than one group per side
    # (groups hold at most 64 texts): A has 70 texts, B 12
    lengths_a = [1, 2, 1, 2, 3, 40, *rng.integers(1, 30, 64).tolist()]
    lengths_b = [2, 1, 5, 17, 33, 1, 2, 9, 4, 26, 3, 12]
    a = [random_tokens(rng, n, 16, rank=int(rng.integers(2, 16))) for n in lengths_a]
    b = [random_tokens(rng, n, 16, rank=int(rng.integers(2, 16))) for n in lengths_b]
    assert {socm.token_stats(t).rank for t in a + b} >= {0, 1, 15}
    tiles = list(iter_pairwise_between(a, b, numerics=numerics, device="cpu"))
    assert len(tiles) > 1  # several tiles: A spans two groups
    got = {f: np.concatenate([getattr(t, f) for t in tiles]) for f in tiles[0].fields}
    assert got["i"].dtype == np.int64 and got["j"].dtype == np.int64
    # i indexes A and j indexes B: every one of the 70 x 12 pairs exactly once
    seen = sorted(zip(got["i"].tolist(), got["j"].tolist(), strict=True))
    assert seen == list(itertools.product(range(len(a)), range(len(b))))
    # the text from A is the first text of its pair (the paper's numerics are asymmetric)
    pairs = np.stack([got["i"], got["j"] + len(a)], axis=1)
    ref = socm.pairwise([*a, *b], pairs=pairs, numerics=numerics, device="cpu")
    # exact numerics: a pair's cross-Gram comes out of another product on each route, and
    # fidelity_exact's accuracy target (atol 1e-9 in the fidelity) is 5e-10 in d_Sigma
    tol = 5e-10 if numerics == "exact" else 1e-12
    for f in ("d_mu", "d_sigma", "socm"):
        np.testing.assert_allclose(got[f], getattr(ref, f), rtol=0, atol=tol)
    if numerics == "paper":
        swapped = socm.pairwise([*a, *b], pairs=pairs[:, ::-1], numerics="paper", device="cpu")
        assert np.abs(swapped.d_sigma - got["d_sigma"]).max() > 1e-6


def test_between_empty_sides_and_bad_input(texts):
    assert list(iter_pairwise_between(texts[:3], [])) == []
    assert list(iter_pairwise_between([], texts[:3])) == []
    one = list(iter_pairwise_between(texts[:1], texts[1:2]))
    assert len(one) == 1 and one[0].i.tolist() == [0] and one[0].j.tolist() == [0]
    with pytest.raises(ValueError, match="text 1 of B has D=5 but text 0 of A has D=32"):
        list(iter_pairwise_between(texts[:2], [texts[2], np.ones((3, 5))]))
    with pytest.raises(ValueError, match="B: text 0: empty token list"):
        list(iter_pairwise_between(texts[:2], [np.zeros((0, 32))]))
    with pytest.raises(ValueError, match="numerics"):
        list(iter_pairwise_between(texts[:2], texts[2:4], numerics="fast"))


def test_batching_invariances(texts, rng):
    # zero-padding inside batches: a pair's value does not depend on its batch-mates
    base = socm.pairwise([texts[5], texts[9]]).d_sigma[0]  # ranks > 0: fidelity matters
    full = socm.pairwise(texts, pairs=[[5, 9]]).d_sigma[0]
    p = list(zip(*np.triu_indices(len(texts), 1), strict=True)).index((5, 9))
    assert full == pytest.approx(base, abs=1e-12)
    assert socm.pairwise(texts).d_sigma[p] == pytest.approx(base, abs=1e-12)
    # a common rotation of all texts, token order within texts
    q, _ = np.linalg.qr(rng.normal(size=(32, 32)))
    rotated = socm.pairwise([t[rng.permutation(len(t))] @ q for t in texts])
    np.testing.assert_allclose(rotated.d_sigma, socm.pairwise(texts).d_sigma, atol=1e-10)
    # identical texts
    res = socm.pairwise([texts[7], texts[7], texts[9]])
    assert abs(res.d_sigma[0]) <= 1e-12 and abs(res.d_mu[0]) <= 1e-15


def test_inputs_stats_and_torch(texts):
    stats = [socm.token_stats(t) for t in texts[:5]]
    tensors = [torch.from_numpy(t) for t in texts[:5]]
    a, b = socm.pairwise(stats), socm.pairwise(tensors, device="cpu")
    np.testing.assert_array_equal(a.socm, b.socm)
    assert len(a) == 10


def test_summary_and_empty(texts):
    res = socm.pairwise(texts[:4])
    s = res.summary()
    assert s["n_pairs"] == 6 and s["avg_socm"] == pytest.approx(res.socm.mean())
    assert len(socm.pairwise(texts[:1])) == 0
    assert len(socm.pairwise(texts, pairs=np.zeros((0, 2), dtype=int))) == 0


def test_summary_of_a_result_scored_before_a_column_was_registered(texts, request):
    res = socm.pairwise(texts[:4])
    request.getfixturevalue("cosine_column")  # registered after the scoring
    s = res.summary()
    assert s["avg_socm"] == pytest.approx(res.socm.mean()) and "avg_cosine" not in s
    assert "avg_cosine" in socm.pairwise(texts[:4]).summary()


def test_all_pairs_index():
    i, j = all_pairs_index(5)
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == list(
        itertools.combinations(range(5), 2)
    )


def test_bad_input(texts):
    with pytest.raises(ValueError, match=r"pairs\[1\] = \(2, 16\) is out of range for 16 texts"):
        socm.pairwise(texts, pairs=[[0, 1], [2, 16]])
    with pytest.raises(ValueError, match="shape"):
        socm.pairwise(texts, pairs=[0, 1, 2])
    with pytest.raises(ValueError, match="integer"):
        socm.pairwise(texts, pairs=[[0.0, 1.0]])
    with pytest.raises(ValueError, match="text 2 has D=5 but text 0 has D=32"):
        socm.pairwise([texts[0], texts[1], np.ones((3, 5))])
    with pytest.raises(ValueError, match="text 1: token row 1 contains NaN"):
        socm.pairwise([texts[0], np.array([[1.0] * 32, [np.nan] * 32])])
    with pytest.raises(ValueError, match="text 0: empty token list"):
        socm.pairwise([np.zeros((0, 32)), texts[0]])
    with pytest.raises(ValueError, match="zero vector"):
        socm.pairwise([texts[0], np.stack([np.ones(32), -np.ones(32)])])
    with pytest.raises(ValueError, match="MPS"):
        resolve_device("mps")


def test_unavailable_devices_are_refused_in_one_line(rng):
    import torch

    toks = [random_tokens(rng, 5, 8) for _ in range(3)]
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            socm.pairwise(toks, device="cuda")
    with pytest.raises(ValueError, match="unknown device"):
        socm.pairwise(toks, device="gpu7")
