r"""Batched pair engine (the "pairs" stage): d_μ, d_Σ and SOCM for many pairs at once.

The formulas live in :mod:`socm.core.metrics`; this module only schedules them. Each text is
reduced once to its unit mean and compact covariance factor :math:`F_i` (``rank_i x D``,
:mod:`socm.core.stats`). For a pair the fidelity term of the Bures–Wasserstein distance is the
nuclear norm of the small cross-Gram matrix :math:`F_i F_j^\top`, so no :math:`D \times D`
matrix is ever formed.

* **All pairs** (``pairs=None``): texts are sorted by rank and cut into groups whose zero-padded
  factors stack into one ``(rows, D)`` block; each group pair's cross-Grams come out of one
  large matrix product, and their singular values out of one batched call.
* **Between two sets** (:func:`iter_pairwise_between`): the same groups on each side, one tile
  per (group of A, group of B); every pair once, the text from A first.
* **Listed pairs**: pairs are bucketed by their padded ranks, the factors gathered, and the
  cross-Grams formed by a batched product, chunk by chunk (memory stays bounded for any number
  of pairs).

Zero padding adds only zero singular values, so texts of different lengths batch together
without changing any result.

Where the time goes (exact numerics, D = 384, texts of n tokens, one thread, measured on this
project's 2-core CPU with ``benchmarks/bench_engine.py --breakdown n``): per pair, the
cross-Gram product :math:`F_i F_j^\top` (:math:`2r^2D` flops, r = n − 1, at ~40 GFLOP/s: near
the core's peak), the Gram :math:`K = MM^\top` and its eigenvalues
(:func:`~socm.core.metrics.fidelity_exact`), and the rest (scheduling, copies, Python):

======  ========  ==========  ====  ===========  ====
tokens  µs/pair   cross-Gram  Gram  eigenvalues  rest
======  ========  ==========  ====  ===========  ====
32      59        33%         15%   51%          ~0%
128     991       30%         14%   47%          9%
512     8,276     33%         21%   52%          ~0%
======  ========  ==========  ====  ===========  ====

From 96 rows on the CPU the Gram is one ``dsyrk`` and the eigenvalues one LAPACK ``dsyevr``
per matrix (its tridiagonal reduction, BLAS-2 bound, runs at ~6 GFLOP/s: the floor of an
exact route; LAPACK's two-stage driver was slower at these sizes); below, one batched product
and torch's batched ``eigvalsh``. The SVD fallback for ill-conditioned Grams costs ~2% at 32
tokens and nothing measurable above. With the eigenvalues alone at about half of a pair's
time, the engine is within about 2× of what an exact float64 route can do here.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from socm.core.locality import chunk_pairs, locality_order
from socm.core.metrics import Numerics, check_numerics, fidelity_exact, fidelity_paper
from socm.core.pool import cpu_workers, run_all
from socm.core.schema import PairParts, PairSchema, compute_columns, current_schema
from socm.core.stats import TokenStats, check_same_dim, token_stats_many
from socm.progress import progress_bar

__all__ = [
    "LAZY_BUDGET_BYTES",
    "PairResult",
    "ScoreOptions",
    "all_pairs_index",
    "iter_pairwise",
    "iter_pairwise_between",
    "iter_pairwise_lazy",
    "pair_position",
    "pairwise",
    "resolve_device",
]

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


class PairResult:
    r"""Per-pair results of :func:`pairwise`: the pairs and one array per pair column.

    Attributes
    ----------
    i, j : numpy.ndarray of int64, shape (P,)
        Indices of the first and second text of each pair.
    columns : dict of numpy.ndarray, each of shape (P,)
        One entry per column of the schema the pairs were scored with
        (:mod:`socm.core.schema`: ``d_mu``, ``d_sigma``, ``socm``, ``relative_d_sigma`` and
        any registered column), each also an attribute (``r.socm``).

    Examples
    --------
    >>> r = PairResult([0], [1], socm=[0.25])
    >>> r.socm.tolist(), r.fields, len(r)
    ([0.25], ('i', 'j', 'socm'), 1)
    """

    def __init__(self, i: Any, j: Any, **columns: Any) -> None:
        self.i = np.asarray(i, dtype=np.int64).reshape(-1)
        self.j = np.asarray(j, dtype=np.int64).reshape(-1)
        self.columns = {name: np.asarray(v).reshape(-1) for name, v in columns.items()}
        if self.j.shape != self.i.shape or any(
            v.shape != self.i.shape for v in self.columns.values()
        ):
            raise ValueError("a PairResult needs i, j and every column of one length")

    def __getattr__(self, name: str) -> np.ndarray:
        columns = self.__dict__.get("columns")
        if columns is not None and name in columns:
            return columns[name]
        raise AttributeError(f"PairResult has no column {name!r}")

    def __len__(self) -> int:
        return int(self.i.shape[0])

    def __repr__(self) -> str:
        return f"PairResult({len(self)} pairs; columns {', '.join(self.columns)})"

    @property
    def fields(self) -> tuple[str, ...]:
        """``("i", "j", *columns)``."""
        return ("i", "j", *self.columns)

    def take(self, index: Any) -> PairResult:
        """The pairs at ``index`` (an integer array or a boolean mask)."""
        return PairResult(
            self.i[index], self.j[index], **{k: v[index] for k, v in self.columns.items()}
        )

    @classmethod
    def concat(cls, tiles: Sequence[PairResult], schema: PairSchema | None = None) -> PairResult:
        """The tiles one after the other (an empty result with ``schema``'s columns when there
        are none; the tile itself when there is one)."""
        if not tiles:
            return cls.empty(schema)
        if len(tiles) == 1:  # no copy: a mine's single tile of every candidate is large
            return tiles[0]
        names = list(tiles[0].columns)
        return cls(
            np.concatenate([t.i for t in tiles]),
            np.concatenate([t.j for t in tiles]),
            **{k: np.concatenate([t.columns[k] for t in tiles]) for k in names},
        )

    @classmethod
    def empty(cls, schema: PairSchema | None = None) -> PairResult:
        """No pairs, with the columns of ``schema`` (default :func:`~socm.core.schema.
        current_schema`)."""
        cols = current_schema() if schema is None else schema
        e = np.zeros(0, dtype=np.int64)
        return cls(e, e.copy(), **{c.name: np.zeros(0, dtype=c.dtype) for c in cols})

    def summary(
        self,
        n_texts: int | None = None,
        n_population: int | None = None,
        pairs_possible: int | None = None,
        n_listed: int | None = None,
        level: float = 0.95,
    ) -> dict[str, Any]:
        r"""Averages with confidence intervals, SOCM quantiles (0.1, 0.5, 0.9, 0.99) and the
        count of pairs with :math:`d_\Sigma > 1` (:class:`socm.core.uncertainty.PairAccumulator`).

        Parameters
        ----------
        n_texts : int, optional
            Texts the pairs index (default: the largest index + 1).
        n_population : int, optional
            Corpus size the texts were sampled from (None: an infinite corpus; equal to
            ``n_texts`` with all pairs scored: a zero-width interval).
        pairs_possible : int, optional
            Pairs that could have been scored (default all pairs of the texts).
        n_listed : int, optional
            The pairs are (a sample of) a fixed list of this many pairs: the interval is for
            the mean over that list.
        level : float
            Confidence level (keys ``avg_socm_ci95`` etc. for 0.95).

        Examples
        --------
        >>> import numpy as np, socm
        >>> rng = np.random.default_rng(0)
        >>> r = socm.pairwise([rng.normal(1, 1, (8, 4)) for _ in range(6)])
        >>> s = r.summary(n_population=6)  # the whole corpus, all pairs: no uncertainty left
        >>> s["avg_socm_ci95"][1] - s["avg_socm_ci95"][0]
        0.0
        """
        if len(self) == 0:
            return {"n_pairs": 0}
        from socm.core.uncertainty import PairAccumulator

        n = n_texts if n_texts is not None else int(max(self.i.max(), self.j.max())) + 1
        own = tuple(c for c in current_schema() if c.name in self.columns)  # its own columns
        acc = PairAccumulator(n, own)
        acc.add(self)
        out = acc.result(n_population, pairs_possible, level, n_listed=n_listed)
        return {k: v for k, v in out.items() if not k.startswith("text_")}


@dataclass(frozen=True)
class ScoreOptions:
    """How pairs are scored, whoever scores them (this process or a cluster backend).

    Attributes
    ----------
    numerics : {"exact", "paper"}
        See :func:`socm.core.metrics.d_sigma`.
    device : str, optional
        Where the engine runs in this process (default: CUDA if available, else CPU); a
        cluster backend places the engine on its workers.
    progress : bool
        Show a progress bar.
    ids : sequence of str, optional
        The texts' ids, to name texts in error messages.
    schema : tuple of PairColumn, optional
        The pair columns; None takes :func:`~socm.core.schema.current_schema` when the options
        are made (so work sent elsewhere computes the columns of this process).
    """

    numerics: str = "exact"
    device: str | None = None
    progress: bool = False
    ids: Sequence[str] | None = None
    schema: PairSchema | None = None

    def __post_init__(self) -> None:
        check_numerics(self.numerics)
        if self.schema is None:
            object.__setattr__(self, "schema", current_schema())


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


def pair_position(i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    r"""Position of pair :math:`(i, j)`, :math:`i < j`, in
    ``itertools.combinations(range(n), 2)`` order: :math:`i n - i(i+1)/2 + (j - i - 1)` (the
    rows before :math:`i` hold :math:`i n - i(i+1)/2` pairs).

    Examples
    --------
    >>> pair_position(np.array([0, 0, 1]), np.array([1, 2, 2]), 3).tolist()
    [0, 1, 2]
    """
    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    return i * n - i * (i + 1) // 2 + (j - i - 1)


#: Consumed statistics are handed back to the system every this many bytes.
_TRIM_BYTES = 128 << 20


def release_freed_memory(collect: bool = True) -> None:
    """Hand memory that Python freed back to the operating system (glibc ``malloc_trim``).

    Freed per-text arrays sit between live ones on the C heap, so without this the process
    keeps their pages: after the engine copied every factor, the statistics' memory would stay
    counted twice. A no-op where glibc is not the allocator.
    """
    import ctypes
    import ctypes.util
    import gc

    if collect:
        gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl, Windows)
        pass


def _pad(k: int) -> int:
    pos = bisect.bisect_left(_LADDER, k)
    return _LADDER[pos] if pos < len(_LADDER) else -(-k // 128) * 128


class _Bank:
    """Every text's factor on the engine's device, in the layout its pair mode needs.

    ``mode="listed"``: one flat ``(sum of ranks + 1, D)`` tensor with offsets (a zero row last,
    for padding), gathered per chunk. ``mode="all"``: texts sorted by rank and cut into groups
    whose zero-padded factors are stacked ``(texts, k, D)`` once. With ``consume=True`` each
    text's statistics are dropped from the given list as soon as its factor is copied, so the
    peak memory is about one copy of the factors, not two.
    """

    def __init__(
        self, stats: list, device: torch.device, mode: str = "listed", consume: bool = False
    ) -> None:
        self.dim = stats[0].dim
        self.n = len(stats)
        self.rank = np.array([s.rank for s in stats], dtype=np.int64)
        self.means = torch.from_numpy(np.stack([s.mean for s in stats])).to(device)
        self.trace = np.array([s.trace for s in stats], dtype=np.float64)
        self.device = device
        self.flat = None
        self.groups: list[tuple[np.ndarray, int, torch.Tensor]] = []
        freed = 0  # bytes of consumed statistics not yet handed back to the system

        def drop(t: int) -> None:
            nonlocal freed
            if consume:
                freed += stats[t].factor.nbytes
                stats[t] = None
                if freed > _TRIM_BYTES:  # keep the peak near one copy of the factors
                    release_freed_memory(collect=False)
                    freed = 0

        if mode == "all":
            order = np.argsort(self.rank, kind="stable")
            for g in _groups(order, self.rank, target_rows=1024, max_texts=64):
                k = max(int(self.rank[g].max()), 1)
                block = np.zeros((len(g), k, self.dim))
                for row, t in enumerate(g):
                    block[row, : self.rank[t]] = stats[t].factor
                    drop(t)
                self.groups.append((g, k, torch.from_numpy(block).to(device)))
            return
        self.offset = np.concatenate([[0], np.cumsum(self.rank)[:-1]]).astype(np.int64)
        flat = np.zeros((int(self.rank.sum()) + 1, self.dim))  # one zero row for padding
        for t in range(self.n):
            if self.rank[t]:
                flat[self.offset[t] : self.offset[t] + self.rank[t]] = stats[t].factor
            drop(t)
        self.flat = torch.from_numpy(flat).to(device)
        self.zero_row = flat.shape[0] - 1

    def padded(self, idx: np.ndarray, k: int) -> torch.Tensor:
        """Factors of texts ``idx`` zero-padded to ``k`` rows: shape (len(idx), k, D).

        On the CPU the rows are gathered by NumPy, about 3x faster than torch's indexing here
        (measured on this project's CPU: 68 against 228 µs for two 127 x 384 factors)."""
        ar = np.arange(k)
        rows = self.offset[idx, None] + ar[None, :]
        rows = np.where(ar[None, :] < self.rank[idx, None], rows, self.zero_row)
        if self.device.type == "cpu":
            return torch.from_numpy(self.flat.numpy()[rows])
        return self.flat[torch.from_numpy(rows).to(self.device)]

    def cross_grams(
        self, a: np.ndarray, b: np.ndarray, k1: int, k2: int
    ) -> tuple[torch.Tensor, np.ndarray]:
        """:math:`M = F_a F_b^\top` of pairs ``(a[p], b[p])`` (zero-padded to ``k1 x k2``):
        one GEMM per distinct first text, ``F_a (k1 x D) @ [F_b1; ...; F_bm]^T``, instead of a
        gathered copy of both factors and a small GEMM per pair. Returns the matrices in the
        order ``order`` of the pairs (sorted by first text) and that order.

        No fallback for tiny groups: measured on this project's 2-core CPU (one thread, 2,048
        pairs, D = 384, ranks 16/64/127, a loaded machine), the grouped route took 24/199/766
        µs a pair with groups of one pair, against 34/277/849 for gathering both factors and
        one batched product, and stayed ahead at groups of 2, 4 and 8."""
        order = np.argsort(a, kind="stable")
        right = self.padded(b[order], k2)
        first = a[order]
        cuts = np.flatnonzero(np.diff(first)) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [len(first)]])
        left = self.padded(first[starts], k1)
        # M^T of every pair written in place, (pairs, k2, k1): no permute, no concatenation
        out = torch.empty(len(first), k2, k1, dtype=right.dtype, device=right.device)
        for g, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            rows = (e - s) * k2
            torch.mm(right[s:e].reshape(rows, self.dim), left[g].T, out=out[s:e].view(rows, k1))
        return out.mT, order


