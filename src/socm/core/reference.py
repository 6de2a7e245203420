r"""Slow textbook implementations, independent of the fast engine (for tests and benchmarks).

The textbook functions form the :math:`D \times D` covariances explicitly and take matrix
square roots by eigendecomposition, exactly as the definitions read (Hara et al. 2026, Sec. 3).
They share no code with :mod:`socm.core.stats`, :mod:`socm.core.metrics` or
:mod:`socm.core.pairs`, so agreement between the two routes is evidence, not tautology. Cost:
:math:`O(D^3)` per pair. :func:`numpy_token_stats` is the per-text NumPy route to the
statistics that socm used before its batched reduce step; it shares only the input check
(:func:`~socm.core.stats.as_token_matrix`) and the :class:`~socm.core.stats.TokenStats`
record with the engine, and computes the statistics with NumPy instead of torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from socm.core.stats import TokenStats, as_token_matrix

__all__ = [
    "numpy_token_stats",
    "textbook_d_mu",
    "textbook_d_sigma",
    "textbook_paper_d_sigma",
]


def _unit_mean_stats(x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Unit mean and 1/n covariance of X / ||mean(X)||, formed densely."""
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(axis=0)
    xt = x / np.linalg.norm(mu)
    mt = xt.mean(axis=0)
    c = xt - mt
    cov = (c.T @ c) / x.shape[0]
    return mt, cov


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def textbook_d_mu(x1: Any, x2: Any) -> float:
    r""":math:`\lVert\tilde\mu_1 - \tilde\mu_2\rVert^2/4` from the raw token matrices."""
    m1, _ = _unit_mean_stats(x1)
    m2, _ = _unit_mean_stats(x2)
    return float(np.sum((m1 - m2) ** 2) / 4)


def textbook_d_sigma(x1: Any, x2: Any) -> float:
    r""":math:`\mathrm{BW}^2(\Sigma_1, \Sigma_2)/4` with dense float64 eigendecompositions."""
    _, a = _unit_mean_stats(x1)
    _, b = _unit_mean_stats(x2)
    ra = _sqrtm_psd(a)
    w = np.linalg.eigvalsh(ra @ b @ ra)
    fid = np.sqrt(np.clip(w, 0.0, None)).sum()
    return float(max(np.trace(a) + np.trace(b) - 2 * fid, 0.0) / 4)


def textbook_paper_d_sigma(
    x1: Any, x2: Any, eps: float = 1e-9, dtype: torch.dtype = torch.float32
) -> float:
    """The published code's d_Σ, literally: torch (float32 by default), D×D, ε = 1e-9.

    ``tr A + tr B - 2 tr sqrt(sqrt(A + εI) B sqrt(A + εI) + εI)`` with symmetrisation before
    each eigendecomposition, negative eigenvalues clamped to 0, BW² clamped at 0, divided by 4.
    """

    def sqrtm32(m: torch.Tensor) -> torch.Tensor:
        w, v = torch.linalg.eigh((m + m.T) / 2)
        return (v * w.clamp(min=0).sqrt()) @ v.T

    _, a = _unit_mean_stats(x1)
    _, b = _unit_mean_stats(x2)
    ta, tb = torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype)
    eye = torch.eye(ta.shape[0], dtype=dtype)
    ra = sqrtm32(ta + eps * eye)
    fid = torch.trace(sqrtm32(ra @ tb @ ra + eps * eye))
    bw2 = (torch.trace(ta) + torch.trace(tb) - 2 * fid).clamp(min=0)
    return float(bw2) / 4


def numpy_token_stats(x: Any, *, where: str = "text") -> TokenStats:
    """One text's statistics the way socm computed them before the batched reduce step
    (:func:`socm.core.stats.reduce_batch`): NumPy, one text at a time. Kept as a second,
    independent route for the tests (same definitions, other code: NumPy's pairwise sums and
    LAPACK SVD instead of torch's).
    """
    arr = as_token_matrix(x, where=where)
    n, dim = arr.shape
    # scale by a power of two near max |x| first: exact (bit-identical results), and any finite
    # input works (1e200 would overflow in the squared norm, 1e-200 underflow)
    top = float(np.abs(arr).max())
    pow2 = float(np.ldexp(1.0, int(np.frexp(top)[1]))) if top > 0 else 1.0
    arr = arr / pow2
    mu = arr.mean(axis=0)
    norm = float(np.linalg.norm(mu))
    scale = float(np.abs(arr).max())
    if not norm > scale * dim * np.finfo(np.float64).eps:
        raise ValueError(
            f"{where}: the mean of the token embeddings is the zero vector "
            "(cannot be normalised to unit mean)"
        )
    xt = arr / norm
    mean = mu / norm
    z = (xt - mean) / np.sqrt(n)
    trace = float(np.einsum("ij,ij->", z, z))
    if n == 1 or trace == 0.0:
        factor = np.zeros((0, dim))
    elif n - 1 <= dim:
        factor = _helmert(z)
    else:
        _, s, vt = np.linalg.svd(z, full_matrices=False)
        keep = s > s[0] * max(n, dim) * np.finfo(np.float64).eps
        factor = s[keep, None] * vt[keep]
    return TokenStats(n_tokens=n, mean_norm=norm * pow2, mean=mean, factor=factor, trace=trace)


def _helmert(z: np.ndarray) -> np.ndarray:
    r"""Rows :math:`H Z` for the Helmert matrix :math:`H` (``n - 1`` orthonormal rows ⟂ 1).

    :math:`H^\top H = I - \mathbf 1\mathbf 1^\top / n`, so for centred :math:`Z`
    (:math:`\mathbf 1^\top Z = 0`) :math:`(HZ)^\top HZ = Z^\top Z` exactly: the one direction
    centring removes is dropped without a decomposition. Row :math:`k` is
    :math:`(z_1 + \dots + z_k - k z_{k+1}) / \sqrt{k(k+1)}`.
    """
    n = z.shape[0]
    k = np.arange(1, n, dtype=np.float64)[:, None]
    return (np.cumsum(z, axis=0)[:-1] - k * z[1:]) / np.sqrt(k * (k + 1))
