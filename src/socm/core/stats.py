r"""Per-text token statistics (the "statistics" stage of the pipeline).

Notation follows Hara et al., *Why Mean Pooling Works: Quantifying Second-Order Collapse in
Text Embeddings* (arXiv 2604.27398, ACL 2026), Sec. 3. For one text with token embeddings
:math:`X = [x_1, \dots, x_n]^\top \in \mathbb{R}^{n \times D}`:

* mean :math:`\mu(X) = \frac1n \sum_j x_j`;
* unit-mean normalisation :math:`\tilde X = X / \lVert \mu(X) \rVert_2`, so that
  :math:`\tilde\mu = \mu(\tilde X)` has unit norm;
* covariance with the :math:`1/n` estimator
  :math:`\Sigma(\tilde X) = \frac1n \sum_j (\tilde x_j - \tilde\mu)(\tilde x_j - \tilde\mu)^\top`;
* normalised spread (token concentration)
  :math:`S(X)/\lVert\mu(X)\rVert^2 = \operatorname{tr}\Sigma(\tilde X)
  = \frac1n \sum_j \lVert \tilde x_j - \tilde\mu \rVert^2`.

The covariance is never formed. With :math:`Z = (\tilde X - 1\tilde\mu^\top)/\sqrt n`,
:math:`\Sigma = Z^\top Z`; :func:`token_stats` stores a compact factor :math:`F` with
:math:`\Sigma = F^\top F` and at most ``min(n - 1, D)`` rows. Everything here is pure
computation: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "SPREAD_BOUND",
    "TokenStats",
    "as_token_matrix",
    "avg_cosine",
    "check_same_dim",
    "normalized_spread",
    "spread_and_cosine",
    "token_stats",
    "token_stats_many",
]


SPREAD_BOUND = 2.0
"""tr Σ ≤ 2 for both texts is what makes d_Σ ≤ 1 (Hara et al. 2026, Sec. 3): BW² ≤ tr Σ₁ + tr Σ₂."""


def as_token_matrix(x: Any, *, where: str = "token matrix") -> np.ndarray:
    """Validate a token-embedding matrix and return it as a float64 numpy array.

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (n_tokens, D)
        Token embeddings of one text.
    where : str
        How to name this input in error messages (e.g. ``"text 3"``).

    Raises
    ------
    ValueError
        If ``x`` is not 2-D, has no tokens or no dimensions, or holds NaN/inf values.
    """
    if hasattr(x, "detach"):  # torch.Tensor without importing torch here
        x = x.detach().to("cpu").double().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{where}: expected a 2-D (n_tokens, D) array, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{where}: empty token list (0 tokens)")
    if arr.shape[1] == 0:
        raise ValueError(f"{where}: token embeddings have 0 dimensions")
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise ValueError(f"{where}: token row {int(bad[0])} contains NaN or inf")
    return arr


@dataclass(frozen=True, eq=False)
class TokenStats:
    r"""Sufficient statistics of one text's unit-mean-normalised tokens.

    Attributes
    ----------
    n_tokens : int
        Number of tokens :math:`n`.
    mean_norm : float
        :math:`\lVert \mu(X) \rVert_2` of the raw tokens.
    mean : numpy.ndarray, shape (D,)
        Unit mean :math:`\tilde\mu = \mu(X)/\lVert\mu(X)\rVert` (float64).
    factor : numpy.ndarray, shape (rank, D)
        Compact factor :math:`F` with :math:`\Sigma(\tilde X) = F^\top F` and at most
        ``min(n - 1, D)`` rows (see :func:`token_stats`).
    trace : float
        :math:`\operatorname{tr}\Sigma(\tilde X)`, the normalised spread.
    """

    n_tokens: int
    mean_norm: float
    mean: np.ndarray
    factor: np.ndarray
    trace: float

    @property
    def dim(self) -> int:
        """Embedding dimension :math:`D`."""
        return int(self.mean.shape[0])

    @property
    def rank(self) -> int:
        """Numerical rank of the covariance (rows of :attr:`factor`)."""
        return int(self.factor.shape[0])

    @property
    def normalized_spread(self) -> float:
        r""":math:`\operatorname{tr}\Sigma(\tilde X) = S(X)/\lVert\mu(X)\rVert^2`."""
        return self.trace

    def __repr__(self) -> str:
        return (
            f"TokenStats(n_tokens={self.n_tokens}, dim={self.dim}, rank={self.rank}, "
            f"normalized_spread={self.trace:.6g})"
        )


def token_stats(x: Any, *, where: str = "text") -> TokenStats:
    r"""Compute the statistics of one text's token embeddings.

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (n_tokens, D)
        Token embeddings (every token to be counted; padding already removed).
    where : str
        Name used in error messages.

    Returns
    -------
    TokenStats
        Unit mean :math:`\tilde\mu`, covariance factor :math:`F` with
        :math:`\Sigma(\tilde X) = F^\top F` and :math:`\operatorname{tr}\Sigma(\tilde X)`.

    Raises
    ------
    ValueError
        On an empty or non-finite input, or when :math:`\mu(X)` is (numerically) the zero
        vector, so that :math:`X` cannot be unit-mean normalised.

    Notes
    -----
    With :math:`Z = (\tilde X - 1\tilde\mu^\top)/\sqrt n`, the factor is :math:`HZ` for the
    Helmert matrix :math:`H` when :math:`n - 1 \le D` (an exact orthogonal change of basis that
    drops the direction centring removes, ``n - 1`` rows, no decomposition), and otherwise
    :math:`SV^\top` from the thin SVD of :math:`Z` with singular values below
    ``max(n, D) * eps * s_max`` dropped (the rule of ``numpy.linalg.matrix_rank``), which
    changes no trace or nuclear norm beyond rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from socm import token_stats
    >>> st = token_stats(np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0]]))
    >>> st.mean.tolist(), round(st.trace, 12), st.rank
    ([1.0, 0.0, 0.0], 1.0, 1)
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