def _fidelities(
    m: torch.Tensor,
    first_left: torch.Tensor | None,
    left_gram: torch.Tensor | None,
    right_gram: torch.Tensor | None,
    numerics: str,
    dim: int,
) -> torch.Tensor:
    """Fidelity per pair from cross-Grams ``m = left @ right^T`` (B, k1, k2).

    Paper numerics only: ``left_gram``, ``right_gram`` are each pair's texts' Gram matrices
    :math:`F F^\top` (B, k, k; computed once per text, :func:`_grams`), and ``first_left``
    (bool, B) says whether the pair's first text is on the left.
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
            out[sel] = fidelity_paper(m[sel], right_gram[sel], dim)
        else:  # first text on the right: transpose the roles
            out[sel] = fidelity_paper(m[sel].mT, left_gram[sel], dim)
    return out


def _grams(factors: torch.Tensor) -> torch.Tensor:
    """:math:`F F^\top` of each of a stack of (zero-padded) factors, (n, k, D) -> (n, k, k)."""
    return factors @ factors.mT


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


def _group_tile(
    fa: torch.Tensor,
    ma: torch.Tensor,
    fb: torch.Tensor,
    mb: torch.Tensor,
    ia: np.ndarray,
    ib: np.ndarray,
    dense: bool,
    first_left: np.ndarray | None,
    numerics: str,
    dim: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(fidelity, cosine) of pairs ``(ia[p], ib[p])`` between two groups of padded factors.

    ``fa`` (na, ka, D) and ``fb`` (nb, kb, D) are the groups' stacked factors, ``ma``, ``mb``
    their unit means. All cross-Grams come out of one ``(na ka) x (nb kb)`` product. ``dense``:
    the pairs are every ``(a, b)`` in row-major order (``ia``, ``ib`` as from ``np.repeat`` /
    ``np.tile``), taken by a reshape instead of a gather. ``first_left`` (bool per pair, paper
    numerics only): whether the pair's first text is the one from ``fa``; None: always.
    """
    na, ka = fa.shape[0], fa.shape[1]
    nb, kb = fb.shape[0], fb.shape[1]
    big = fa.reshape(-1, dim) @ fb.reshape(-1, dim).T
    m4 = big.view(na, ka, nb, kb).permute(0, 2, 1, 3)
    mean_cos = ma @ mb.T
    tia = torch.from_numpy(ia).to(fa.device)
    tib = torch.from_numpy(ib).to(fa.device)
    if dense and numerics == "exact":  # the (na, nb) stack as a view: no copy of the tile
        return fidelity_exact(m4).reshape(-1), mean_cos.reshape(-1)
    if dense:
        m, c = m4.reshape(-1, ka, kb), mean_cos.reshape(-1)
    else:
        m, c = m4[tia, tib], mean_cos[tia, tib]
    if numerics == "paper":  # each text's Gram once, then one per pair by index
        flags = None if first_left is None else torch.from_numpy(first_left).to(fa.device)
        f = _fidelities(m, flags, _grams(fa)[tia], _grams(fb)[tib], numerics, dim)
    else:
        f = _fidelities(m, None, None, None, numerics, dim)
    return f, c


