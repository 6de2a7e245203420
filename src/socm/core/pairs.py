r"""Batched pair engine (the "pairs" stage): d_μ, d_Σ and SOCM for many pairs at once.

The formulas live in :mod:`socm.core.metrics`; this module only schedules them. Each text is
reduced once to its unit mean and compact covariance factor :math:`F_i` (``rank_i x D``,
:mod:`socm.core.stats`). For a pair the fidelity term of the Bures–Wasserstein distance is the
nuclear norm of the small cross-Gram matrix :math:`F_i F_j^\top`, so no :math:`D \times D`
matrix is ever formed.

* **All pairs** (``pairs=None``): texts are sorted by rank and cut into groups whose zero-padded
  factors stack into one ``(rows, D)`` block; each group pair's cross-Grams come out of one
  large matrix product, and their singular values out of one batched call.
* **Listed pairs**: pairs are bucketed by their padded ranks, the factors gathered, and the
  cross-Grams formed by a batched product, chunk by chunk (memory stays bounded for any number
  of pairs).

Zero padding adds only zero singular values, so texts of different lengths batch together
without changing any result.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from socm.core.metrics import (
    Numerics,
    bures_wasserstein2,
    check_numerics,
    d_mu_from_cosine,
    d_sigma_from_bw2,
    fidelity_exact,
    fidelity_paper,
    socm_from_parts,
)
from socm.core.stats import TokenStats, token_stats_many
from socm.progress import progress_bar

__all__ = ["PairResult", "all_pairs_index", "pairwise", "resolve_device"]

#: Padded sizes used to bucket factor ranks (about 12% padding at most above 8).
_LADDER = [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    10,
    12,
    14,
    16,
    18,
    20,
    22,
    24,
    28,
    32,
    36,
    40,
    48,
    56,
    64,
    72,
    80,
    96,
    112,
    128,
    144,
    160,
    192,
    224,
    256,
    320,
    384,
    448,
    512,
    640,
    768,
    896,
    1024,
]


@dataclass
class PairResult:
    r"""Per-pair results of :func:`pairwise`.

    Attributes
    ----------
    i, j : numpy.ndarray of int64, shape (P,)
        Indices of the first and second text of each pair.
    d_mu, d_sigma, socm : numpy.ndarray of float64, shape (P,)
        :math:`d_\mu`, :math:`d_\Sigma` and SOCM per pair.
    """

    i: np.ndarray
    j: np.ndarray
    d_mu: np.ndarray
    d_sigma: np.ndarray
    socm: np.ndarray

    def __len__(self) -> int:
        return int(self.i.shape[0])

    def summary(self) -> dict[str, float]:
        """Averages and SOCM quantiles (0.1, 0.5, 0.9, 0.99) over the pairs."""
        if len(self) == 0:
            return {"n_pairs": 0}
        q = np.quantile(self.socm, [0.1, 0.5, 0.9, 0.99])
        return {
            "n_pairs": len(self),
            "avg_socm": float(self.socm.mean()),
            "avg_d_mu": float(self.d_mu.mean()),
            "avg_d_sigma": float(self.d_sigma.mean()),
            "socm_q10": float(q[0]),
            "socm_q50": float(q[1]),
            "socm_q90": float(q[2]),
            "socm_q99": float(q[3]),
            "n_d_sigma_over_1": int((self.d_sigma > 1).sum()),
        }


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device the engine runs on: CUDA when available unless ``device`` says otherwise.

    The engine computes in float64, which Apple's MPS lacks, so ``None`` never picks MPS.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r} ({exc})") from None
    if dev.type == "mps":
        raise ValueError("the pair engine needs float64, which the MPS device does not support")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return dev


def all_pairs_index(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of all pairs i < j in ``itertools.combinations(range(n), 2)`` order."""
    i, j = np.triu_indices(n, k=1)
    return i.astype(np.int64), j.astype(np.int64)


