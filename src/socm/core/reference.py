r"""Slow textbook implementations, independent of the fast engine (for tests and benchmarks).

These form the :math:`D \times D` covariances explicitly and take matrix square roots by
eigendecomposition, exactly as the definitions read (Hara et al. 2026, Sec. 3). They share no
code with :mod:`socm.core.stats`, :mod:`socm.core.metrics` or :mod:`socm.core.pairs`, so
agreement between the two routes is evidence, not tautology. Cost: :math:`O(D^3)` per pair.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["textbook_d_mu", "textbook_d_sigma", "textbook_paper_d_sigma"]


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