def _group_means(bank: _Bank) -> list[torch.Tensor]:
    """Each group's unit means, stacked like its factors."""
    return [bank.means[torch.from_numpy(g).to(bank.device)] for g, _, _ in bank.groups]


def _dense_index(na: int, nb: int) -> tuple[np.ndarray, np.ndarray]:
    """Every ``(a, b)``, ``a < na``, ``b < nb``, in row-major order."""
    return np.repeat(np.arange(na), nb), np.tile(np.arange(nb), na)


def _all_pair_tiles(bank: _Bank, numerics: str, progress: bool) -> Iterator[tuple]:
    """(i, j, fidelity, cosine) per tile of group pairs, ``i < j``, in tile order."""
    groups = bank.groups
    means = _group_means(bank)
    tiles = [(a, b) for a in range(len(groups)) for b in range(a, len(groups))]

    def run(tile: tuple[int, int]) -> tuple | None:
        a, b = tile
        ga, _, fa = groups[a]
        gb, _, fb = groups[b]
        if a == b:
            ia, ib = np.triu_indices(len(ga), k=1)
            if ia.size == 0:
                return None
        else:
            ia, ib = _dense_index(len(ga), len(gb))
        ta, tb = ga[ia], gb[ib]
        first_left = ta < tb if numerics == "paper" else None  # first text = lower index
        f, c = _group_tile(
            fa, means[a], fb, means[b], ia, ib, a != b, first_left, numerics, bank.dim
        )
        return np.minimum(ta, tb), np.maximum(ta, tb), f.cpu().numpy(), c.cpu().numpy()

    for out in run_all(run, tiles, cpu_workers(bank.device), progress, "pairs"):
        if out is not None:
            yield out


