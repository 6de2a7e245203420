r"""k nearest neighbours of unit mean-pooled embeddings by cosine (the "neighbours" stage).

For unit rows :math:`\tilde\mu_1, \dots, \tilde\mu_N` the neighbours of text :math:`i` are the
:math:`k` texts :math:`j \ne i` with the largest cosine :math:`c_{ij} = \tilde\mu_i^\top
\tilde\mu_j`, ties broken by the lower index :math:`j`.

**The reference value.** :math:`c_{ij}` is defined as the float64 value of one fixed kernel,
:func:`pair_cosines` (elementwise product, then a sum over the D coordinates, the kernel
:func:`socm.core.pairs.pairwise` uses for its cosines): it is symmetric (:math:`c_{ij} =
c_{ji}` bit for bit) and the same for a pair whichever batch it is computed in, so duplicate
texts tie exactly and the tie rule applies. Every method ranks its final candidates by this
value; fast matrix products only *shortlist* candidates.

**Exact shortlists.** A score :math:`s_{ij}` from a matrix product (float64 or float32
blocks, or faiss in float32) differs from :math:`c_{ij}` by at most
:math:`\tau = \varepsilon_s + \varepsilon_c`, where for rows of norm at most :math:`r` the
classic dot-product bounds (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed.,
Sec. 3.1) give, for any summation order (blocked, pairwise, FMA),

.. math::

    \varepsilon_c = \gamma_D(u_{64})\, r^2, \qquad
    \varepsilon_s = \gamma_D(u)(1 + u)^2 r^2 + (2u + u^2) r^2, \qquad
    \gamma_D(u) = \frac{Du}{1 - Du},

with :math:`u` the unit roundoff of the product's dtype (the second term of
:math:`\varepsilon_s`, the rounding of float64 rows to float32, is dropped in float64).
:math:`\tau \approx 2.3 \cdot 10^{-5}` in float32 and :math:`8.6 \cdot 10^{-14}` in float64 at
D = 384. Let :math:`S_k` be the :math:`k`-th largest score of row :math:`i` (self excluded).
Every true neighbour :math:`j` has :math:`s_{ij} \ge S_k - 2\tau`: otherwise
:math:`c_{ij} < S_k - \tau`, while the :math:`k` texts with score at least :math:`S_k` all have
:math:`c \ge S_k - \tau`, so :math:`j` would not be among the top :math:`k`. The shortlist
:math:`\{j : s_{ij} \ge S_k - 2\tau\}` therefore contains the exact answer, which re-ranking it
by :math:`c_{ij}` (descending, ties by index) returns.

**Depth and margin.** A search keeps the ``k + margin`` best scores of each row. Every score
left out is at most the last one kept, so when that one is below :math:`S_k - 2\tau` the kept
scores hold the whole shortlist (*certified*). Otherwise — more than ``margin`` other texts
within :math:`2\tau` of the :math:`k`-th score: duplicates, or texts float32 cannot tell
apart — the row is searched further: the full row of the block (``"exact"``) or a search
twice as deep, up to all N (``"faiss"``). ``margin`` thus changes speed, never the result.

Methods:

* ``"exact"``: blocked products ``block @ means.T`` (torch, on ``device``; memory
  :math:`O(\text{block} \cdot N)`, never :math:`O(N^2)`), then ``torch.topk``. Blocks are
  float64, or float32 on the CPU above :data:`AUTO_EXACT_MAX` texts (about half the time;
  the same result, by the bound above).
* ``"faiss"``: a faiss ``IndexFlatIP`` (float32, exhaustive) gives the kept scores. The result
  equals ``"exact"``'s bit for bit; the bound assumes IEEE float32 arithmetic, which
  faiss-cpu's BLAS and SIMD kernels use (a reduced-precision GPU index would break it).
* ``"hnsw"``: an approximate faiss HNSW graph over the means stored in float16
  (``IndexHNSWSQ``, half the memory of float32 vectors: 0.77 GB less at N = 10^6, D = 384)
  returns a shortlist of ``k + margin`` other texts, re-ranked by :math:`c_{ij}`; neighbours
  it misses are lost. Its recall@k against ``"exact"`` is measured on a random sample of
  queries and reported. Measured (N = 100,000 synthetic means, D = 384, k = 10, M = 32):
  recall 0.9999 with float32 vectors and k + 1 candidates, 0.985 with float16 vectors and
  k + 1, 1.0000 with float16 vectors and the default shortlist of 2k + 1; the float16 graph
  built in 22 s against 35 s.
* ``"auto"``: ``"exact"`` (:data:`AUTO_METHOD`) while its estimated time
  (:func:`exact_search_seconds`: :math:`2 N^2 D` flops at the rate of one timed block
  product) is at most :data:`AUTO_EXACT_SECONDS`, or on a GPU; beyond, on a CPU, ``"hnsw"``
  when faiss is installed (its recall is measured and reported), else ``"exact"`` anyway.
  Measured on this project's 2-core CPU (synthetic unit means, D = 384, k = 10): exact took
  18 s at N = 50,000, so about 2 hours at N = 10^6; HNSW took 58 s at N = 50,000 with recall
  0.87. The faiss flat index gives the exact result but measured about 2x slower than torch's
  float32 blocks on the CPU (faiss-cpu 1.15.1 wheel, N = 50,000, D = 384); it remains
  available for environments where its BLAS is the faster one.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from socm.core.pairs import release_freed_memory, resolve_device

__all__ = [
    "AUTO_EXACT_MAX",
    "AUTO_EXACT_SECONDS",
    "AUTO_METHOD",
    "HNSW_VERSION",
    "METHODS",
    "auto_method",
    "exact_search_seconds",
    "nearest_neighbors",
    "pair_cosines",
    "require_faiss",
]

METHODS: tuple[str, ...] = ("auto", "exact", "faiss", "hnsw")
AUTO_METHOD = "exact"
"""What ``method="auto"`` runs while it fits :data:`AUTO_EXACT_SECONDS` (see the module
docstring for why not ``"faiss"``)."""
AUTO_EXACT_SECONDS = 1200.0
"""Longest estimated exact search ``method="auto"`` runs on a CPU before it switches to
``"hnsw"`` (when faiss is installed)."""
AUTO_EXACT_MAX = 20_000
"""Largest N for which ``"exact"`` shortlists with float64 blocks by default (float32 above)."""

HNSW_VERSION = 2
"""Version of the ``"hnsw"`` search's algorithm (2: float16 vectors and a shortlist of
``k + margin``; 1: float32 vectors and ``k + 1``), part of the key of cached candidates."""

_U64 = 2.0**-53
_U32 = 2.0**-24


def require_faiss() -> Any:
    """Import and return :mod:`faiss`, or raise ``ImportError`` saying how to install it."""
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "this neighbour search needs faiss: pip install 'socm[faiss]' (or pip install "
            "faiss-cpu)"
        ) from exc
    return faiss


def _gamma(n: int, u: float) -> float:
    """:math:`\\gamma_n = nu / (1 - nu)`, the relative error bound of an n-term dot product."""
    return n * u / (1.0 - n * u)


def _score_tolerance(dim: int, norm2: float, unit_roundoff: float) -> float:
    r""":math:`\tau`: the most a shortlist score and :func:`pair_cosines` can differ by."""
    eps_c = _gamma(dim, _U64) * norm2
    u = unit_roundoff
    eps_s = (_gamma(dim, u) * (1 + u) ** 2 + (2 * u + u * u if u > _U64 else 0.0)) * norm2
    return 1.01 * (eps_s + eps_c)  # 1 % slack for the rounding of this very formula


def pair_cosines(
    means: np.ndarray | torch.Tensor, i: np.ndarray, j: np.ndarray, chunk: int = 8192
) -> np.ndarray:
    r"""The reference cosines :math:`c_{ij} = \sum_d \tilde\mu_{i,d}\,\tilde\mu_{j,d}` (float64).

    One fixed CPU kernel (elementwise product, then ``sum`` over the last axis, as in
    :func:`socm.core.pairs.pairwise`), so a pair's value does not depend on the batch it is
    computed in and :math:`c_{ij} = c_{ji}` exactly.

    Parameters
    ----------
    means : numpy.ndarray or torch.Tensor, shape (N, D)
        Unit mean embeddings (float64).
    i, j : numpy.ndarray of int, shape (P,)
        Pairs.
    chunk : int
        Pairs per batch (bounds the gathered memory to ``3 * chunk * D`` floats: 75 MB at
        D = 384; 65,536 pairs a batch made a 0.6 GB peak of a mine's random pairs).
    """
    m = torch.as_tensor(means, dtype=torch.float64, device="cpu")
    out = np.empty(len(i), dtype=np.float64)
    for s in range(0, len(i), chunk):
        a = m[torch.from_numpy(np.asarray(i[s : s + chunk], dtype=np.int64))]
        b = m[torch.from_numpy(np.asarray(j[s : s + chunk], dtype=np.int64))]
        out[s : s + chunk] = (a * b).sum(-1).numpy()
    return out


def _select(
    means: torch.Tensor, rows: np.ndarray, r: np.ndarray, c: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top k of each query from a shortlist that contains it.

    ``r`` (positions into ``rows``, each present at least ``k`` times) and ``c`` (candidate
    texts, self excluded) list the shortlist; candidates are ranked by :func:`pair_cosines`,
    descending, ties by lower index.
    """
    if len(rows) == 0:
        return np.zeros((0, k), dtype=np.int64), np.zeros((0, k))
    cos = pair_cosines(means, rows[r], c)
    order = np.lexsort((c, -cos, r))
    counts = np.bincount(r, minlength=len(rows))
    if counts.min() < k:  # pragma: no cover - guarded by construction
        raise RuntimeError("neighbour shortlist shorter than k")
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    take = order[(start[:, None] + np.arange(k)[None, :]).ravel()]
    return c[take].reshape(len(rows), k), cos[take].reshape(len(rows), k)


def _bar(progress: bool, total: int, desc: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="text")


def _float32_blocks_ok(device: torch.device) -> bool:
    """Whether float32 products on ``device`` run in IEEE float32 (the bound assumes it).

    Only the CPU qualifies, and only while torch is not allowed reduced-precision (bf16/TF32)
    float32 matrix products; on CUDA float64 blocks are used.
    """
    if device.type != "cpu" or torch.get_float32_matmul_precision() != "highest":
        return False
    mkldnn = getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)
    return getattr(mkldnn, "fp32_precision", "ieee") in ("ieee", "none")


