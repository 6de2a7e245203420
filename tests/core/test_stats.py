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


# ------------------------------------------------------------------------------ reduce step
def reduce_cases(rng) -> list[np.ndarray]:
    """Every kind of text the statistics meet: one token, two, the Helmert route (n - 1 <= D),
    the SVD route (n - 1 > D), equal tokens (zero spread), low rank, huge and tiny scales."""
    cases = [random_tokens(rng, n, dim) for n, dim in [(1, 5), (2, 5), (7, 5), (30, 16), (40, 300)]]
    cases += [random_tokens(rng, 80, 10), random_tokens(rng, 12, 50), random_tokens(rng, 9, 6)]
    cases += [np.ones((4, 6)), random_tokens(rng, 25, 16, rank=3)]
    cases += [random_tokens(rng, 12, 16) * f for f in (1e200, 1e-200, 2.0**600)]
    cases += [np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0]]), np.array([[1.0, 0.7], [1.0, -0.7]])]
    return cases


def assert_same_stats(got, ref, atol=1e-12) -> None:
    """Equal statistics: the invariants, and the factor itself where it is unique (Helmert)."""
    assert (got.n_tokens, got.rank, got.dim) == (ref.n_tokens, ref.rank, ref.dim)
    np.testing.assert_allclose(got.mean, ref.mean, rtol=0, atol=atol)
    assert got.trace == pytest.approx(ref.trace, rel=atol, abs=atol)
    assert got.mean_norm == pytest.approx(ref.mean_norm, rel=atol)
    np.testing.assert_allclose(
        got.factor.T @ got.factor, ref.factor.T @ ref.factor, rtol=0, atol=atol
    )
    if got.n_tokens - 1 <= got.dim:
        np.testing.assert_allclose(got.factor, ref.factor, rtol=0, atol=atol)


def test_reduce_step_equals_the_per_text_numpy_route(rng):
    """The batched torch reduce step against the per-text NumPy implementation it replaced
    (kept in ``socm.core.reference``): within 1e-12 on every case, one at a time and padded
    together in one batch."""
    from socm.core.reference import numpy_token_stats
    from socm.core.stats import reduce_many

    cases = reduce_cases(rng)
    refs = [numpy_token_stats(x) for x in cases]
    for x, ref in zip(cases, refs, strict=True):
        assert_same_stats(token_stats(x), ref)
    same_dim = [k for k, x in enumerate(cases) if x.shape[1] == 16]
    together = reduce_many([cases[k] for k in same_dim], batch_bytes=1 << 30)
    for k, got in zip(same_dim, together, strict=True):
        assert_same_stats(got, refs[k])


def test_reduce_step_is_independent_of_the_batch_bit_for_bit(rng):
    """A text's statistics do not depend on the texts it is reduced with (padding, batch
    size), nor on where its kept tokens sit in its row: the run and ``socm.mine`` on the same
    embeddings agree exactly."""
    from socm.core.stats import reduce_batch, reduce_many

    texts = [random_tokens(rng, int(rng.integers(1, 90)), 32) for _ in range(40)]
    alone = [token_stats(x) for x in texts]
    for batch_bytes in (1 << 12, 1 << 16, 1 << 30):
        for got, ref in zip(reduce_many(texts, batch_bytes=batch_bytes), alone, strict=True):
            assert np.array_equal(got.factor, ref.factor) and got.trace == ref.trace
            assert np.array_equal(got.mean, ref.mean) and got.mean_norm == ref.mean_norm
    # left padding, excluded positions in the middle and garbage in every dropped position
    t = 100
    hidden = torch.full((len(texts), t, 32), 7.0, dtype=torch.float32)
    keep = torch.zeros(len(texts), t, dtype=torch.bool)
    for b, x in enumerate(texts):
        pos = np.sort(rng.choice(t, size=len(x), replace=False))
        hidden[b, pos] = torch.from_numpy(x).float()
        keep[b, pos] = True
    ref32 = [token_stats(x.astype(np.float32)) for x in texts]
    for got, ref in zip(reduce_batch(hidden, keep), ref32, strict=True):
        assert np.array_equal(got.factor, ref.factor) and got.trace == ref.trace


def test_top_token_share_analytic_and_against_the_definition(rng):
    """Three equal tokens and one displaced by a: distances to the mean a/4 (three times)
    and 3a/4, so the displaced token holds 9 / (9 + 3) = 3/4 of the spread; two tokens hold
    1/2 each; one token or a zero spread has none (NaN)."""
    a = 5.0
    x = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, a]])
    assert token_stats(x).top_token_share == pytest.approx(0.75, abs=1e-15)
    assert token_stats(3.0 * x[[0, 3]]).top_token_share == pytest.approx(0.5, abs=1e-15)
    assert np.isnan(token_stats(x[:1]).top_token_share)
    assert np.isnan(token_stats(x[:3]).top_token_share)
    # a sink: one token 1000 times the others' size carries (n - 1)/n of the spread
    sink = random_tokens(rng, 12, 16)
    sink[0] *= 1000.0
    assert token_stats(sink).top_token_share > 11 / 12 - 1e-3
    for n in (2, 5, 40):
        y = random_tokens(rng, n, 16)
        xt = y / np.linalg.norm(y.mean(0))
        d2 = ((xt - xt.mean(0)) ** 2).sum(1)
        got = token_stats(y).top_token_share
        assert got == pytest.approx(d2.max() / d2.sum(), rel=1e-12)
        assert 1 / n - 1e-12 <= got <= 1.0


def test_reduce_step_names_the_text_in_errors(rng):
    from socm.core.stats import reduce_batch

    hidden = torch.ones(2, 3, 4)
    keep = torch.tensor([[True, True, False], [False, False, False]])
    with pytest.raises(ValueError, match="^doc-b: empty token list"):
        reduce_batch(hidden, keep, ["doc-a", "doc-b"])
    hidden[0, 1, 2] = float("nan")
    keep[1, 0] = True
    with pytest.raises(ValueError, match="^doc-a: token row 1 contains NaN or inf"):
        reduce_batch(hidden, keep, ["doc-a", "doc-b"])
    zero = torch.tensor([[[1.0, 2.0], [-1.0, -2.0]]])
    with pytest.raises(ValueError, match="^x: the mean of the token embeddings is the zero"):
        reduce_batch(zero, torch.ones(1, 2, dtype=torch.bool), ["x"])
    assert reduce_batch(torch.zeros(0, 3, 4), torch.zeros(0, 3, dtype=torch.bool)) == []
