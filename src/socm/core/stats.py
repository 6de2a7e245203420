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

import hashlib
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
    "content_key",
    "normalized_spread",
    "profile_from_sums",
    "profile_sums",
    "reduce_batch",
    "reduce_many",
    "spread_and_cosine",
    "token_stats",
    "token_stats_many",
]


SPREAD_BOUND = 2.0
"""tr Σ ≤ 2 for both texts is what makes d_Σ ≤ 1 (Hara et al. 2026, Sec. 3): BW² ≤ tr Σ₁ + tr Σ₂."""


def content_key(x: Any) -> str:
    """What identifies a text's tokens: the SHA-256 of its token matrix (shape and float64
    values), or of its :class:`TokenStats` (every field) when given those.

    Two texts with equal keys have equal statistics, so one is a duplicate of the other
    (:func:`socm.core.mine.eligible_texts`), and a store keyed by it is reused by a later call
    on the same texts (:func:`socm.api.collect_stats`). A matrix and its statistics have different
    keys.

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> content_key(x) == content_key(x.copy()), content_key(x) == content_key(2 * x)
    (True, False)
    """
    if isinstance(x, TokenStats):
        numbers = repr((x.n_tokens, x.trace, x.mean_norm, x.factor.shape)).encode()
        blob = b"stats" + numbers + x.mean.tobytes() + x.factor.tobytes()
    else:
        if hasattr(x, "detach"):
            x = x.detach().cpu().numpy()
        arr = np.ascontiguousarray(x, dtype=np.float64)
        blob = repr(arr.shape).encode() + arr.tobytes()
    return hashlib.sha256(blob).hexdigest()


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
    top_token_share : float
        The largest single token's share of the spread,
        :math:`\max_j \lVert\tilde x_j - \tilde\mu\rVert^2 / \sum_k \lVert\tilde x_k -
        \tilde\mu\rVert^2 \in [1/n, 1]` (NaN for a zero spread): near 1 when one token, such
        as a decoder's attention sink, carries the text's covariance.
    """

    n_tokens: int
    mean_norm: float
    mean: np.ndarray
    factor: np.ndarray
    trace: float
    top_token_share: float = float("nan")

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
    r"""Compute the statistics of one text's token embeddings (:func:`reduce_batch` of one).

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

    Examples
    --------
    >>> import numpy as np
    >>> from socm import token_stats
    >>> st = token_stats(np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0]]))
    >>> st.mean.tolist(), round(st.trace, 12), st.rank
    ([1.0, 0.0, 0.0], 1.0, 1)
    """
    return reduce_many([as_token_matrix(x, where=where)], names=[where])[0]


def reduce_batch(hidden: Any, keep: Any, names: Sequence[str] | None = None) -> list[TokenStats]:
    r"""Per-text statistics of a padded batch of token embeddings: the one reduce step.

    Every route from token embeddings to :class:`TokenStats` comes here (the backends'
    encoding, :func:`token_stats`, :func:`token_stats_many`), batched in torch on the device
    where the embeddings are (a GPU or the CPU), in float64.

    For each text with kept tokens :math:`x_1 \dots x_n` (``keep[b]``, in order, wherever
    they sit in the row: left or right padding, excluded special tokens):

    * the tokens are scaled by a power of two near :math:`\max|x|` (exact, so results are
      bit-identical, and any finite input works: :math:`10^{200}` would overflow the squared
      norm, :math:`10^{-200}` underflow);
    * :math:`\mu = \frac1n\sum_j x_j`, refused when :math:`\lVert\mu\rVert \le \max|x| \cdot D
      \cdot \varepsilon_{64}` (not normalisable);
    * :math:`\tilde X = X/\lVert\mu\rVert`, :math:`\tilde\mu = \mu/\lVert\mu\rVert`,
      :math:`Z = (\tilde X - \mathbf 1\tilde\mu^\top)/\sqrt n`,
      :math:`\operatorname{tr}\Sigma = \lVert Z\rVert_F^2`;
    * the factor :math:`F` with :math:`\Sigma = Z^\top Z = F^\top F`: :math:`HZ` for the
      Helmert matrix :math:`H` when :math:`n - 1 \le D` (an exact orthogonal change of basis
      that drops the direction centring removes, ``n - 1`` rows, no decomposition: row
      :math:`k` is :math:`(z_1 + \dots + z_k - k z_{k+1}) / \sqrt{k(k+1)}`, and
      :math:`H^\top H = I - \mathbf 1\mathbf 1^\top / n` with :math:`\mathbf 1^\top Z = 0`
      gives :math:`(HZ)^\top HZ = Z^\top Z`); otherwise :math:`SV^\top` from the thin SVD of
      :math:`Z` with singular values below ``max(n, D) * eps * s_max`` dropped (the rule of
      ``numpy.linalg.matrix_rank``), which changes no trace or nuclear norm beyond rounding.
      No factor rows for one token or a zero spread;
    * the top token's share of the spread, :math:`\max_j \lVert z_j\rVert^2 / \lVert
      Z\rVert_F^2` (each token's squared distance to the unit mean over their sum; NaN for a
      zero spread).

    Notation: Hara et al., *Why Mean Pooling Works: Quantifying Second-Order Collapse in Text
    Embeddings* (arXiv 2604.27398, ACL 2026), Sec. 3.

    Parameters
    ----------
    hidden : torch.Tensor, shape (B, T, D)
        Token embeddings of B texts, padded to T positions (any float dtype, any device).
    keep : torch.Tensor of bool, shape (B, T)
        The tokens that count.
    names : sequence of str, optional
        The texts' names for error messages (default ``text <b>``).

    Returns
    -------
    list of TokenStats
        One per text, as NumPy float64 arrays on the CPU (each factor its own memory).

    Raises
    ------
    ValueError
        A text without tokens, with a non-finite kept token, or whose mean is the zero vector
        (naming it).

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[[1.0, 1.0, 0.0], [9.0, 9.0, 9.0], [1.0, -1.0, 0.0]]])
    >>> st = reduce_batch(x, torch.tensor([[True, False, True]]))[0]
    >>> st.mean.tolist(), round(st.trace, 12), st.n_tokens
    ([1.0, 0.0, 0.0], 1.0, 2)
    """
    import torch

    b, t, dim = hidden.shape
    names = [f"text {k}" for k in range(b)] if names is None else list(names)
    if b == 0:
        return []
    keep = keep.to(device=hidden.device, dtype=torch.bool)
    n = keep.sum(1)
    if bool((n == 0).any()):
        raise ValueError(f"{names[int(torch.nonzero(n == 0)[0])]}: empty token list (0 tokens)")
    valid = torch.arange(t, device=hidden.device)[None, :] < n[:, None]
    x = hidden
    if not bool((keep == valid).all()):  # kept tokens first, in order: positions 0 .. n - 1
        order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
        x = torch.gather(x, 1, order[..., None].expand(b, t, dim))
    x = torch.where(valid[..., None], x.to(torch.float64), 0.0)
    finite = torch.isfinite(x).all(-1) | ~valid
    if not bool(finite.all()):
        text, row = (int(v) for v in torch.nonzero(~finite)[0])
        raise ValueError(f"{names[text]}: token row {row} contains NaN or inf")
    top = x.abs().amax(dim=(1, 2))
    pow2 = torch.where(top > 0, torch.ldexp(torch.ones_like(top), torch.frexp(top)[1]), 1.0)
    x = x / pow2[:, None, None]
    nf = n.to(torch.float64)
    mu = x.sum(1) / nf[:, None]
    norm = torch.linalg.vector_norm(mu, dim=1)
    scale = top / pow2  # max |x| after the exact rescaling
    bad = ~(norm > scale * dim * torch.finfo(torch.float64).eps)
    if bool(bad.any()):
        raise ValueError(
            f"{names[int(torch.nonzero(bad)[0])]}: the mean of the token embeddings is the "
            "zero vector (cannot be normalised to unit mean)"
        )
    mean = mu / norm[:, None]
    z = (x / norm[:, None, None] - mean[:, None, :]) / torch.sqrt(nf)[:, None, None]
    z = torch.where(valid[..., None], z, 0.0)
    # summed over D per token, then in token order: a text's value does not depend on the
    # padding of its batch (bit for bit; a fused reduction over (T, D) would)
    per_token = (z * z).sum(-1)
    trace = torch.cumsum(per_token, dim=1)[:, -1]
    biggest = per_token.amax(dim=1)
    share = torch.where(trace > 0, biggest / torch.where(trace > 0, trace, 1.0), torch.nan)
    k = torch.arange(1, t, device=x.device, dtype=torch.float64)[None, :, None]
    helmert = (torch.cumsum(z, dim=1)[:, :-1] - k * z[:, 1:]) / torch.sqrt(k * (k + 1))
    n_list, trace_list, share_list = n.tolist(), trace.tolist(), share.tolist()
    svd_rows = {
        q: _svd_factor(z[q, : n_list[q]])
        for q in range(b)
        if n_list[q] - 1 > dim and trace_list[q] != 0.0
    }
    helmert_np = helmert.cpu().numpy()
    means, norms = mean.cpu().numpy(), (norm * pow2).tolist()
    out = []
    for q in range(b):
        m = n_list[q]
        if m == 1 or trace_list[q] == 0.0:
            factor = np.zeros((0, dim))
        elif q in svd_rows:
            factor = svd_rows[q]
        else:
            factor = helmert_np[q, : m - 1].copy()
        out.append(
            TokenStats(
                n_tokens=m,
                mean_norm=norms[q],
                mean=means[q].copy(),
                factor=factor,
                trace=trace_list[q],
                top_token_share=share_list[q],
            )
        )
    return out


def _svd_factor(z: Any) -> np.ndarray:
    """:math:`SV^\\top` of the thin SVD of one text's ``(n, D)`` centred tokens, singular values
    below ``max(n, D) * eps * s_max`` dropped (see :func:`reduce_batch`)."""
    import torch

    _, s, vt = torch.linalg.svd(z, full_matrices=False)
    keep = s > s[0] * max(z.shape) * torch.finfo(torch.float64).eps
    return (s[keep, None] * vt[keep]).cpu().numpy()


def reduce_many(
    arrays: Sequence[Any],
    device: Any = None,
    names: Sequence[str] | None = None,
    batch_bytes: int | None = None,
) -> list[TokenStats]:
    """:func:`reduce_batch` of a list of ``(n_i, D)`` token matrices, in the given order:
    padded into batches of texts of similar length and equal ``D`` (at most ``batch_bytes``
    of float64 per batch).

    Parameters
    ----------
    arrays : sequence of numpy.ndarray or torch.Tensor
        Token embeddings per text (float32 or float64).
    device : str or torch.device, optional
        Where the reduction runs (default: the CPU; a CUDA device for embeddings there).
    names : sequence of str, optional
        The texts' names for error messages.
    batch_bytes : int, optional
        Memory of one padded float64 batch (default 4 MB on the CPU, where batches that stay
        in the cache are fastest, measured on 4,000 texts of 5-60 tokens at D = 384; 256 MB on
        a GPU).

    Raises
    ------
    ValueError
        As :func:`reduce_batch`.
    """
    import torch

    names = [f"text {k}" for k in range(len(arrays))] if names is None else list(names)
    if not len(arrays):
        return []
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    dims = np.array([a.shape[1] for a in arrays], dtype=np.int64)
    order = np.lexsort((-lengths, dims))
    dev = torch.device("cpu") if device is None else torch.device(device)
    if batch_bytes is None:
        batch_bytes = (4 << 20) if dev.type == "cpu" else (256 << 20)
    out: list[Any] = [None] * len(arrays)
    start = 0
    while start < len(order):
        dim, t = int(dims[order[start]]), max(int(lengths[order[start]]), 1)
        size = max(1, batch_bytes // (8 * t * max(dim, 1)))
        idx = [q for q in order[start : start + size].tolist() if dims[q] == dim]
        batch = torch.zeros((len(idx), t, dim), dtype=torch.float64, device=dev)
        keep = torch.zeros((len(idx), t), dtype=torch.bool, device=dev)
        for row, q in enumerate(idx):
            m = int(lengths[q])
            a = arrays[q]
            if isinstance(a, np.ndarray) and not a.flags.writeable:
                a = a.copy()  # torch wants writable memory (e.g. a read-only cache entry)
            batch[row, :m] = torch.as_tensor(a, device=dev)
            keep[row, :m] = True
        stats = reduce_batch(batch, keep, [names[q] for q in idx])
        for q, st in zip(idx, stats, strict=True):
            out[q] = st
        start += len(idx)
    return out


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


def token_stats_many(token_lists: Sequence[Any], device: Any = None) -> list[TokenStats]:
    """:func:`token_stats` of every text, batched (:func:`reduce_many`); TokenStats inputs
    pass through.

    Errors name the text's position (``"text 3: ..."``).
    """
    out: list[Any] = list(token_lists)
    todo = [t for t, x in enumerate(out) if not isinstance(x, TokenStats)]
    arrays = [as_token_matrix(out[t], where=f"text {t}") for t in todo]
    for t, st in zip(todo, reduce_many(arrays, device, [f"text {t}" for t in todo]), strict=True):
        out[t] = st
    return out


def spread_and_cosine(hidden: Any, keep: Any) -> tuple[Any, Any]:
    r"""Normalised spread and average within-text cosine for a padded batch (torch).

    For each text :math:`b` with kept tokens :math:`x_1..x_n` (``keep[b]``):

    * normalised spread :math:`\frac{1}{n}\sum_j \lVert x_j - \mu\rVert^2 / \lVert\mu\rVert^2`
      (the same quantity as :attr:`TokenStats.trace`), evaluated as
      :math:`(\frac1n\sum_j \lVert x_j\rVert^2 - \lVert\mu\rVert^2)/\lVert\mu\rVert^2`;
    * average cosine over all :math:`n \times n` token pairs, the diagonal included,
      :math:`\frac{1}{n^2}\sum_{j,k}\cos(x_j, x_k) = \lVert \frac1n \sum_j x_j/\lVert x_j\rVert
      \rVert^2` (Hara et al. 2026, Sec. 5; a zero token counts as cosine 0).

    Both are functions of four sums over the kept tokens (:func:`profile_sums`), combined by
    :func:`profile_from_sums`; a text encoded in several pieces (windows) adds its pieces'
    sums. The passes over the batch run in the hidden states' dtype (three, no temporaries:
    this runs on every encoded batch), the final combination in float64. With float32 hidden
    states the relative accuracy is about 1e-6 (the subtraction loses a factor
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
    return profile_from_sums(*profile_sums(hidden, keep))


def profile_sums(hidden: Any, keep: Any) -> tuple[Any, Any, Any, Any]:
    r"""The sums :func:`spread_and_cosine` is made of, per text of a padded batch (torch):
    :math:`\sum_j x_j` and :math:`\sum_j x_j/\lVert x_j\rVert` (float64, ``(B, D)``), the
    number of kept tokens :math:`n` and :math:`\sum_j \lVert x_j\rVert^2` (float64, ``(B,)``).
    Sums of disjoint sets of a text's tokens add."""
    import torch

    w = keep.to(hidden.dtype)
    norms = torch.linalg.vector_norm(hidden, dim=-1)  # (B, T)
    total = torch.einsum("btd,bt->bd", hidden, w).double()
    unit_total = torch.einsum("btd,bt->bd", hidden, w / norms.clamp_min(1e-30)).double()
    n = w.double().sum(1)
    sq = ((norms.double() ** 2) * w.double()).sum(1)
    return total, unit_total, n, sq


def profile_from_sums(total: Any, unit_total: Any, n: Any, sq: Any) -> tuple[Any, Any]:
    """Normalised spread and average cosine (:func:`spread_and_cosine`) from the sums of
    :func:`profile_sums` (torch, float64; the last axis of ``total`` and ``unit_total`` is D)."""
    mu2 = (total**2).sum(-1) / n**2
    spread = (sq / n - mu2) / mu2
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