def _float32_blocks(device: torch.device, block_dtype: str, n: int) -> bool:
    """Whether the exact search of ``n`` texts runs float32 blocks (``block_dtype`` as for
    :func:`nearest_neighbors`)."""
    wanted = block_dtype == "float32" or (block_dtype == "auto" and n > AUTO_EXACT_MAX)
    return wanted and _float32_blocks_ok(device)


def _round_down(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``x`` in ``dtype``, rounded towards -inf (so a threshold never excludes too much)."""
    y = x.to(dtype)
    return torch.where(y.double() > x, torch.nextafter(y, torch.full_like(y, -math.inf)), y)


def _exact(
    means: np.ndarray,
    k: int,
    rows: np.ndarray,
    device: torch.device,
    dtype: torch.dtype,
    norm2: float,
    block_bytes: int,
    progress: bool,
    margin: int | None = None,
    among: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Blocked search for the queries ``rows`` among the texts ``among`` (default all; both
    index ``means``, and so do the neighbours returned): memory O(block * N).

    Each block row keeps its ``k + margin`` best scores (``torch.topk``); when the last of
    them is below the threshold they hold the whole shortlist, otherwise (near-ties) the
    shortlist is read off the full row. Returns also the number of such rows.
    """
    n, dim = means.shape
    n_among = n if among is None else len(among)
    tau = _score_tolerance(dim, norm2, _U32 if dtype == torch.float32 else _U64)
    depth = min(n_among - 1, k + (max(k, 8) if margin is None else margin))
    outside = None  # the texts no query may take: their scores are set to -inf
    if n_among < n:
        outside = torch.ones(n, dtype=torch.bool, device=device)
        outside[torch.from_numpy(np.asarray(among, dtype=np.int64)).to(device)] = False
    m_cpu = torch.from_numpy(means)
    # on the CPU, means of another dtype are converted a column chunk at a time (no copy of
    # all N means: memory beyond the means stays O(block * N))
    chunked = device.type == "cpu" and m_cpu.dtype != dtype
    m = m_cpu if chunked else m_cpu.to(device=device, dtype=dtype)
    itemsize = 4 if dtype == torch.float32 else 8
    block = int(max(1, min(len(rows), block_bytes // (itemsize * max(n, 1)))))
    idx = np.empty((len(rows), k), dtype=np.int64)
    cos = np.empty((len(rows), k), dtype=np.float64)
    n_full = 0
    bar = _bar(progress, len(rows), "neighbours")
    with torch.inference_mode():
        for s in range(0, len(rows), block):
            q = rows[s : s + block]
            tq = torch.from_numpy(q).to(device)
            scores = _scores(m, tq, dtype) if chunked else m[tq] @ m.T  # (b, N)
            scores[torch.arange(len(q), device=device), tq] = -math.inf  # self
            if outside is not None:
                scores[:, outside] = -math.inf
            val, lab = torch.topk(scores, depth, dim=1)  # descending
            thr = _round_down(val[:, k - 1].double() - 2 * tau, dtype)
            # every score left out is at most the last kept one
            full = (val[:, -1] >= thr) & (depth < n_among - 1)
            r, col = torch.nonzero((val >= thr[:, None]) & ~full[:, None], as_tuple=True)
            c = lab[r, col]
            if bool(full.any()):  # near-ties beyond the kept depth: scan those rows fully
                fr = torch.nonzero(full).squeeze(1)
                n_full += int(fr.numel())
                r2, c2 = torch.nonzero(scores[fr] >= thr[fr, None], as_tuple=True)
                r, c = torch.cat([r, fr[r2]]), torch.cat([c, c2])
            del scores
            idx[s : s + block], cos[s : s + block] = _select(
                m_cpu, q, r.cpu().numpy(), c.cpu().numpy(), k
            )
            release_freed_memory(collect=False)  # the block's temporaries, not kept on the heap
            if bar is not None:
                bar.update(len(q))
    if bar is not None:
        bar.close()
    return idx, cos, n_full


def _scores(m: torch.Tensor, rows: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``m[rows] @ m.T`` in ``dtype`` with ``m`` (CPU) converted :data:`CONVERT_CHUNK_TEXTS` rows at
    a time: the same products, without a converted copy of ``m``."""
    q = m[rows].to(dtype)
    out = torch.empty(len(rows), m.shape[0], dtype=dtype)
    for c in range(0, m.shape[0], CONVERT_CHUNK_TEXTS):
        out[:, c : c + CONVERT_CHUNK_TEXTS] = q @ m[c : c + CONVERT_CHUNK_TEXTS].to(dtype).T
    return out


#: Texts converted at a time by :func:`_scores` (12 MB of float32 at D = 384).
CONVERT_CHUNK_TEXTS = 8192


def _batches(n: int, size: int) -> Iterable[np.ndarray]:
    for s in range(0, n, size):
        yield np.arange(s, min(n, s + size), dtype=np.int64)


def _numbering(among: np.ndarray | None) -> Callable[[np.ndarray], np.ndarray]:
    """Positions among the searched texts -> texts (indices into the means)."""
    if among is None:
        return lambda pos: pos
    return lambda pos: among[pos]


def _faiss_flat(
    means: np.ndarray,
    k: int,
    margin: int,
    tau: float,
    batch: int,
    progress: bool,
    among: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Float32 faiss flat search among the texts ``among`` (default all), certified
    shortlists, exact float64 re-ranking; rows in ``among``'s order, neighbours index
    ``means``."""
    faiss = require_faiss()
    text = _numbering(among)
    dim = means.shape[1]
    x32 = np.ascontiguousarray(means if among is None else means[among], dtype=np.float32)
    n = len(x32)
    index = faiss.IndexFlatIP(dim)
    index.add(x32)
    m_cpu = torch.from_numpy(means)
    idx = np.empty((n, k), dtype=np.int64)
    cos = np.empty((n, k), dtype=np.float64)
    n_deeper = 0
    bar = _bar(progress, n, "neighbours")
    for q in _batches(n, batch):
        pending, depth = q, min(n, k + margin + 1)
        while pending.size:
            sc, lab = index.search(x32[pending], depth)
            sc = sc.astype(np.float64)
            other = (lab != pending[:, None]) & (lab >= 0)
            # k-th best score among the other texts (faiss returns scores in descending order)
            kth = np.where(other, sc, -np.inf)
            kth = -np.partition(-kth, k - 1, axis=1)[:, k - 1]
            thr = kth - 2 * tau
            # complete when some returned score (self included) falls below the threshold:
            # every text not returned scores at most the smallest returned score
            lowest = np.where(lab >= 0, sc, np.inf).min(axis=1)
            done = (lowest < thr) | (depth >= n)
            keep = other & (sc >= thr[:, None]) & done[:, None]
            r, col = np.nonzero(keep)
            rows = pending[done]
            pos = np.cumsum(done) - 1  # position of each done row among `rows`
            idx[rows], cos[rows] = _select(m_cpu, text(rows), pos[r], text(lab[r, col]), k)
            if bar is not None:
                bar.update(int(done.sum()))
            pending = pending[~done]
            if pending.size:
                n_deeper += int(pending.size)
                depth = min(n, 2 * depth)
    if bar is not None:
        bar.close()
    return idx, cos, n_deeper


def _hnsw(
    means: np.ndarray,
    k: int,
    depth: int,
    hnsw_m: int,
    ef_construction: int,
    ef_search: int,
    batch: int,
    progress: bool,
    among: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Approximate HNSW search among the texts ``among`` (default all; rows in its order,
    neighbours index ``means``), a shortlist of ``depth`` texts per query (itself among them)
    re-ranked by the reference cosine; returns also the rows with fewer than ``k`` others."""
    faiss = require_faiss()
    text = _numbering(among)
    dim = means.shape[1]
    n = len(means) if among is None else len(among)
    fp16 = faiss.ScalarQuantizer.QT_fp16
    index = faiss.IndexHNSWSQ(dim, fp16, hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    bar = _bar(progress, n, "neighbour graph")
    for q in _batches(n, 1 << 14):  # the index holds its own float16 copy: add in slices
        block = np.ascontiguousarray(means[text(q)], dtype=np.float32)
        if not index.is_trained:
            index.train(block)  # float16 storage learns nothing; faiss asks for the call
        index.add(block)
        if bar is not None:
            bar.update(len(q))
    if bar is not None:
        bar.close()
    index.hnsw.efSearch = max(ef_search, depth)
    m_cpu = torch.from_numpy(means)
    idx = np.empty((n, k), dtype=np.int64)
    cos = np.empty((n, k), dtype=np.float64)
    short = []
    bar = _bar(progress, n, "neighbours")
    for q in _batches(n, batch):
        _, lab = index.search(np.ascontiguousarray(means[text(q)], dtype=np.float32), depth)
        other = (lab != q[:, None]) & (lab >= 0)
        enough = other.sum(axis=1) >= k
        short.append(q[~enough])
        rows = q[enough]
        pos = np.cumsum(enough) - 1
        r, col = np.nonzero(other & enough[:, None])
        idx[rows], cos[rows] = _select(m_cpu, text(rows), pos[r], text(lab[r, col]), k)
        if bar is not None:
            bar.update(len(q))
    if bar is not None:
        bar.close()
    index.reset()  # the graph and the vectors go before the exact checks that follow
    del index
    return idx, cos, np.concatenate(short) if short else np.zeros(0, dtype=np.int64)


def _checked(means: Any, searched: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """The means as a C-contiguous float64 ``(N, D)`` array of finite values (read a slice at
    a time, not copied where they are one already), and the texts to search: increasing
    indices below ``N`` (None: every text)."""
    arr = np.ascontiguousarray(np.asarray(means, dtype=np.float64))
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"means must be a 2-D (N, D) array, got shape {arr.shape}")
    n = len(arr)
    if not all(np.isfinite(arr[s : s + 8192]).all() for s in range(0, n, 8192)):
        raise ValueError("means contain NaN or inf")
    if searched is None:
        return arr, None
    among = np.asarray(searched)
    if among.size and not np.issubdtype(among.dtype, np.integer):
        raise ValueError(f"searched must hold integer text indices, got dtype {among.dtype}")
    among = among.astype(np.int64)
    if among.ndim != 1 or (
        among.size and (among[0] < 0 or among[-1] >= n or (np.diff(among) <= 0).any())
    ):
        raise ValueError(f"searched must hold increasing text indices below N = {n}")
    return arr, None if len(among) == n else among


def _recall(
    idx: np.ndarray,
    exact: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, int]],
    queries: np.ndarray,
    size: int,
    seed: int,
) -> tuple[float, int]:
    """Recall@k of the neighbours ``idx`` (rows: ``queries``) on a seeded sample of ``size``
    queries searched again by ``exact``, and the sample's size."""
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(queries), size=min(len(queries), size), replace=False))
    ref, _, _ = exact(queries[sample])
    hits = (idx[sample][:, :, None] == ref[:, None, :]).any(axis=2).sum()
    return float(hits) / ref.size, len(sample)


def exact_search_seconds(
    means: np.ndarray,
    device: str | torch.device | None = None,
    rows: int = 1024,
    block_dtype: str = "auto",
    n_searched: int | None = None,
) -> float:
    r"""Estimated wall time of the ``"exact"`` search of ``means``: :math:`2 S N D` flops
    (:math:`S` texts searched, ``n_searched``, default all :math:`N`: each is multiplied by
    every mean, those not searched masked) at the rate of one timed ``rows x min(N, 16384)``
    block product in the search's dtype (``block_dtype`` as for :func:`nearest_neighbors`:
    ``"auto"`` is float32 on the CPU above :data:`AUTO_EXACT_MAX` searched texts), times 1.25
    for the top-k and the shortlists.

    Examples
    --------
    >>> exact_search_seconds(np.eye(4)) < 1.0
    True
    """
    n, dim = means.shape
    searched = n if n_searched is None else int(n_searched)
    dev = resolve_device(device)
    dtype = torch.float32 if _float32_blocks(dev, block_dtype, searched) else torch.float64
    cols = min(n, 16384)  # a 64 MB product in float32: the timing's memory does not grow with N
    a = torch.as_tensor(np.asarray(means[:rows]), device=dev).to(dtype)
    b = torch.as_tensor(np.asarray(means[:cols]), device=dev).to(dtype)
    a @ b.T  # warm-up
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    a @ b.T
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    rate = 2.0 * len(a) * cols * dim / max(time.perf_counter() - t0, 1e-9)
    return 1.25 * 2.0 * searched * n * dim / rate


def auto_method(
    means: np.ndarray,
    device: str | torch.device | None = None,
    block_dtype: str = "auto",
    n_searched: int | None = None,
) -> tuple[str, float]:
    """What ``method="auto"`` runs on these means (``n_searched`` of them searched, default
    all), and the exact search's estimated seconds (:func:`exact_search_seconds`): ``"exact"``
    when it fits :data:`AUTO_EXACT_SECONDS` or on a GPU, else ``"hnsw"`` where faiss is
    installed."""
    estimate = exact_search_seconds(means, device, block_dtype=block_dtype, n_searched=n_searched)
    if estimate <= AUTO_EXACT_SECONDS or resolve_device(device).type == "cuda":
        return AUTO_METHOD, estimate
    try:
        require_faiss()
    except ImportError:
        return AUTO_METHOD, estimate
    return "hnsw", estimate


def nearest_neighbors(
    means: np.ndarray,
    k: int,
    method: str = "auto",
    device: str | torch.device | None = None,
    progress: bool = False,
    *,
    margin: int | None = None,
    block_bytes: int = 128 << 20,
    block_dtype: str = "auto",
    batch: int = 8192,
    hnsw_m: int = 32,
    ef_construction: int = 200,
    ef_search: int = 128,
    recall_sample: int = 1000,
    seed: int = 0,
    searched: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    r"""The ``k`` texts with the highest cosine to each text, self excluded.

    Parameters
    ----------
    means : numpy.ndarray, shape (N, D)
        Unit mean embeddings :math:`\tilde\mu_i` (one row per text; converted to float64).
    k : int
        Neighbours per text, ``1 <= k < N`` (``N``: the texts searched).
    method : {"auto", "exact", "faiss", "hnsw"}
        Search method (see the module docstring). ``"exact"`` and ``"faiss"`` return the same
        arrays; ``"hnsw"`` is approximate.
    device : str or torch.device, optional
        Where the ``"exact"`` blocked products run (default: CUDA if available, else CPU).
        faiss methods run on the CPU.
    progress : bool
        Show a progress bar.
    margin : int, optional
        Extra candidates kept per query beyond ``k`` (default ``max(k, 8)``): for
        ``"exact"`` and ``"faiss"`` it affects speed only, never the result; for ``"hnsw"``
        the graph's shortlist, re-ranked in float64 (a longer one raises recall).
    block_bytes : int
        ``"exact"``: memory of one block of scores (``block * N * itemsize`` bytes). The
        default, 128 MiB, keeps the search's memory beyond the means at about 0.15 GB (N =
        20,000, float64 blocks) and 0.23 GB (N = 100,000, float32), each block's temporaries
        handed back to the system; 256 MiB took 0.29 / 0.42 GB and was about 5% faster
        (measured on 2 cores).
    block_dtype : {"auto", "float64", "float32"}
        ``"exact"``: dtype of the blocked products that shortlist candidates; the result does
        not depend on it. ``"auto"``: float32 on the CPU above :data:`AUTO_EXACT_MAX` texts
        (half the memory traffic), else float64. float32 is refused where torch may run it in
        reduced precision (CUDA TF32, oneDNN bf16): then float64 is used.
    batch : int
        faiss methods: queries per search call.
    hnsw_m, ef_construction, ef_search : int
        ``"hnsw"``: graph degree ``M``, ``efConstruction`` and ``efSearch`` (at least the
        shortlist, ``k + margin + 1``).
    recall_sample : int
        ``"hnsw"``: queries on which recall@k is measured against ``"exact"``.
    seed : int
        Seed of that sample.
    searched : numpy.ndarray of int, optional
        The texts searched, increasing indices into ``means`` (default all; every mean must
        be finite): the neighbours and cosines of searching ``means[searched]`` (numbered
        within it) without that copy; ``"exact"`` multiplies each searched text by every
        mean (the others masked), and its estimate counts that work.

    Returns
    -------
    indices : numpy.ndarray of int64, shape (N, k)
        Neighbours of each text searched, by descending cosine, ties by lower index.
    cosines : numpy.ndarray of float64, shape (N, k)
        Their reference cosines (:func:`pair_cosines`).
    info : dict
        ``method`` (the one used), ``exact`` (bool), ``k``, and per method: ``tolerance``
        (:math:`\tau`), ``block_dtype``, ``margin`` and ``n_full_rows`` (rows whose shortlist
        came from a full scan, ``"exact"``); ``tolerance``, ``margin`` and
        ``n_deeper_searches`` (queries searched again, ``"faiss"``); ``recall``,
        ``recall_queries``, ``n_exact_fallback``, ``margin``, ``storage`` and the HNSW
        parameters (``"hnsw"``).

    Raises
    ------
    ValueError
        On a bad shape, non-finite values, ``k`` out of range or an unknown method.
    ImportError
        When a faiss method is asked for and faiss is not installed.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    arr, among = _checked(means, searched)
    n, dim = arr.shape
    n_searched = n if among is None else len(among)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer, got {k!r}")
    k = int(k)
    if not 1 <= k < n_searched:
        raise ValueError(f"k must satisfy 1 <= k < N = {n_searched} (the number of texts), got {k}")
    norm2 = float(np.einsum("ij,ij->i", arr, arr).max())
    if block_dtype not in ("auto", "float64", "float32"):
        raise ValueError(f"block_dtype must be 'auto', 'float64' or 'float32', got {block_dtype!r}")
    if margin is not None and (isinstance(margin, bool) or int(margin) != margin or margin < 0):
        raise ValueError(f"margin must be a non-negative integer, got {margin!r}")
    margin = max(k, 8) if margin is None else int(margin)
    dev = resolve_device(device)
    f32 = _float32_blocks(dev, block_dtype, n_searched)
    dtype = torch.float32 if f32 else torch.float64
    info: dict[str, Any] = {}
    if method == "auto":
        method, estimate = auto_method(arr, dev, block_dtype, n_searched)
        info["auto"] = {"estimated_exact_s": round(estimate, 1), "limit_s": AUTO_EXACT_SECONDS}
    info.update(method=method, k=k, exact=method != "hnsw")
    queries = np.arange(n, dtype=np.int64) if among is None else among
    if method == "exact":
        idx, cos, n_full = _exact(
            arr, k, queries, dev, dtype, norm2, block_bytes, progress, margin, among
        )
        info.update(
            tolerance=_score_tolerance(dim, norm2, _U32 if f32 else _U64),
            block_dtype="float32" if f32 else "float64",
            margin=margin,
            n_full_rows=n_full,
        )
    elif method == "faiss":
        tau = _score_tolerance(dim, norm2, _U32)
        idx, cos, deeper = _faiss_flat(arr, k, margin, tau, batch, progress, among)
        info.update(tolerance=tau, margin=margin, n_deeper_searches=deeper)
    else:
        depth = min(n_searched, k + margin + 1)  # the shortlist, the query itself included
        idx, cos, short = _hnsw(
            arr, k, depth, hnsw_m, ef_construction, ef_search, batch, progress, among
        )
        exact = functools.partial(
            _exact, arr, k, device=dev, dtype=dtype, norm2=norm2, block_bytes=block_bytes,
            progress=False, among=among,
        )  # fmt: skip
        if short.size:  # the graph returned fewer than k other texts: search those exactly
            idx[short], cos[short], _ = exact(queries[short])
        recall, n_queries = _recall(idx, exact, queries, recall_sample, seed)
        info.update(
            recall=recall,
            recall_queries=n_queries,
            n_exact_fallback=int(short.size),
            margin=margin,
            storage="float16",
            hnsw_m=hnsw_m,
            ef_construction=ef_construction,
            ef_search=max(ef_search, depth),
        )
    if among is not None:  # texts -> positions among the searched
        idx = np.searchsorted(among, idx)
    return idx, cos, info
