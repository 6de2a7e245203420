r"""Pair metrics d_μ, d_Σ and SOCM (the "metrics" stage: pure math, no I/O).

Source: Hara et al., *Why Mean Pooling Works: Quantifying Second-Order Collapse in Text
Embeddings* (arXiv 2604.27398, ACL 2026), Sec. 3. For two texts with unit-mean-normalised
statistics :math:`(\tilde\mu_1, \Sigma_1)` and :math:`(\tilde\mu_2, \Sigma_2)`
(see :mod:`socm.core.stats`):

.. math::

    d_\mu = \tfrac14 \lVert \tilde\mu_1 - \tilde\mu_2 \rVert_2^2 \in [0, 1], \qquad
    d_\Sigma = \tfrac14 \mathrm{BW}^2(\Sigma_1, \Sigma_2), \qquad
    \mathrm{SOCM} = (1 - d_\mu)\, d_\Sigma,

with the squared Bures–Wasserstein distance

.. math::

    \mathrm{BW}^2(A, B) = \operatorname{tr} A + \operatorname{tr} B
        - 2 \operatorname{tr}\big((A^{1/2} B A^{1/2})^{1/2}\big).

:math:`d_\Sigma \le 1` holds only when both traces are at most 2; larger values are real and
are kept (never clipped at 1).

**Small-matrix identity.** With :math:`A = F_1^\top F_1`, :math:`B = F_2^\top F_2`
(:math:`F_i` of shape :math:`k_i \times D`), the non-zero eigenvalues of
:math:`A^{1/2} B A^{1/2}` equal those of :math:`BA`, hence of
:math:`F_1 F_2^\top F_2 F_1^\top = M M^\top` with the cross-Gram matrix
:math:`M = F_1 F_2^\top` (:math:`k_1 \times k_2`). So the *fidelity*
:math:`\operatorname{tr}((A^{1/2} B A^{1/2})^{1/2}) = \sum_l \sigma_l(M) = \lVert M\rVert_*`,
the sum of the singular values of a small matrix. No :math:`D \times D` matrix is formed, and
zero rows appended to :math:`F_i` (padding in batches) change no singular value but add zeros.

**Paper numerics.** The published code computes
:math:`\operatorname{tr} A + \operatorname{tr} B - 2 \operatorname{tr}\sqrt{R B R + \varepsilon I}`
with :math:`R = \sqrt{A + \varepsilon I}`, :math:`\varepsilon = 10^{-9}`, the root taken of the
*first* text's covariance, negative eigenvalues clamped to 0 and the final
:math:`\mathrm{BW}^2` clamped at 0. Since :math:`R^2 = A + \varepsilon I`, the eigenvalues of
:math:`RBR` are those of :math:`F_2 (A + \varepsilon I) F_2^\top = M^\top M + \varepsilon G_2`
(:math:`G_2 = F_2 F_2^\top`, size :math:`k_2`) plus :math:`D - k_2` zeros, so

.. math::

    \operatorname{tr}\sqrt{RBR + \varepsilon I} =
    \sum_{l=1}^{k_2} \sqrt{\lambda_l(M^\top M + \varepsilon G_2) + \varepsilon}
    + (D - k_2)\sqrt{\varepsilon}.

The :math:`\varepsilon` under the roots without :math:`\varepsilon` in the traces biases
:math:`d_\Sigma` low by about :math:`(D - n)\sqrt{\varepsilon}/2` (≈0.006 at D = 384).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
import torch

from socm.core.stats import TokenStats, token_stats

__all__ = [
    "CUDA_EIG_MAX",
    "NUMERICS",
    "PAPER_EPS",
    "batched_eigvalsh",
    "bures_wasserstein2",
    "d_mu",
    "d_mu_from_cosine",
    "d_sigma",
    "d_sigma_from_bw2",
    "eigvalsh_in_threads",
    "fidelity_exact",
    "fidelity_paper",
    "relative_d_sigma_from_bw2",
    "socm",
    "socm_from_parts",
]

Numerics = Literal["exact", "paper"]
NUMERICS: tuple[str, ...] = ("exact", "paper")
PAPER_EPS: float = 1e-9
"""The regulariser ε of the published code."""
CUDA_EIG_MAX: int = int(os.environ.get("SOCM_CUDA_EIG_MAX", "32"))
"""Largest matrix size whose batched eigenvalues are computed on a CUDA device.

