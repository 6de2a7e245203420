"""Per-text statistics: normalisation, covariance factor, normalised spread, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import random_tokens

import socm
from socm.core.stats import token_stats


def dense_cov(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = x.mean(0)
    xt = x / np.linalg.norm(mu)
    c = xt - xt.mean(0)
    return xt.mean(0), c.T @ c / len(x)


@pytest.mark.parametrize(("n", "dim"), [(1, 5), (2, 5), (7, 5), (30, 16), (40, 300)])
def test_factor_reproduces_covariance(rng, n, dim):
    x = random_tokens(rng, n, dim)
    st = token_stats(x)
    mean, cov = dense_cov(x)
    np.testing.assert_allclose(st.mean, mean, atol=1e-12)
    np.testing.assert_allclose(st.factor.T @ st.factor, cov, atol=1e-12)
    assert st.trace == pytest.approx(np.trace(cov), abs=1e-12)
    assert np.linalg.norm(st.mean) == pytest.approx(1.0, abs=1e-12)
    assert st.rank <= min(n - 1, dim)
    assert st.n_tokens == n and st.dim == dim


def test_normalized_spread_analytic():
    # tokens (1, ±a): mean (1, 0), spread a^2 per token -> tr Σ = a^2
    a = 0.7
    x = np.array([[1.0, a], [1.0, -a]])
    assert socm.normalized_spread(x) == pytest.approx(a**2, abs=1e-15)
    # scaling X by c > 0 leaves the normalised spread unchanged
    assert socm.normalized_spread(3.5 * x) == pytest.approx(a**2, abs=1e-14)
    # the definition S(X)/||mu||^2 on raw tokens
    y = x * 2 + np.array([0.5, 0.0])
    s_raw = np.mean(np.sum((y - y.mean(0)) ** 2, axis=1))
    assert socm.normalized_spread(y) == pytest.approx(s_raw / np.sum(y.mean(0) ** 2), rel=1e-14)


def test_accepts_torch_and_stats(rng):
    x = random_tokens(rng, 9, 6)
    st = token_stats(torch.from_numpy(x).float())
    assert st.trace == pytest.approx(token_stats(x.astype(np.float32)).trace, rel=1e-12)
    assert socm.normalized_spread(st) == st.trace
    assert "TokenStats(n_tokens=9" in repr(st)


def test_rank_of_centred_tokens(rng):
    x = random_tokens(rng, 12, 50)
    assert token_stats(x).rank == 11  # centring removes one dimension
    assert token_stats(random_tokens(rng, 80, 10)).rank == 10


@pytest.mark.parametrize(
    ("x", "msg"),
    [
        (np.zeros((0, 4)), "empty token list"),
        (np.array([[1.0, np.nan], [1.0, 2.0]]), "token row 0 contains NaN or inf"),
        (np.array([[1.0, 2.0], [1.0, np.inf]]), "token row 1 contains NaN or inf"),
        (np.array([[1.0, 2.0], [-1.0, -2.0]]), "mean of the token embeddings is the zero vector"),
        (np.ones(4), "expected a 2-D"),
        (np.ones((3, 0)), "0 dimensions"),
    ],
)
def test_bad_input(x, msg):
    with pytest.raises(ValueError, match=msg):
        token_stats(x, where="text 7")
    with pytest.raises(ValueError, match="text 7"):
        token_stats(x, where="text 7")


def test_batched_spread_and_cosine_match_definitions(rng):
    from socm.core.stats import avg_cosine, spread_and_cosine

    texts = [random_tokens(rng, n, 12) for n in (1, 4, 9)]
    t = max(len(x) for x in texts)
    h = torch.zeros(3, t, 12, dtype=torch.float64)
    keep = torch.zeros(3, t, dtype=torch.bool)
    for b, x in enumerate(texts):
        h[b, : len(x)] = torch.from_numpy(x)
        keep[b, : len(x)] = True
        h[b, len(x) :] = 99.0  # padding must not count
    spread, cos = spread_and_cosine(h, keep)
    for b, x in enumerate(texts):
        assert float(spread[b]) == pytest.approx(socm.normalized_spread(x), abs=1e-12)
        u = x / np.linalg.norm(x, axis=1, keepdims=True)
        assert float(cos[b]) == pytest.approx((u @ u.T).mean(), abs=1e-12)
        assert avg_cosine(x) == pytest.approx((u @ u.T).mean(), abs=1e-12)
    assert avg_cosine(np.ones((3, 2))) == pytest.approx(1.0)


@pytest.mark.parametrize("factor", [1e200, 1e-200, 2.0**600])
def test_any_finite_scale_works(rng, factor):
    """SOCM is scale-invariant; huge or tiny token values must neither overflow nor underflow."""
    a, b = random_tokens(rng, 12, 16), random_tokens(rng, 20, 16)
    ref = socm.socm(a, b)
    assert 0 < ref and socm.socm(a * factor, b * factor) == pytest.approx(ref, rel=1e-12)
    st = socm.token_stats(a * factor)
    assert st.trace == pytest.approx(socm.token_stats(a).trace, rel=1e-12)