def normalized_spread(x: Any) -> float:
    r"""Normalised spread :math:`S(X)/\lVert\mu(X)\rVert^2 = \operatorname{tr}\Sigma(\tilde X)`.

    :math:`S(X) = \frac1n\sum_j \lVert x_j - \mu(X)\rVert^2` (Hara et al. 2026, Sec. 5,
    "token concentration"). Small values mean the tokens of a text concentrate around their
    mean; the paper shows that both texts below :math:`\varepsilon` bound SOCM by
    :math:`O(\varepsilon)`.

    Parameters
    ----------
    x : array_like, torch.Tensor or TokenStats
        Token embeddings ``(n_tokens, D)`` of one text, or its precomputed statistics.
    """
    if isinstance(x, TokenStats):
        return x.trace
    return token_stats(x).trace


def token_stats_many(token_lists: Sequence[Any], workers: int | None = None) -> list[TokenStats]:
    """:func:`token_stats` of every text; TokenStats inputs pass through.

    Errors name the text's position (``"text 3: ..."``). Runs in a thread pool of ``workers``
    threads (default: torch's intra-op thread count); LAPACK releases the GIL.
    """

    def one(item: tuple[int, Any]) -> TokenStats:
        t, x = item
        return x if isinstance(x, TokenStats) else token_stats(x, where=f"text {t}")

    items = list(enumerate(token_lists))
    if workers is None:
        import torch

        workers = torch.get_num_threads()
    if workers <= 1 or len(items) < 64:
        return [one(it) for it in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as ex:
        return list(ex.map(one, items, chunksize=16))


def spread_and_cosine(hidden: Any, keep: Any) -> tuple[Any, Any]:
    r"""Normalised spread and average within-text cosine for a padded batch (torch).

    For each text :math:`b` with kept tokens :math:`x_1..x_n` (``keep[b]``):

    * normalised spread :math:`\frac{1}{n}\sum_j \lVert x_j - \mu\rVert^2 / \lVert\mu\rVert^2`
      (the same quantity as :attr:`TokenStats.trace`), evaluated as
      :math:`(\frac1n\sum_j \lVert x_j\rVert^2 - \lVert\mu\rVert^2)/\lVert\mu\rVert^2`;
    * average cosine over all :math:`n \times n` token pairs, the diagonal included,
      :math:`\frac{1}{n^2}\sum_{j,k}\cos(x_j, x_k) = \lVert \frac1n \sum_j x_j/\lVert x_j\rVert
      \rVert^2` (Hara et al. 2026, Sec. 5; a zero token counts as cosine 0).

    The passes over the batch run in the hidden states' dtype (three, no temporaries: this runs
    on every encoded batch), the final combination in float64. With float32 hidden states the
    relative accuracy is about 1e-6 (the subtraction loses a factor
    :math:`1 + 1/\text{spread}`); with float64 inputs it matches :func:`token_stats` to ~1e-14.

    Parameters
    ----------
    hidden : torch.Tensor, shape (B, T, D)
    keep : torch.Tensor of bool, shape (B, T)

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        float64 tensors of shape (B,): spread and average cosine.
    """
    import torch

    w = keep.to(hidden.dtype)
    norms = torch.linalg.vector_norm(hidden, dim=-1)  # (B, T)
    total = torch.einsum("btd,bt->bd", hidden, w).double()
    unit_total = torch.einsum("btd,bt->bd", hidden, w / norms.clamp_min(1e-30)).double()
    n = w.double().sum(1)
    mu2 = (total**2).sum(-1) / n**2
    mean_sq = ((norms.double() ** 2) * w.double()).sum(1) / n
    spread = (mean_sq - mu2) / mu2
    cos = (unit_total**2).sum(-1) / n**2
    return spread.clamp_min(0.0), cos


def avg_cosine(x: Any) -> float:
    """Average cosine similarity over all token pairs of one text, the diagonal included."""
    import torch

    arr = torch.from_numpy(as_token_matrix(x))[None]
    return float(spread_and_cosine(arr, torch.ones(arr.shape[:2], dtype=torch.bool))[1][0])


def check_same_dim(stats: Sequence[TokenStats]) -> None:
    """Refuse texts whose embedding dimension differs from the first text's.

    Raises
    ------
    ValueError
        ``dimension mismatch: text t has D=... but text 0 has D=...`` (the first such text).

    Examples
    --------
    >>> check_same_dim([token_stats(np.ones((2, 3))), token_stats(np.eye(3))])
    """
    if not stats:
        return
    dim = stats[0].dim
    bad = next((t for t, s in enumerate(stats) if s.dim != dim), None)
    if bad is not None:
        raise ValueError(
            f"dimension mismatch: text {bad} has D={stats[bad].dim} but text 0 has D={dim}"
        )