PyTorch solves a batch of symmetric eigenproblems on CUDA with one batched Jacobi call
(cuSOLVER ``syevjBatched``) only up to 32 x 32; larger ones are solved one matrix after the
other, about 60 µs each, 10x slower than 16 CPU cores (measured on an H200, see
``benchmarks/bench_gpu.py``). Larger batches therefore go to the CPU
(:func:`batched_eigvalsh`)."""

CPU_EVR_MIN: int = int(os.environ.get("SOCM_CPU_EVR_MIN", "96"))
"""Smallest matrix size whose eigenvalues the CPU engine takes from LAPACK's ``dsyevr``
(SciPy), one matrix at a time, instead of the batched ``syevd`` of :func:`torch.linalg.eigvalsh`:
measured single-threaded on this project's CPU (random Gram matrices, D = 384), ``dsyevr``
took 0.96x the time at 96, 0.90x at 128, 0.76x at 256 and 0.67x at 384, with eigenvalues equal
to 1e-14 relative."""

_POOL: tuple[ThreadPoolExecutor, int] | None = None  # (pool, its threads)


def check_numerics(numerics: str) -> str:
    """Return ``numerics`` if it names a mode, else raise ``ValueError``."""
    if numerics not in NUMERICS:
        raise ValueError(f"numerics must be one of {NUMERICS}, got {numerics!r}")
    return numerics


# --------------------------------------------------------------------------- scalar formulas
def d_mu_from_cosine(cos: Any) -> Any:
    r""":math:`d_\mu = \lVert\tilde\mu_1 - \tilde\mu_2\rVert^2/4 = (1 - \cos)/2`.

    For unit vectors :math:`\lVert a - b\rVert^2 = 2 - 2\,a^\top b`. The result is clipped
    to :math:`[0, 1]`, which only removes rounding (the exact value lies there).
    """
    return np.clip((1.0 - np.asarray(cos, dtype=np.float64)) / 2.0, 0.0, 1.0)


def bures_wasserstein2(trace_a: Any, trace_b: Any, fidelity: Any) -> Any:
    r""":math:`\mathrm{BW}^2 = \operatorname{tr}A + \operatorname{tr}B - 2\,\mathrm{fid}`.

    ``fidelity`` is :math:`\operatorname{tr}((A^{1/2}BA^{1/2})^{1/2})` (exact) or its
    ε-regularised paper counterpart. Values below 0 (rounding, or the paper's ε bias) are
    clamped to 0, as BW² ≥ 0; nothing is clamped from above.
    """
    bw2 = np.asarray(trace_a, dtype=np.float64) + np.asarray(trace_b, dtype=np.float64)
    return np.maximum(bw2 - 2.0 * np.asarray(fidelity, dtype=np.float64), 0.0)


def d_sigma_from_bw2(bw2: Any) -> Any:
    r""":math:`d_\Sigma = \mathrm{BW}^2/4` (no square root, no clip at 1)."""
    return np.asarray(bw2, dtype=np.float64) / 4.0


def socm_from_parts(dmu: Any, dsigma: Any) -> Any:
    r""":math:`\mathrm{SOCM} = (1 - d_\mu)\, d_\Sigma`."""
    return (1.0 - np.asarray(dmu, dtype=np.float64)) * np.asarray(dsigma, dtype=np.float64)


def relative_d_sigma_from_bw2(bw2: Any, trace_a: Any, trace_b: Any) -> Any:
    r"""Relative second-order distance :math:`\mathrm{BW}^2(A, B) / (\mathrm{tr}A + \mathrm{tr}B)`.

    The share of the two texts' spread that differs in shape: with the fidelity
    :math:`\mathrm{fid} = \operatorname{tr}((A^{1/2}BA^{1/2})^{1/2}) \ge 0`,

    .. math::

        \frac{\mathrm{BW}^2(A, B)}{\operatorname{tr}A + \operatorname{tr}B}
        = 1 - \frac{2\,\mathrm{fid}}{\operatorname{tr}A + \operatorname{tr}B} \in [0, 1],

    0 for equal covariances and 1 when their supports are orthogonal (:math:`AB = 0`, zero
    fidelity). Unlike :math:`d_\Sigma = \mathrm{BW}^2/4` it does not grow with the texts'
    spread, so it compares pairs of concentrated and of spread-out texts on one scale; since
    :math:`d_\Sigma = \tfrac14 (\operatorname{tr}A + \operatorname{tr}B) \cdot` (this), it is
    at least :math:`d_\Sigma` whenever both traces are at most 2. A normalisation defined by
    this package on top of the :math:`\mathrm{BW}^2` of Hara et al. (2026, Sec. 3); the bound
    :math:`\mathrm{BW}^2 \le \operatorname{tr}A + \operatorname{tr}B` is the fidelity's
    non-negativity (Bhatia, Jain & Lim, *On the Bures–Wasserstein distance between positive
    definite matrices*, Expo. Math. 2019).

    Parameters
    ----------
    bw2 : array_like
        :math:`\mathrm{BW}^2(A, B)` as returned by :func:`bures_wasserstein2` (``4 * d_sigma``).
    trace_a, trace_b : array_like
        :math:`\operatorname{tr}A`, :math:`\operatorname{tr}B` (the normalised spreads).

    Returns
    -------
    numpy.ndarray or float
        The ratio, 0 where both traces are 0. No clipping: :func:`bures_wasserstein2` returns
        :math:`\max(\mathrm{fl}(\operatorname{tr}A + \operatorname{tr}B) - 2\,\mathrm{fid}, 0)`
        with :math:`\mathrm{fid} \ge 0`, which never exceeds the rounded sum computed here, and
        correctly rounded division keeps the ratio in :math:`[0, 1]`.
    """
    bw2 = np.asarray(bw2, dtype=np.float64)
    total = np.asarray(trace_a, dtype=np.float64) + np.asarray(trace_b, dtype=np.float64)
    total, bw2 = np.broadcast_arrays(total, bw2)
    out = np.divide(bw2, total, out=np.zeros(total.shape), where=total > 0)
    return out if out.ndim else float(out)


# --------------------------------------------------------------------------- batched kernels
def batched_eigvalsh(x: torch.Tensor) -> torch.Tensor:
    """Eigenvalues (ascending) of a batch of symmetric matrices, where they are fastest.

    :func:`torch.linalg.eigvalsh` in place, except for matrices of at least
    :data:`CPU_EVR_MIN` rows on the CPU (LAPACK ``dsyevr`` per matrix, faster there) and a batch
    of matrices larger than :data:`CUDA_EIG_MAX` on a CUDA device: those are copied to the CPU
    and solved there in parallel slices of the batch (LAPACK, one thread each; PyTorch would
    loop over them on the GPU), and the eigenvalues copied back.

    Parameters
    ----------
    x : torch.Tensor, shape (B, n, n)
        Symmetric matrices (only the lower triangle is read).

    Returns
    -------
    torch.Tensor, shape (B, n)
        On ``x``'s device.

    Examples
    --------
    >>> batched_eigvalsh(torch.diag_embed(torch.tensor([[2.0, 1.0]], dtype=torch.float64)))
    tensor([[1., 2.]], dtype=torch.float64)
    """
    if x.device.type == "cpu" and x.ndim == 3 and x.shape[-1] >= CPU_EVR_MIN:
        return _dsyevr(x)
    if x.device.type != "cuda" or x.shape[-1] <= CUDA_EIG_MAX or x.ndim < 3 or len(x) < 2:
        return torch.linalg.eigvalsh(x)
    return eigvalsh_in_threads(x.cpu()).to(x.device)


def _dsyevr(x: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of each matrix of a CPU batch by LAPACK ``dsyevr`` (lower triangle read)."""
    from scipy.linalg import lapack

    arr = x.numpy()
    out = np.empty(arr.shape[:2])
    for b in range(arr.shape[0]):
        w, _, m, _, info = lapack.dsyevr(arr[b], compute_v=0, lower=1)
        if info != 0 or m != arr.shape[1]:  # pragma: no cover - LAPACK failure
            raise np.linalg.LinAlgError(f"dsyevr failed (info {info})")
        out[b] = w
    return torch.from_numpy(out)


def eigvalsh_in_threads(x: torch.Tensor, threads: int | None = None) -> torch.Tensor:
    """:func:`torch.linalg.eigvalsh` of a batch, in slices on parallel threads.

    PyTorch solves a batch of small matrices on the CPU one after the other on one thread; each
    slice here is one such call on a thread of its own (LAPACK releases the GIL). The result is
    that of one call on the whole batch, bit for bit (each matrix is solved alone either way).

    Parameters
    ----------
    x : torch.Tensor, shape (B, n, n)
        Symmetric matrices.
    threads : int, optional
        Slices at most (default: :func:`torch.get_num_threads`); at least 64 matrices each.

    Returns
    -------
    torch.Tensor, shape (B, n)
    """
    global _POOL
    want = threads or torch.get_num_threads()
    slices = max(1, min(want, len(x) // 64))
    if slices == 1:
        return torch.linalg.eigvalsh(x)
    if _POOL is None or _POOL[1] < slices:
        _POOL = (ThreadPoolExecutor(slices, thread_name_prefix="socm-eigvalsh"), slices)
    parts = _POOL[0].map(torch.linalg.eigvalsh, torch.tensor_split(x, slices))
    return torch.cat(list(parts))


def _gram_eigvalsh_cpu(mm: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    r"""Eigenvalues (ascending) of :math:`K = MM^\top` for each matrix of a CPU stack
    ``(..., p, q)``, and the number of zero rows of each :math:`M`.

    One matrix at a time: BLAS ``dsyrk`` forms the lower triangle of :math:`K` (half a GEMM's
    flops) and LAPACK ``dsyevr`` takes its eigenvalues. ``mm`` may be any strided view (the
    cross-Grams of a tile, un-permuted): each matrix is read in place, no copy of the stack.
    """
    from scipy.linalg import blas, lapack

    arr = mm.numpy()
    lead, p = arr.shape[:-2], arr.shape[-2]
    lam = np.empty((*lead, p))
    n_zero = np.empty((*lead, 1), dtype=np.int64)
    for idx in np.ndindex(*lead):
        k = blas.dsyrk(1.0, arr[idx], lower=1)
        n_zero[idx] = np.count_nonzero(np.diagonal(k) == 0)  # zero rows of M (padding)
        w, _, found, _, info = lapack.dsyevr(k, compute_v=0, lower=1, overwrite_a=1)
        if info != 0 or found != p:  # pragma: no cover - LAPACK failure
            raise np.linalg.LinAlgError(f"dsyevr failed (info {info})")
        lam[idx] = w
    return lam, n_zero


def fidelity_exact(m: torch.Tensor, atol: float = 1e-9) -> torch.Tensor:
    r"""Exact fidelity :math:`\lVert M\rVert_*` for a batch of cross-Gram matrices.

    Parameters
    ----------
    m : torch.Tensor, shape (..., k1, k2)
        :math:`M = F_1 F_2^\top` per pair (zero rows/columns from padding allowed); any
        leading shape and strides (a tile's cross-Grams as a view of one product).
    atol : float
        Target absolute accuracy: matrices whose a-posteriori error bound (below) exceeds it
        take the SVD route. The bound is a first-order estimate, not a proof. On 400 pairs of
        MS MARCO passages (all-MiniLM-L6-v2, median 72 tokens) the actual error of the
        eigenvalue route was at most 2.6e-12 while the bound reached 1.2e-8 (at most 4e-4 of
        it); with ``atol = 1e-9`` 6% of those pairs took the SVD route (36% at 1e-10). An
        error of ``atol`` in the fidelity moves :math:`d_\Sigma` by ``atol / 2``.

    Returns
    -------
    torch.Tensor, shape (...)
        :math:`\sum_l \sigma_l(M) = \operatorname{tr}((A^{1/2}BA^{1/2})^{1/2})`.

    Notes
    -----
    Fast path: :math:`\sigma_l = \sqrt{\lambda_l(K)}` with the smaller Gram matrix
    :math:`K = MM^\top` (``eigvalsh``, about twice as fast as ``svdvals``; on the CPU from
    :data:`CPU_EVR_MIN` rows, ``dsyrk`` and ``dsyevr`` per matrix). Exact zero rows of
    :math:`M` (padding) give exact zero eigenvalues, which are set to 0. Rounding perturbs each
    eigenvalue by at most :math:`\delta = 2(p + q)\,\varepsilon_{64}\,\lambda_{max}`, so each
    :math:`\sqrt{\lambda_l}` by at most :math:`\min(\sqrt\delta, \delta / (2\sqrt{\lambda_l}))`;
    matrices whose summed bound exceeds ``atol`` (tiny but non-zero singular values) are
    recomputed from the singular values of :math:`M` directly, which are accurate to
    :math:`O(\varepsilon_{64}\sigma_{max})`.
    """
    lead = m.shape[:-2]
    if m.shape[-1] == 0 or m.shape[-2] == 0:
        return m.new_zeros(lead)
    mm = m if m.shape[-2] <= m.shape[-1] else m.mT
    p, q = mm.shape[-2], mm.shape[-1]
    if mm.device.type == "cpu" and p >= CPU_EVR_MIN:
        lam_np, zeros_np = _gram_eigvalsh_cpu(mm)
        lam, n_zero = torch.from_numpy(lam_np), torch.from_numpy(zeros_np)
    else:
        mm = mm.reshape(-1, p, q)
        gram = mm @ mm.mT
        n_zero = (gram.diagonal(dim1=-2, dim2=-1) == 0).sum(-1, keepdim=True)  # zero rows
        lam = batched_eigvalsh(gram).reshape(*lead, p)  # ascending
        n_zero = n_zero.reshape(*lead, 1)
    known_zero = torch.arange(p, device=m.device) < n_zero
    lam = torch.where(known_zero, 0.0, lam.clamp(min=0))
    delta = 2 * (p + q) * torch.finfo(m.dtype).eps * lam[..., -1:]
    root = lam.sqrt()
    err = torch.where(lam <= delta, delta.sqrt(), delta / (2 * root))
    err = torch.where(known_zero, 0.0, err).sum(-1)
    fid = root.sum(-1)
    bad = err > atol
    if bool(bad.any()):
        fid[bad] = torch.linalg.svdvals(m[bad]).sum(-1)
    return fid


def fidelity_paper(
    m: torch.Tensor, gram_second: torch.Tensor, dim: int, eps: float = PAPER_EPS
) -> torch.Tensor:
    r"""The published code's fidelity :math:`\operatorname{tr}\sqrt{RBR + \varepsilon I}`.

    Parameters
    ----------
    m : torch.Tensor, shape (B, k1, k2)
        :math:`M = F_1 F_2^\top`, the first text's factor on the left.
    gram_second : torch.Tensor, shape (B, k2, k2)
        :math:`G_2 = F_2 F_2^\top`.
    dim : int
        Embedding dimension :math:`D`.
    eps : float
        :math:`\varepsilon` (the paper uses :math:`10^{-9}`).

    Returns
    -------
    torch.Tensor, shape (B,)
        :math:`\sum_l \sqrt{\max(\lambda_l(M^\top M + \varepsilon G_2), 0) + \varepsilon}
        + (D - k_2)\sqrt{\varepsilon}`.
    """
    k2 = m.shape[-1]
    tail = (dim - k2) * math.sqrt(eps)
    if k2 == 0:
        return m.new_full(m.shape[:-2], tail)
    inner = m.mT @ m + eps * gram_second
    inner = (inner + inner.mT) / 2
    lam = batched_eigvalsh(inner).clamp(min=0)
    return torch.sqrt(lam + eps).sum(-1) + tail


# --------------------------------------------------------------------------- one pair
def _stats(x: Any, where: str) -> TokenStats:
    return x if isinstance(x, TokenStats) else token_stats(x, where=where)


def _pair(a: Any, b: Any) -> tuple[TokenStats, TokenStats]:
    sa, sb = _stats(a, "first text"), _stats(b, "second text")
    if sa.dim != sb.dim:
        raise ValueError(f"dimension mismatch: first text has D={sa.dim}, second has D={sb.dim}")
    return sa, sb


def _fidelity(sa: TokenStats, sb: TokenStats, numerics: str) -> float:
    fa = torch.from_numpy(sa.factor)[None]
    fb = torch.from_numpy(sb.factor)[None]
    m = fa @ fb.mT
    if numerics == "exact":
        return float(fidelity_exact(m)[0])
    return float(fidelity_paper(m, fb @ fb.mT, sa.dim)[0])


def d_mu(a: Any, b: Any) -> float:
    r"""First-order distance :math:`d_\mu = \lVert\tilde\mu_1 - \tilde\mu_2\rVert^2 / 4`.

    Parameters
    ----------
    a, b : TokenStats, array_like or torch.Tensor
        Statistics or raw ``(n_tokens, D)`` token embeddings (normalised internally).
    """
    sa, sb = _pair(a, b)
    return float(d_mu_from_cosine(float(sa.mean @ sb.mean)))


def d_sigma(a: Any, b: Any, numerics: Numerics = "exact") -> float:
    r"""Second-order distance :math:`d_\Sigma = \mathrm{BW}^2(\Sigma_1, \Sigma_2)/4`.

    Parameters
    ----------
    a, b : TokenStats, array_like or torch.Tensor
        Statistics or raw ``(n_tokens, D)`` token embeddings.
    numerics : {"exact", "paper"}
        ``"exact"``: the mathematical value (float64, via the nuclear norm of the cross-Gram
        matrix). ``"paper"``: the ε-regularised formula of the published code, root of the
        first text's covariance (not symmetric in ``a``, ``b``).

    Examples
    --------
    Two texts with the same mean whose tokens spread along orthogonal directions:
    :math:`\Sigma_1 = e_2 e_2^\top`, :math:`\Sigma_2 = e_3 e_3^\top`, so
    :math:`\mathrm{BW}^2 = 1 + 1 - 2 \cdot 0 = 2` and :math:`d_\Sigma = 0.5`.

    >>> import numpy as np
    >>> from socm import d_mu, d_sigma
    >>> a = np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0]])
    >>> b = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, -1.0]])
    >>> round(d_sigma(a, b), 12), d_mu(a, b)
    (0.5, 0.0)
    """
    check_numerics(numerics)
    sa, sb = _pair(a, b)
    fid = _fidelity(sa, sb, numerics)
    return float(d_sigma_from_bw2(bures_wasserstein2(sa.trace, sb.trace, fid)))


def socm(a: Any, b: Any, numerics: Numerics = "exact") -> float:
    r"""Second-order collapse measure :math:`(1 - d_\mu)\, d_\Sigma`.

    Large when the mean-pooled embeddings are close (small :math:`d_\mu`) while the token
    distributions differ in shape (large :math:`d_\Sigma`): information mean pooling
    destroys. See :func:`d_sigma` for ``numerics``.
    """
    check_numerics(numerics)
    sa, sb = _pair(a, b)
    dmu = d_mu_from_cosine(float(sa.mean @ sb.mean))
    fid = _fidelity(sa, sb, numerics)
    return float(
        socm_from_parts(dmu, d_sigma_from_bw2(bures_wasserstein2(sa.trace, sb.trace, fid)))
    )