def _between_tiles(bank_a: _Bank, bank_b: _Bank, numerics: str, progress: bool) -> Iterator[tuple]:
    """(i in A, j in B, fidelity, cosine) per tile (group of A, group of B), in tile order.

    Every text of A is the first text of its pairs (paper numerics).
    """
    means_a, means_b = _group_means(bank_a), _group_means(bank_b)
    tiles = [(a, b) for a in range(len(bank_a.groups)) for b in range(len(bank_b.groups))]

    def run(tile: tuple[int, int]) -> tuple:
        a, b = tile
        ga, _, fa = bank_a.groups[a]
        gb, _, fb = bank_b.groups[b]
        ia, ib = _dense_index(len(ga), len(gb))
        f, c = _group_tile(fa, means_a[a], fb, means_b[b], ia, ib, True, None, numerics, bank_a.dim)
        return ga[ia], gb[ib], f.cpu().numpy(), c.cpu().numpy()

    yield from run_all(run, tiles, cpu_workers(bank_a.device), progress, "pairs")


def _listed_pairs(
    bank: _Bank, pairs: np.ndarray, numerics: str, progress: bool, chunk_bytes: int = 32 << 20
) -> tuple[np.ndarray, np.ndarray]:
    """(fidelity, cosine) of listed pairs, in the given order."""
    p = pairs.shape[0]
    fid = np.empty(p)
    cos = np.empty(p)
    i, j = pairs[:, 0], pairs[:, 1]
    ladder_k = np.array([_pad(k) for k in range(int(bank.rank.max()) + 1)], dtype=np.int64)
    ka, kb = ladder_k[bank.rank[i]], ladder_k[bank.rank[j]]
    key = ka * (int(ladder_k.max()) + 1) + kb
    # by padded ranks, then by first text: a chunk's pairs share few first texts, each a
    # group of :meth:`_Bank.cross_grams` (one GEMM per group)
    order = np.lexsort((i, key))
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    chunks = []
    for bucket in np.split(order, bounds):
        k1, k2 = int(ka[bucket[0]]), int(kb[bucket[0]])
        per_pair = 8 * ((k1 + k2) * bank.dim + 2 * (k1 * k2 + k2 * k2)) + 1
        step = max(1, chunk_bytes // per_pair)
        chunks += [(bucket[s : s + step], k1, k2) for s in range(0, bucket.size, step)]

    def run(chunk: tuple[np.ndarray, int, int]) -> None:
        sel, k1, k2 = chunk
        m, order = bank.cross_grams(i[sel], j[sel], k1, k2)
        sel = sel[order]  # the pairs in the order of their matrices
        rg = None
        if numerics == "paper":  # each distinct text's Gram once
            texts, inv = np.unique(j[sel], return_inverse=True)
            rg = _grams(bank.padded(texts, k2))[torch.from_numpy(inv).to(bank.device)]
        fid[sel] = _fidelities(m, None, None, rg, numerics, bank.dim).cpu().numpy()
        ti = torch.from_numpy(i[sel]).to(bank.device)
        tj = torch.from_numpy(j[sel]).to(bank.device)
        cos[sel] = (bank.means[ti] * bank.means[tj]).sum(-1).cpu().numpy()

    for _ in run_all(run, chunks, cpu_workers(bank.device), progress, "pairs"):
        pass
    return fid, cos


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
    return arr.astype(np.int64)  # a copy: results never share memory with the caller's pairs


def pairwise(
    token_lists: Sequence[Any],
    pairs: Any = None,
    numerics: Numerics = "exact",
    device: str | torch.device | None = None,
    progress: bool = False,
    schema: PairSchema | None = None,
) -> PairResult:
    """d_μ, d_Σ, SOCM (and every other pair column) for many pairs of texts.

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
    schema : tuple of PairColumn, optional
        The pair columns to compute (default :func:`socm.core.schema.current_schema`).

    Returns
    -------
    PairResult
        ``i``, ``j`` (int64) and one float64 array per column (``d_mu``, ``d_sigma``,
        ``socm``, ``relative_d_sigma``, ...), each of shape (P,).

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
    schema = current_schema() if schema is None else schema
    stats = token_stats_many(token_lists)
    n = len(stats)
    arr = None if pairs is None else _check_pairs(pairs, n)
    if arr is not None:  # listed pairs: tiles come in the given order
        tiles = list(iter_pairwise(stats, arr, numerics, device, progress, schema=schema))
        return PairResult.concat(tiles, schema)
    n_pairs = n * (n - 1) // 2
    cols = {c.name: np.empty(n_pairs, dtype=c.dtype) for c in schema}
    for t in iter_pairwise(stats, None, numerics, device, progress, schema=schema):
        pos = pair_position(t.i, t.j, n)
        for f, col in cols.items():
            col[pos] = t.columns[f]
    i, j = all_pairs_index(n)
    return PairResult(i, j, **cols)


def iter_pairwise(
    token_lists: Sequence[Any],
    pairs: Any = None,
    numerics: Numerics = "exact",
    device: str | torch.device | None = None,
    progress: bool = False,
    chunk_pairs: int = 1_000_000,
    consume: bool = False,
    schema: PairSchema | None = None,
) -> Iterator[PairResult]:
    """:func:`pairwise` tile by tile, in memory bounded by the texts, not by the pairs.

    Yields :class:`PairResult` tiles. All pairs (``pairs=None``): every pair ``i < j`` exactly
    once, in the engine's tile order (texts grouped by rank), not in combinations order.
    Listed pairs: chunks of at most ``chunk_pairs`` pairs in the given order.

    Parameters
    ----------
    token_lists, pairs, numerics, device, progress, schema
        As in :func:`pairwise`.
    chunk_pairs : int
        Listed pairs per yielded tile.
    consume : bool
        Drop each text's statistics from ``token_lists`` (which must then be a list of
        :class:`~socm.core.stats.TokenStats`) once the engine holds its factor: the engine's
        copy is then the only one.

    Raises
    ------
    ValueError
        As :func:`pairwise`.
    """
    check_numerics(numerics)
    schema = current_schema() if schema is None else schema
    stats = token_lists if consume else token_stats_many(token_lists)
    if consume and not all(isinstance(x, TokenStats) for x in stats):
        raise ValueError("consume=True needs a list of TokenStats")
    n = len(stats)
    check_same_dim(stats)
    arr = None if pairs is None else _check_pairs(pairs, n)
    if n == 0 or (arr is None and n < 2) or (arr is not None and arr.shape[0] == 0):
        return
    dev = resolve_device(device)
    with torch.inference_mode():
        bank = _Bank(stats, dev, "all" if arr is None else "listed", consume)
    if consume:
        release_freed_memory()
    if arr is None:
        with torch.inference_mode():
            for i, j, fid, cos in _all_pair_tiles(bank, numerics, progress):
                yield _finish(i, j, bank.trace[i], bank.trace[j], fid, cos, schema)
        return
    for s in range(0, arr.shape[0], chunk_pairs):
        part = arr[s : s + chunk_pairs]
        with torch.inference_mode():
            fid, cos = _listed_pairs(bank, part, numerics, progress and arr.shape[0] <= chunk_pairs)
        i, j = part[:, 0], part[:, 1]
        yield _finish(i, j, bank.trace[i], bank.trace[j], fid, cos, schema)


def iter_pairwise_between(
    stats_a: Sequence[Any],
    stats_b: Sequence[Any],
    numerics: Numerics = "exact",
    device: str | torch.device | None = None,
    progress: bool = False,
    schema: PairSchema | None = None,
) -> Iterator[PairResult]:
    """Every pair ``(a, b)`` of a text ``a`` of A and a text ``b`` of B, tile by tile.

    The all-pairs route of :func:`iter_pairwise` between two sets of texts: each side is
    sorted by rank and cut into groups of stacked factors, and each tile (a group of A, a
    group of B) is one matrix product and one batched singular-value call, faster per pair
    than listing the pairs. Used for the tiles between two blocks of texts of a cluster run
    (:mod:`socm.backends.ray`).

    Parameters
    ----------
    stats_a, stats_b : sequence of array_like, torch.Tensor or TokenStats
        The two sets of texts, as for :func:`pairwise`; ``D`` must agree across both.
    numerics : {"exact", "paper"}
        See :func:`socm.core.metrics.d_sigma`. The text from A is the first text of every
        pair (the paper's numerics are not symmetric): as in :func:`pairwise` with
        ``pairs=[(a, len(A) + b), ...]`` on ``[*A, *B]``.
    device : str or torch.device, optional
        As in :func:`pairwise`.
    progress : bool
        Show a progress bar over tiles.
    schema : tuple of PairColumn, optional
        As in :func:`pairwise`.

    Yields
    ------
    PairResult
        One tile at a time: ``i`` indexes A and ``j`` indexes B (positions in ``stats_a`` and
        ``stats_b``, so ``i < j`` need not hold), every one of the ``len(A) * len(B)`` pairs
        exactly once, in the engine's tile order (texts grouped by rank). Nothing when either
        side is empty.

    Raises
    ------
    ValueError
        On invalid token lists (naming the side and the text's index), mismatched dimensions
        or an unknown ``numerics``.

    Examples
    --------
    >>> import numpy as np
    >>> from socm.core.pairs import iter_pairwise_between, pairwise
    >>> rng = np.random.default_rng(0)
    >>> a = [rng.normal(1, 1, (n, 4)) for n in (3, 5)]
    >>> b = [rng.normal(1, 1, (n, 4)) for n in (1, 4, 6)]
    >>> tiles = list(iter_pairwise_between(a, b))
    >>> sorted(zip(*(np.concatenate([getattr(t, f) for t in tiles]).tolist() for f in "ij")))
    [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    >>> t = tiles[0]
    >>> ref = pairwise([*a, *b], pairs=np.stack([t.i, t.j + len(a)], axis=1))
    >>> bool(np.allclose(t.socm, ref.socm, rtol=0, atol=1e-12))
    True
    """
    check_numerics(numerics)
    schema = current_schema() if schema is None else schema
    sides = []
    for name, given in (("A", stats_a), ("B", stats_b)):
        try:
            sides.append(token_stats_many(given))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    sa, sb = sides
    if not sa or not sb:
        return
    dim = sa[0].dim
    for name, side in (("A", sa), ("B", sb)):
        bad = next((t for t, s in enumerate(side) if s.dim != dim), None)
        if bad is not None:
            raise ValueError(
                f"dimension mismatch: text {bad} of {name} has D={side[bad].dim} but text 0 "
                f"of A has D={dim}"
            )
    dev = resolve_device(device)
    with torch.inference_mode():
        bank_a, bank_b = _Bank(sa, dev, "all"), _Bank(sb, dev, "all")
        for i, j, fid, cos in _between_tiles(bank_a, bank_b, numerics, progress):
            yield _finish(i, j, bank_a.trace[i], bank_b.trace[j], fid, cos, schema)


def _finish(
    i: np.ndarray,
    j: np.ndarray,
    trace_i: np.ndarray,
    trace_j: np.ndarray,
    fid: np.ndarray,
    cos: np.ndarray,
    schema: PairSchema,
) -> PairResult:
    """The tile's :class:`PairResult`: every column of ``schema`` from the fidelities, the
    cosines and both texts' traces (:func:`socm.core.schema.compute_columns`)."""
    parts = PairParts(
        cosine=np.asarray(cos, dtype=np.float64),
        fidelity=np.asarray(fid, dtype=np.float64),
        trace_i=np.asarray(trace_i, dtype=np.float64),
        trace_j=np.asarray(trace_j, dtype=np.float64),
    )
    return PairResult(i, j, **compute_columns(parts, schema))


#: Factor bytes :func:`iter_pairwise_lazy` reads at a time by default (the engine copies them
#: once more into its batches, so about twice this is in memory while scoring).
LAZY_BUDGET_BYTES = 128 << 20


def _ranks(stats: Sequence[Any]) -> np.ndarray:
    """Every text's factor rank: ``stats.ranks`` when the sequence has them (statistics read
    on demand), else read from each item."""
    ranks = getattr(stats, "ranks", None)
    if ranks is not None:
        return np.asarray(ranks, dtype=np.int64)
    return np.array([s.rank for s in stats], dtype=np.int64)


def _blocks(nbytes: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Runs ``[start, end)`` of consecutive texts whose bytes fit ``budget`` (at least one)."""
    out, start, used = [], 0, 0
    for t, b in enumerate(nbytes.tolist()):
        if t > start and used + b > budget:
            out.append((start, t))
            start, used = t, 0
        used += b
    if start < len(nbytes):
        out.append((start, len(nbytes)))
    return out


def iter_pairwise_lazy(
    stats: Sequence[TokenStats],
    pairs: Any = None,
    numerics: Numerics = "exact",
    device: str | torch.device | None = None,
    progress: bool = False,
    schema: PairSchema | None = None,
    budget_bytes: int = LAZY_BUDGET_BYTES,
    window: int = 1_000_000,
) -> Iterator[PairResult]:
    r"""The engine over statistics read on demand, holding at most ``budget_bytes`` of
    covariance factors at a time (:func:`iter_pairwise` copies every text's factor first).

    ``stats`` is any sequence of :class:`~socm.core.stats.TokenStats` (a store on disk:
    ``stats[t]`` reads text ``t``); with a ``ranks`` attribute (every text's factor rank) the
    sizes are known without reading a text.

    * **All pairs** (``pairs=None``): texts are cut into consecutive blocks whose factors fit
      half the budget; block ``a`` with itself by the all-pairs route of
      :func:`iter_pairwise`, and with every later block ``b`` by
      :func:`iter_pairwise_between` (block ``a``'s text is the pair's first text, so ``i <
      j``). Each text is read once per later block: :math:`O(N^2 / B)` reads for blocks of
      :math:`B` texts. Tiles come in block order, every pair once.
    * **Listed pairs**: windows of ``window`` pairs in the given order; in each window the
      pairs are scored in :func:`~socm.core.locality.locality_order`, in chunks whose
      distinct texts fit the budget (:func:`~socm.core.locality.chunk_pairs`), and the
      window's tile comes back in the given order.

    Values equal :func:`iter_pairwise`'s on the same statistics (the same kernels on the
    same factors; a tile's batch composition moves them by rounding only).

    Parameters
    ----------
    stats : sequence of TokenStats
    pairs, numerics, device, progress, schema
        As in :func:`pairwise`.
    budget_bytes : int
        Factor bytes held at a time (a single pair or text may pass it).
    window : int
        Listed pairs per yielded tile.

    Raises
    ------
    ValueError
        As :func:`pairwise`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> texts = token_stats_many([rng.normal(1, 1, (n, 4)) for n in (3, 5, 2, 6)])
    >>> tiles = list(iter_pairwise_lazy(texts, budget_bytes=300))  # one text per block
    >>> ref = pairwise(texts)
    >>> got = {(int(i), int(j)): s for t in tiles for i, j, s in zip(t.i, t.j, t.socm)}
    >>> bool(np.allclose([got[(i, j)] for i, j in zip(ref.i, ref.j)], ref.socm, atol=1e-12))
    True
    """
    check_numerics(numerics)
    schema = current_schema() if schema is None else schema
    n = len(stats)
    ranks = _ranks(stats)
    arr = None if pairs is None else _check_pairs(pairs, n)
    if n == 0 or (arr is None and n < 2) or (arr is not None and arr.shape[0] == 0):
        return
    dim = int(stats[0].dim)
    nbytes = 8 * dim * (ranks + 1)
    if arr is None:
        blocks = _blocks(nbytes, max(budget_bytes // 2, 1))
        bar = progress_bar(len(blocks) * (len(blocks) + 1) // 2, "pairs", "tile", progress)
        try:
            for a, (s0, e0) in enumerate(blocks):
                first = [stats[t] for t in range(s0, e0)]
                check_same_dim(first)
                if e0 - s0 > 1:
                    for tile in iter_pairwise(first, None, numerics, device, schema=schema):
                        yield PairResult(tile.i + s0, tile.j + s0, **tile.columns)
                bar.update(1)
                for s1, e1 in blocks[a + 1 :]:
                    second = [stats[t] for t in range(s1, e1)]
                    for tile in iter_pairwise_between(
                        first, second, numerics, device, schema=schema
                    ):
                        yield PairResult(tile.i + s0, tile.j + s1, **tile.columns)
                    bar.update(1)
        finally:
            bar.close()
        return
    bar = progress_bar(arr.shape[0], "pairs", "pair", progress)
    try:
        for w in range(0, arr.shape[0], window):
            part = arr[w : w + window]
            i, j = part[:, 0], part[:, 1]
            cols = {c.name: np.empty(len(part), dtype=c.dtype) for c in schema}
            order = locality_order(i, j, n)
            for sel in chunk_pairs(order, i, j, nbytes, budget_bytes):
                texts, inv = np.unique(np.concatenate([i[sel], j[sel]]), return_inverse=True)
                chunk = [stats[t] for t in texts]
                check_same_dim(chunk)
                res = pairwise(chunk, inv.reshape(2, -1).T, numerics, device, schema=schema)
                del chunk  # before the next chunk is read: one chunk's factors held, not two
                for name, col in cols.items():
                    col[sel] = res.columns[name]
                del res
                bar.update(len(sel))
            yield PairResult(i, j, **cols)
    finally:
        bar.close()