def _pad(k: int) -> int:
    pos = bisect.bisect_left(_LADDER, k)
    return _LADDER[pos] if pos < len(_LADDER) else -(-k // 128) * 128


class _Bank:
    """All texts' factors stacked in one float64 tensor, with offsets and ranks."""

    def __init__(self, stats: Sequence[TokenStats], device: torch.device) -> None:
        self.dim = stats[0].dim
        self.rank = np.array([s.rank for s in stats], dtype=np.int64)
        self.offset = np.concatenate([[0], np.cumsum(self.rank)[:-1]]).astype(np.int64)
        rows = [s.factor for s in stats if s.rank] or [np.zeros((0, self.dim))]
        flat = np.concatenate([*rows, np.zeros((1, self.dim))])  # one zero row for padding
        self.flat = torch.from_numpy(flat).to(device)
        self.zero_row = flat.shape[0] - 1
        self.means = torch.from_numpy(np.stack([s.mean for s in stats])).to(device)
        self.trace = np.array([s.trace for s in stats], dtype=np.float64)
        self.device = device

    def padded(self, idx: np.ndarray, k: int) -> torch.Tensor:
        """Factors of texts ``idx`` zero-padded to ``k`` rows: shape (len(idx), k, D)."""
        ar = np.arange(k)
        rows = self.offset[idx, None] + ar[None, :]
        rows = np.where(ar[None, :] < self.rank[idx, None], rows, self.zero_row)
        return self.flat[torch.from_numpy(rows).to(self.device)]


def _fidelities(
    m: torch.Tensor,
    first_left: torch.Tensor | None,
    left: torch.Tensor,
    right: torch.Tensor,
    numerics: str,
    dim: int,
) -> torch.Tensor:
    """Fidelity per pair from cross-Grams ``m = left @ right^T`` (B, k1, k2).

    ``first_left`` (bool, B) says, in paper mode, whether the pair's first text is on the left.
    """
    if numerics == "exact":
        return fidelity_exact(m)
    out = torch.empty(m.shape[0], dtype=m.dtype, device=m.device)
    if first_left is None:
        first_left = torch.ones(m.shape[0], dtype=torch.bool, device=m.device)
    for flag in (True, False):
        sel = first_left if flag else ~first_left
        if not bool(sel.any()):
            continue
        if flag:  # first text on the left: eig(M^T M + eps G_right)
            second = right[sel]
            out[sel] = fidelity_paper(m[sel], second @ second.mT, dim)
        else:  # first text on the right: transpose the roles
            second = left[sel]
            out[sel] = fidelity_paper(m[sel].mT, second @ second.mT, dim)
    return out


def _groups(order: np.ndarray, rank: np.ndarray, target_rows: int, max_texts: int) -> list:
    groups, cur = [], []
    for t in order:
        k = _pad(int(max(rank[t], 1)))
        if cur and ((len(cur) + 1) * k > target_rows or len(cur) >= max_texts):
            groups.append(np.array(cur))
            cur = []
        cur.append(int(t))
    if cur:
        groups.append(np.array(cur))
    return groups


def _workers(device: torch.device) -> int:
    """Tiles run concurrently on CPU: batched LAPACK calls are serial per call."""
    return max(1, torch.get_num_threads()) if device.type == "cpu" else 1


def _all_pairs(bank: _Bank, n: int, numerics: str, progress: bool):
    n_pairs = n * (n - 1) // 2
    fid = np.empty(n_pairs)
    cos = np.empty(n_pairs)
    order = np.argsort(bank.rank, kind="stable")
    groups = _groups(order, bank.rank, target_rows=1024, max_texts=64)
    padded = []
    for g in groups:
        k = max(int(bank.rank[g].max()), 1)
        padded.append((g, k, bank.padded(g, k)))
    means = [bank.means[torch.from_numpy(g).to(bank.device)] for g in groups]
    bank.flat = None  # the padded groups hold every factor now: free the flat copy
    tiles = [(a, b) for a in range(len(groups)) for b in range(a, len(groups))]

    def run(tile: tuple[int, int]) -> None:
        a, b = tile
        ga, ka, fa = padded[a]
        gb, kb, fb = padded[b]
        if a == b:
            ia, ib = np.triu_indices(len(ga), k=1)
            if ia.size == 0:
                return
        else:
            ia = np.repeat(np.arange(len(ga)), len(gb))
            ib = np.tile(np.arange(len(gb)), len(ga))
        ta, tb = ga[ia], gb[ib]
        lo, hi = np.minimum(ta, tb), np.maximum(ta, tb)
        pos = lo * n - lo * (lo + 1) // 2 + (hi - lo - 1)
        big = fa.reshape(-1, bank.dim) @ fb.reshape(-1, bank.dim).T
        m4 = big.view(len(ga), ka, len(gb), kb).permute(0, 2, 1, 3)
        mean_cos = means[a] @ means[b].T
        if a == b:
            tia, tib = torch.from_numpy(ia).to(bank.device), torch.from_numpy(ib).to(bank.device)
            m, c = m4[tia, tib], mean_cos[tia, tib]
        else:
            m, c = m4.reshape(-1, ka, kb), mean_cos.reshape(-1)
        if numerics == "paper":
            if a != b:
                tia, tib = (
                    torch.from_numpy(ia).to(bank.device),
                    torch.from_numpy(ib).to(bank.device),
                )
            first_left = torch.from_numpy(ta < tb).to(bank.device)
            f = _fidelities(m, first_left, fa[tia], fb[tib], numerics, bank.dim)
        else:
            f = _fidelities(m, None, fa, fb, numerics, bank.dim)
        fid[pos] = f.cpu().numpy()
        cos[pos] = c.cpu().numpy()

    _run_all(run, tiles, _workers(bank.device), progress, "pairs")
    i, j = all_pairs_index(n)
    return i, j, fid, cos


def _run_all(fn, items: list, workers: int, progress: bool, desc: str) -> None:
    """Apply ``fn`` to every item (in a thread pool when ``workers > 1``), with a progress bar."""
    bar = progress_bar(len(items), desc, "batch", enabled=progress)
    if workers <= 1:
        for it in items:
            fn(it)
            bar.update(1)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as ex:
            for _ in ex.map(fn, items):
                bar.update(1)
    bar.close()


def _listed_pairs(
    bank: _Bank, pairs: np.ndarray, numerics: str, progress: bool, chunk_bytes: int = 32 << 20
):
    p = pairs.shape[0]
    fid = np.empty(p)
    cos = np.empty(p)
    i, j = pairs[:, 0], pairs[:, 1]
    ladder_k = np.array([_pad(k) for k in range(int(bank.rank.max()) + 1)], dtype=np.int64)
    ka, kb = ladder_k[bank.rank[i]], ladder_k[bank.rank[j]]
    key = ka * (int(ladder_k.max()) + 1) + kb
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    chunks = []
    for bucket in np.split(order, bounds):
        k1, k2 = int(ka[bucket[0]]), int(kb[bucket[0]])
        per_pair = 8 * ((k1 + k2) * bank.dim + 2 * (k1 * k2 + k2 * k2)) + 1
        step = max(1, chunk_bytes // per_pair)
        chunks += [(bucket[s : s + step], k1, k2) for s in range(0, bucket.size, step)]

    def run(chunk: tuple[np.ndarray, int, int]) -> None:
        sel, k1, k2 = chunk
        left, right = bank.padded(i[sel], k1), bank.padded(j[sel], k2)
        fid[sel] = _fidelities(left @ right.mT, None, left, right, numerics, bank.dim).cpu().numpy()
        ti = torch.from_numpy(i[sel]).to(bank.device)
        tj = torch.from_numpy(j[sel]).to(bank.device)
        cos[sel] = (bank.means[ti] * bank.means[tj]).sum(-1).cpu().numpy()

    _run_all(run, chunks, _workers(bank.device), progress, "pairs")
    return i.astype(np.int64), j.astype(np.int64), fid, cos


def _check_pairs(pairs: Any, n: int) -> np.ndarray:
    arr = np.asarray(pairs)
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"pairs must be an integer array of shape (P, 2), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"pairs must hold integer text indices, got dtype {arr.dtype}")
    bad = np.flatnonzero((arr < 0).any(axis=1) | (arr >= n).any(axis=1))
    if bad.size:
        r = int(bad[0])
        raise ValueError(
            f"pairs[{r}] = ({int(arr[r, 0])}, {int(arr[r, 1])}) is out of range for {n} texts "
            f"({bad.size} such pair{'s' if bad.size > 1 else ''})"
        )
    return arr.astype(np.int64)


def pairwise(
    token_lists: Sequence[Any],
    pairs: Any = None,
    numerics: Numerics = "exact",
    device: str | torch.device | None = None,
    progress: bool = False,
) -> PairResult:
    """d_μ, d_Σ and SOCM for many pairs of texts.

    Parameters
    ----------
    token_lists : sequence of array_like, torch.Tensor or TokenStats
        One ``(n_i, D)`` token-embedding matrix (or its :class:`~socm.core.stats.TokenStats`) per
        text; ``D`` must agree.
    pairs : None or int array_like, shape (P, 2)
        ``None``: all pairs ``i < j`` in ``itertools.combinations(range(N), 2)`` order.
        Otherwise the listed ``(i, j)`` pairs, in the given order (``i`` is the "first" text
        for the asymmetric paper numerics).
    numerics : {"exact", "paper"}
        See :func:`socm.core.metrics.d_sigma`.
    device : str or torch.device, optional
        Where the batched linear algebra runs (float64). Default: CUDA if available, else CPU.
    progress : bool
        Show a progress bar.

    Returns
    -------
    PairResult
        ``i``, ``j`` (int64) and ``d_mu``, ``d_sigma``, ``socm`` (float64), each of shape (P,).

    Raises
    ------
    ValueError
        On invalid token lists (naming the text's index), mismatched dimensions, pairs out of
        range or an unknown ``numerics``.

    Examples
    --------
    >>> import numpy as np
    >>> from socm import pairwise
    >>> a = np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0]])
    >>> b = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, -1.0]])
    >>> r = pairwise([a, b, a])
    >>> r.i.tolist(), r.j.tolist(), np.round(r.socm, 12).tolist()
    ([0, 0, 1], [1, 2, 2], [0.5, 0.0, 0.5])
    >>> r = pairwise([a, b, a], pairs=[[2, 1]])
    >>> np.round(r.d_sigma, 12).tolist()
    [0.5]
    """
    check_numerics(numerics)
    stats = token_stats_many(token_lists)
    n = len(stats)
    if n and any(s.dim != stats[0].dim for s in stats):
        t = next(t for t, s in enumerate(stats) if s.dim != stats[0].dim)
        raise ValueError(
            f"dimension mismatch: text {t} has D={stats[t].dim} but text 0 has D={stats[0].dim}"
        )
    arr = None if pairs is None else _check_pairs(pairs, n)
    empty = np.zeros(0, dtype=np.int64)
    if n == 0 or (arr is None and n < 2) or (arr is not None and arr.shape[0] == 0):
        z = np.zeros(0)
        return PairResult(empty, empty.copy(), z, z.copy(), z.copy())
    dev = resolve_device(device)
    with torch.inference_mode():
        bank = _Bank(stats, dev)
        if arr is None:
            i, j, fid, cos = _all_pairs(bank, n, numerics, progress)
        else:
            i, j, fid, cos = _listed_pairs(bank, arr, numerics, progress)
    dmu = d_mu_from_cosine(cos)
    dsig = d_sigma_from_bw2(bures_wasserstein2(bank.trace[i], bank.trace[j], fid))
    return PairResult(i=i, j=j, d_mu=dmu, d_sigma=dsig, socm=socm_from_parts(dmu, dsig))
