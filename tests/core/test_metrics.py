"""d_μ, d_Σ and SOCM for one pair: analytic cases, the textbook route, properties, bad input.

Tolerances: the issue requires |error| <= 1e-6 against a float64 textbook computation in exact
mode and <= 2e-4 against the published formula in paper mode. Where the textbook route itself
is accurate (it loses digits for identical texts) the tests use the required bounds; properties
that hold to rounding use 1e-12.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import random_tokens

import socm
from socm.core.metrics import PAPER_EPS, fidelity_exact, fidelity_paper
from socm.core.reference import textbook_d_mu, textbook_d_sigma, textbook_paper_d_sigma


def tokens_with_cov(mean_dir: np.ndarray, variances: list[float]) -> np.ndarray:
    """Tokens mean_dir ± sqrt(K v_k) e_k (K variances): unit mean mean_dir, covariance diag(v)."""
    dim = mean_dir.shape[0]
    rows = []
    for k, v in enumerate(variances):
        e = np.zeros(dim)
        e[k] = math.sqrt(len(variances) * v)
        rows += [mean_dir + e, mean_dir - e]
    return np.array(rows)


def test_analytic_commuting_covariances():
    # BW^2(diag(4, 9), diag(1, 16)) = (2 - 1)^2 + (3 - 4)^2 = 2
    e3 = np.array([0.0, 0.0, 1.0])
    a = tokens_with_cov(e3, [4.0, 9.0])
    b = tokens_with_cov(e3, [1.0, 16.0])
    assert socm.normalized_spread(a) == pytest.approx(13.0, abs=1e-12)
    assert socm.d_sigma(a, b) == pytest.approx(2.0 / 4, abs=1e-12)
    assert socm.d_mu(a, b) == pytest.approx(0.0, abs=1e-15)
    assert socm.socm(a, b) == pytest.approx(0.5, abs=1e-12)
    # d_Σ > 1 is legitimate and kept: BW^2(diag(25, 0), diag(0, 25)) = 50 -> d_Σ = 12.5
    c = tokens_with_cov(e3, [25.0, 0.0])
    d = tokens_with_cov(e3, [0.0, 25.0])
    assert socm.d_sigma(c, d) == pytest.approx(12.5, abs=1e-10)
    assert socm.socm(c, d) == pytest.approx(12.5, abs=1e-10)


def test_analytic_non_commuting_2x2():
    # BW^2(A, B) with A = diag(1, 0) (rank 1) and B = the same rotated by 90°: tr A + tr B = 2,
    # A^1/2 B A^1/2 = 0 -> BW^2 = 2; rotated by 45°: fidelity = |cos 45°| = 1/sqrt(2).
    e3 = np.array([0.0, 0.0, 1.0])
    a = tokens_with_cov(e3, [1.0])
    rot = np.array(
        [
            [np.cos(np.pi / 4), -np.sin(np.pi / 4), 0],
            [np.sin(np.pi / 4), np.cos(np.pi / 4), 0],
            [0, 0, 1],
        ]
    )
    b = a @ rot.T
    assert socm.d_sigma(a, b) == pytest.approx((2 - 2 / math.sqrt(2)) / 4, abs=1e-12)


def test_analytic_means():
    e1, e2 = np.eye(2)
    assert socm.d_mu(e1[None], e2[None]) == pytest.approx(0.5, abs=1e-15)
    assert socm.d_mu(e1[None], -e1[None]) == pytest.approx(1.0, abs=1e-15)
    assert socm.d_mu(e1[None], 5 * e1[None]) == pytest.approx(0.0, abs=1e-15)
    # single tokens have zero covariance: d_Σ = 0
    assert socm.d_sigma(e1[None], e2[None]) == 0.0


def test_fidelity_kernels_on_known_matrices():
    m = torch.tensor([[[3.0, 0.0], [0.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)
    np.testing.assert_allclose(fidelity_exact(m).numpy(), [7.0, 0.0], atol=1e-14)
    # rectangular, with zero padding rows and columns
    m2 = torch.zeros(1, 4, 6, dtype=torch.float64)
    m2[0, :2, :2] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert float(fidelity_exact(m2)[0]) == pytest.approx(np.linalg.svd([[1, 2], [3, 4]])[1].sum())
    # paper: G2 = 0, M = 0 -> sum sqrt(eps) over all D eigenvalues
    z = torch.zeros(1, 2, 3, dtype=torch.float64)
    assert float(fidelity_paper(z, torch.zeros(1, 3, 3, dtype=torch.float64), dim=10)[0]) == (
        pytest.approx(10 * math.sqrt(PAPER_EPS), rel=1e-12)
    )


def test_fidelity_exact_falls_back_for_tiny_singular_values():
    # singular values spanning 16 orders of magnitude: the Gram route cannot resolve the small
    # ones, the guard must detect it and the result must still be exact.
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    v, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    s = np.array([1.0, 1e-3, 1e-6, 1e-9, 1e-12, 1e-15])
    m = torch.from_numpy((u * s) @ v.T)[None]
    assert float(fidelity_exact(m)[0]) == pytest.approx(s.sum(), abs=1e-14)


CASES = [
    (1, 1, 8),
    (1, 6, 8),
    (2, 3, 8),
    (5, 12, 64),
    (30, 17, 64),
    (40, 40, 384),
    (100, 9, 8),
    (128, 70, 384),
    (512, 3, 1024),
    (26, 40, 1024),
]


@pytest.mark.parametrize(("n1", "n2", "dim"), CASES)
def test_exact_matches_textbook(n1, n2, dim):
    rng = np.random.default_rng(n1 * 1000 + n2 + dim)
    x1 = random_tokens(rng, n1, dim, rank=min(dim, 20))
    x2 = random_tokens(rng, n2, dim)
    # required: 1e-6; the engine is within ~1e-8 of this textbook route on these cases
    assert abs(socm.d_sigma(x1, x2) - textbook_d_sigma(x1, x2)) <= 1e-7
    assert abs(socm.d_mu(x1, x2) - textbook_d_mu(x1, x2)) <= 1e-12


@pytest.mark.parametrize(("n1", "n2", "dim"), CASES[:8])
def test_paper_matches_published_formula(n1, n2, dim):
    rng = np.random.default_rng(n1 + 7 * n2 + dim)
    x1 = random_tokens(rng, n1, dim)
    x2 = random_tokens(rng, n2, dim, rank=5)
    ours = socm.d_sigma(x1, x2, numerics="paper")
    # the original float32 code, on realistic spreads (tr Σ of a few units); with very large
    # spreads or ill-conditioned covariances float32 itself drifts from its formula by >2e-4
    assert abs(ours - textbook_paper_d_sigma(x1, x2)) <= 2e-4
    assert abs(ours - textbook_paper_d_sigma(x1, x2, dtype=torch.float64)) <= 1e-7


def test_paper_bias_is_the_documented_one(rng):
    # exact - paper ≈ (D - r) sqrt(eps) / 2, r = min rank = rank of A^1/2 B A^1/2: each of its
    # D - r zero eigenvalues becomes about sqrt(eps) under the root
    dim = 384
    x1, x2 = random_tokens(rng, 20, dim), random_tokens(rng, 30, dim)
    bias = socm.d_sigma(x1, x2) - socm.d_sigma(x1, x2, numerics="paper")
    r = min(socm.token_stats(x1).rank, socm.token_stats(x2).rank)
    assert bias == pytest.approx((dim - r) * math.sqrt(PAPER_EPS) / 2, rel=1e-2)
    assert bias == pytest.approx(0.006, abs=0.0005)


def test_identical_and_symmetric(rng):
    x1, x2 = random_tokens(rng, 25, 384), random_tokens(rng, 40, 384)
    assert abs(socm.d_sigma(x1, x1)) <= 1e-12
    assert socm.socm(x1, x1) <= 1e-12
    assert socm.d_sigma(x1, x2) == pytest.approx(socm.d_sigma(x2, x1), abs=1e-12)
    assert socm.d_mu(x1, x2) == pytest.approx(socm.d_mu(x2, x1), abs=1e-15)
    # paper numerics are not symmetric (root of the first covariance) but close
    assert socm.d_sigma(x1, x2, "paper") == pytest.approx(socm.d_sigma(x2, x1, "paper"), abs=1e-3)


def test_invariances(rng):
    dim = 48
    x1, x2 = random_tokens(rng, 15, dim), random_tokens(rng, 22, dim)
    ref = (socm.d_mu(x1, x2), socm.d_sigma(x1, x2), socm.socm(x1, x2))
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    perm1, perm2 = rng.permutation(15), rng.permutation(22)
    for a, b in [(x1 @ q, x2 @ q), (x1[perm1], x2[perm2]), (2.5 * x1, 0.3 * x2)]:
        got = (socm.d_mu(a, b), socm.d_sigma(a, b), socm.socm(a, b))
        np.testing.assert_allclose(got, ref, atol=1e-12)


def test_socm_range_against_textbook(rng):
    # the range [0, max(1, d_Σ)] checked on textbook values, with spreads both below and above
    # the trace bound (d_Σ > 1 must be kept, not clipped)
    seen_over_1 = False
    for _ in range(12):
        dim = int(rng.integers(2, 30))
        x1 = random_tokens(rng, int(rng.integers(1, 25)), dim) * rng.uniform(0.1, 5)
        x2 = random_tokens(rng, int(rng.integers(1, 25)), dim)
        x2 = x2 + rng.normal(size=x2.shape) * rng.uniform(0, 8)
        ds, dm = textbook_d_sigma(x1, x2), textbook_d_mu(x1, x2)
        s = socm.socm(x1, x2)
        assert abs(s - (1 - dm) * ds) <= 1e-7
        assert 0.0 <= s <= max(1.0, ds) + 1e-7
        seen_over_1 |= ds > 1
    assert seen_over_1


def test_rank_keeps_small_but_real_directions():
    # variances 1, 1e-12, 1e-20 (singular values 1, 1e-6, 1e-10 relative): all real, all kept
    e = np.eye(4)
    x = np.array(
        [e[3] + a * e[k] * sign for k, a in enumerate([1.0, 1e-6, 1e-10]) for sign in (1, -1)]
    )
    st = socm.token_stats(x)
    assert st.rank == 3
    y = x.copy()
    y[:, :3] = y[:, :3] @ np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    # commuting covariances diag(v) and diag(v2, v0, v1): BW^2 = sum (sqrt v - sqrt v')^2, where
    # the tiny directions contribute at the 1e-10 level
    r = np.array([1.0, 1e-6, 1e-10]) / np.sqrt(3)  # standard deviations a_k / sqrt(3)
    expected = ((r[0] - r[2]) ** 2 + (r[1] - r[0]) ** 2 + (r[2] - r[1]) ** 2) / 4
    assert socm.d_sigma(x, y) == pytest.approx(expected, abs=1e-14)


def test_fidelity_fast_path_is_accurate_on_graded_spectra():
    # geometric singular-value spectra: the Gram route alone errs by up to ~4e-9 here; the
    # guard must send those matrices to the SVD route (agreement to 1e-11)
    rng = np.random.default_rng(7)
    mats, ref = [], []
    for k in range(300):
        p, q = int(rng.integers(2, 40)), int(rng.integers(2, 40))
        r = min(p, q)
        u, _ = np.linalg.qr(rng.normal(size=(p, r)))
        v, _ = np.linalg.qr(rng.normal(size=(q, r)))
        s = np.geomspace(1, 10.0 ** -rng.uniform(2, 14), r) * rng.uniform(0.1, 10)
        mats.append((u * s) @ v.T)
        ref.append(s.sum())
        got = float(fidelity_exact(torch.from_numpy(mats[-1])[None])[0])
        assert abs(got - ref[-1]) <= 1e-11 * max(1.0, ref[-1]), (k, got - ref[-1])


def test_fidelity_of_a_tile_view_on_the_cpu_lapack_route(rng):
    # matrices of CPU_EVR_MIN rows and more (dsyrk + dsyevr per matrix), given as the strided
    # (na, nb, ka, kb) view of one product the all-pairs engine passes, with padding rows
    from socm.core.metrics import CPU_EVR_MIN

    ka, kb, dim = CPU_EVR_MIN + 4, CPU_EVR_MIN + 10, 3 * CPU_EVR_MIN
    fa = torch.from_numpy(rng.normal(size=(2, ka, dim)) / dim)
    fb = torch.from_numpy(rng.normal(size=(3, kb, dim)) / dim)
    fa[1, -7:] = 0.0  # a shorter text, zero-padded
    view = (fa.reshape(-1, dim) @ fb.reshape(-1, dim).T).view(2, ka, 3, kb).permute(0, 2, 1, 3)
    assert not view.is_contiguous()
    got = fidelity_exact(view)
    assert got.shape == (2, 3)
    for a in range(2):
        for b in range(3):
            ref = np.linalg.svd((fa[a] @ fb[b].T).numpy(), compute_uv=False).sum()
            assert abs(float(got[a, b]) - ref) <= 1e-12 * ref
    # the same values as on a contiguous copy
    flat = fidelity_exact(view.reshape(-1, ka, kb)).reshape(2, 3)
    np.testing.assert_allclose(got.numpy(), flat.numpy(), rtol=1e-13)


def test_stats_and_raw_give_same_values(rng):
    x1, x2 = random_tokens(rng, 10, 16), random_tokens(rng, 11, 16)
    s1, s2 = socm.token_stats(x1), socm.token_stats(x2)
    assert socm.socm(s1, s2) == socm.socm(x1, x2)
    assert socm.d_sigma(s1, torch.from_numpy(x2), "paper") == socm.d_sigma(x1, x2, "paper")


def test_bad_input(rng):
    with pytest.raises(ValueError, match="dimension mismatch: first text has D=4, second has D=5"):
        socm.d_sigma(np.ones((3, 4)), np.ones((3, 5)))
    with pytest.raises(ValueError, match="numerics must be one of"):
        socm.socm(np.ones((2, 2)), np.ones((2, 2)), numerics="fast")
    with pytest.raises(ValueError, match="second text: empty token list"):
        socm.d_mu(np.ones((2, 2)), np.ones((0, 2)))


def test_eigvalsh_in_threads_is_one_call_bit_for_bit():
    """The CPU route of batched_eigvalsh for large matrices on CUDA: slices on threads give
    what one batched call gives, matrix by matrix."""
    from socm.core.metrics import batched_eigvalsh, eigvalsh_in_threads

    g = torch.Generator().manual_seed(0)
    a = torch.randn(300, 40, 40, generator=g, dtype=torch.float64)
    sym = a @ a.mT
    ref = torch.linalg.eigvalsh(sym)
    for threads in (1, 2, 3):
        assert torch.equal(eigvalsh_in_threads(sym, threads), ref)
    assert torch.equal(batched_eigvalsh(sym), ref)  # on the CPU: one call
    assert eigvalsh_in_threads(sym[:0]).shape == (0, 40)
