"""Pair scoring on a Ray cluster: tasks over tiles of all pairs, or chunks of listed pairs.

Every number comes from the local engine (:mod:`socm.core.pairs`); this module only cuts
the work into Ray tasks and streams their results back in order.

* **All pairs**: the blocks of statistics (:class:`~socm.backends.ray.blocks.RemoteStats`)
  are grouped into runs of consecutive texts ("groups"); one task per group pair
  ``(a, b)``, ``a <= b``, scores the pairs within group ``a`` with
  :func:`~socm.core.pairs.pairwise` or between groups ``a`` and ``b`` with
  :func:`~socm.core.pairs.iter_pairwise_between` (both the engine's all-pairs tiles). A task
  receives only the blocks of its two groups.
* **Listed pairs** (a pairs file, sampled pairs, a mine job's candidates): consecutive pairs
  are cut into chunks whose distinct texts fit :data:`LISTED_CHUNK_BYTES`
  (:func:`~socm.core.mine.chunk_pairs`). A task receives only the statistics of its chunk's
  texts: for each window of chunks, one task per block touched
  (:func:`~socm.backends.ray.blocks.take_texts`, next to the block) cuts out the pieces that
  each chunk needs, and the chunk's task gets those pieces, never whole blocks. A mine job
  orders its candidates by locality first (:meth:`Backend.score_listed
  <socm.backends.Backend.score_listed>`), so a chunk needs few texts.

Each task returns its tile's :class:`~socm.core.pairs.PairResult`; the driver takes them in
submission order with at most a few tasks per worker in flight, so its memory is bounded by the
texts and a few tiles, never by the pairs. Why tiles come back to the driver instead of each
task writing a part of a ``pairs.parquet`` folder: every reader of ``pairs.parquet`` expects one
file, and a tile is small (at most :data:`LISTED_CHUNK_PAIRS` or a million pairs, 40 MB).
Failed tasks (a crashed worker, a lost node) are retried by Ray (:data:`MAX_RETRIES`).
"""

from __future__ import annotations

import math
import os
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from socm.backends.base import StatsHandle
from socm.backends.ray.blocks import RemoteStats, take_texts
from socm.backends.ray.cluster import FAULT_ENV, inject_fault, remote_error, root_cause, texts_label
from socm.core.mine import chunk_pairs
from socm.core.pairs import PairResult, iter_pairwise_between, pairwise
from socm.core.stats import TokenStats
from socm.encode.models import one_line
from socm.errors import SocmError
from socm.progress import progress_bar

__all__ = [
    "IN_FLIGHT_PER_SLOT",
    "LISTED_CHUNK_BYTES",
    "LISTED_CHUNK_PAIRS",
    "MAX_RETRIES",
    "MIN_BLOCK_TEXTS",
    "MIN_LISTED_CHUNK",
    "SCORE_BLOCK_TEXTS",
    "TASKS_PER_SLOT",
    "RayScoring",
    "score_chunk",
    "score_tile",
]

#: Texts per group of an all-pairs run; a task scores one group pair (up to a million
#: pairs). Smaller for small runs, so that every worker gets tiles. Statistics put into the
#: store by :meth:`RayScoring.score` from this process are blocked by it too.
SCORE_BLOCK_TEXTS = 1000
#: Smallest group of an all-pairs run (the engine batches texts in groups of up to 64).
MIN_BLOCK_TEXTS = 64
#: Listed pairs per scoring task at most.
LISTED_CHUNK_PAIRS = 250_000
#: Listed pairs per scoring task at least (a small list is one task), unless the texts of a
#: chunk would pass :data:`LISTED_CHUNK_BYTES`.
MIN_LISTED_CHUNK = 1000
#: Bytes of statistics (factors and means) a listed-pairs task receives at most (a single
#: pair may exceed it).
LISTED_CHUNK_BYTES = 256 << 20
#: Tasks per worker slot (CPU or GPU) a run is cut into, when it is large enough.
TASKS_PER_SLOT = 4
#: Tiles in flight per worker slot (results wait in the object store until the driver
#: takes them, in order).
IN_FLIGHT_PER_SLOT = 2
#: Ray retries a scoring task this many times after a system failure (worker or node died).
MAX_RETRIES = 3


def score_tile(
    n_a: int, a0: int, b0: int, numerics: str, device: str, fault: str | None, *blocks: list
) -> PairResult:
    """A Ray task: all pairs within group ``a`` (``b0 < 0``) or between groups ``a`` and
    ``b``, with global indices ``i < j``.

    ``blocks`` are the stats blocks of group ``a`` (the first ``n_a``) and then of group
    ``b``. Groups are runs of consecutive texts starting at ``a0`` and ``b0``, and group ``a``
    comes before group ``b``, so a text of ``a`` is always the lower index of its pair: the
    first text, as in the local all-pairs route (paper numerics). Between two groups,
    :func:`~socm.core.pairs.iter_pairwise_between` scores every pair by the engine's
    all-pairs tiles; its ``i`` indexes group ``a`` and its ``j`` group ``b``.
    """
    inject_fault(fault)
    a_stats = [s for blk in blocks[:n_a] for s in blk]
    if b0 < 0:
        res = pairwise(a_stats, None, numerics, device)
        return PairResult(res.i + a0, res.j + a0, res.d_mu, res.d_sigma, res.socm)
    b_stats = [s for blk in blocks[n_a:] for s in blk]
    tiles = list(iter_pairwise_between(a_stats, b_stats, numerics, device))
    cols = {f: np.concatenate([getattr(t, f) for t in tiles]) for f in PairResult.FIELDS}
    cols["i"] += a0
    cols["j"] += b0
    return PairResult(**cols)


def score_chunk(
    local: np.ndarray,
    pairs: np.ndarray,
    numerics: str,
    device: str,
    fault: str | None,
    *pieces: list[TokenStats],
) -> PairResult:
    """A Ray task: a chunk of listed pairs (global indices ``pairs``, in order), given only
    its texts: ``pieces`` concatenated are its distinct texts in increasing position, and
    ``local`` indexes them."""
    inject_fault(fault)
    texts = [s for piece in pieces for s in piece]
    res = pairwise(texts, local, numerics, device)
    return PairResult(pairs[:, 0].copy(), pairs[:, 1].copy(), res.d_mu, res.d_sigma, res.socm)


class RayScoring:
    """Pair scoring on the cluster (a part of :class:`~socm.backends.ray.RayBackend`, which
    holds the connection, :attr:`device`, :attr:`use_gpu` and the cluster's resources)."""

    _ray: Any
    device: str
    use_gpu: bool
    score_tasks: int
    chunk_texts: int

    def _block_size(self, n: int, listed: bool) -> int:
        """Texts per group: :data:`SCORE_BLOCK_TEXTS`, smaller for an all-pairs run too small
        to give every slot :data:`TASKS_PER_SLOT` tiles."""
        if listed:
            return SCORE_BLOCK_TEXTS
        want = TASKS_PER_SLOT * self._slots()
        nb = 1
        while nb * (nb + 1) // 2 < want:
            nb += 1
        return min(SCORE_BLOCK_TEXTS, max(MIN_BLOCK_TEXTS, math.ceil(n / nb)))

    def _window(self) -> int:
        return max(2, IN_FLIGHT_PER_SLOT * self._slots())

    def score(
        self,
        stats: StatsHandle | list[TokenStats],
        pairs: np.ndarray | None,
        numerics: str,
        device: str,
        progress: bool,
        ids: Sequence[str] | None = None,
    ) -> Iterator[PairResult]:
        """See :meth:`Backend.score <socm.backends.Backend.score>`: Ray tasks over tiles
        (``device`` is not used: the workers' device is :attr:`device`). ``stats`` is the
        :class:`~socm.backends.ray.blocks.RemoteStats` of :meth:`encode_stats`, or a list in
        this process, put into the object store here (and consumed)."""
        self._check_started()
        n = len(stats)
        if n == 0 or (pairs is None and n < 2) or (pairs is not None and len(pairs) == 0):
            return
        if isinstance(stats, list):
            _check_dims(stats)
            stats = RemoteStats.put(self._ray, stats, self._block_size(n, pairs is not None))
        elif not isinstance(stats, RemoteStats):
            raise TypeError(f"the ray backend scores RemoteStats or a list, not {type(stats)}")
        resources = {"num_gpus": 1} if self.use_gpu else {"num_cpus": 1}
        fault = os.environ.get(FAULT_ENV) or None
        if pairs is None:
            tasks = self._all_pair_tasks(stats, numerics, resources, fault, ids)
            total = n * (n - 1) // 2
        else:
            pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
            tasks = self._listed_tasks(stats, pairs, numerics, resources, fault, ids)
            total = len(pairs)
        yield from self._run(tasks, progress, total)

    def _remote(self, fn: Any, resources: dict) -> Any:
        return self._ray.remote(fn).options(
            max_retries=MAX_RETRIES, retry_exceptions=False, **resources
        )

    def _all_pair_tasks(
        self, stats: RemoteStats, numerics: str, resources: dict, fault: str | None, ids
    ) -> list:
        remote = self._remote(score_tile, resources)
        size = self._block_size(len(stats), listed=False)
        groups: list[list[int]] = [[]]  # consecutive blocks of about `size` texts
        for b in range(stats.n_blocks):
            if groups[-1] and stats.starts[b] - stats.starts[groups[-1][0]] >= size:
                groups.append([])
            groups[-1].append(b)
        first = [int(stats.starts[g[0]]) for g in groups]
        ends = [int(stats.starts[g[-1] + 1]) for g in groups]
        ng = len(groups)
        tasks = []
        for a in range(ng):
            for b in range(a, ng):
                if a == b and ends[a] - first[a] < 2:
                    continue
                where = texts_label(first[a], ends[a], ids)
                if a != b:
                    where += " x " + texts_label(first[b], ends[b], ids)
                label = f"tile ({a}, {b}) of {ng} blocks: {where}"
                refs = [stats.refs[k] for k in groups[a]]
                if a != b:
                    refs += [stats.refs[k] for k in groups[b]]
                b0 = -1 if a == b else first[b]
                spec = (len(groups[a]), first[a], b0, numerics, self.device, fault)
                tasks.append((label, remote, (*spec, *refs)))
        return tasks

    def _listed_tasks(
        self,
        stats: RemoteStats,
        pairs: np.ndarray,
        numerics: str,
        resources: dict,
        fault: str | None,
        ids: Sequence[str] | None,
    ) -> Iterator[tuple]:
        """Chunk tasks, a window at a time, each after the tasks that cut out its texts."""
        remote = self._remote(score_chunk, resources)
        take = self._ray.remote(take_texts)
        p = len(pairs)
        n_max = min(LISTED_CHUNK_PAIRS, max(MIN_LISTED_CHUNK, -(-p // self._tasks_wanted())))
        text_bytes = 8 * (stats.ranks + 1) * max(stats.dim, 1)
        chunks = chunk_pairs(
            np.arange(p), pairs[:, 0], pairs[:, 1], text_bytes, LISTED_CHUNK_BYTES, n_max
        )
        self.chunk_texts = 0  # texts sent to chunk tasks in all (a text may go to several)
        window = self._window()
        for w in range(0, len(chunks), window):
            plans, needs = [], defaultdict(list)
            for c, sel in enumerate(chunks[w : w + window]):
                part = pairs[sel[0] : sel[-1] + 1]
                texts, inv = np.unique(part.ravel(), return_inverse=True)
                blocks = stats.block_of(texts)
                cuts = np.flatnonzero(np.diff(blocks)) + 1
                for b, pos in zip(blocks[np.r_[0, cuts]], np.split(texts, cuts), strict=True):
                    needs[int(b)].append((c, pos - stats.starts[b]))
                plans.append((int(sel[0]), part, inv.reshape(-1, 2), np.unique(blocks)))
                self.chunk_texts += len(texts)
            pieces = {}
            for b, wanted in needs.items():
                out = take.options(num_returns=len(wanted), max_retries=MAX_RETRIES).remote(
                    stats.refs[b], *[pos for _, pos in wanted]
                )
                for (c, _), ref in zip(wanted, [out] if len(wanted) == 1 else out, strict=True):
                    pieces[(c, b)] = ref
            for c, (s, part, local, blocks) in enumerate(plans):
                i0, j0 = int(part[0, 0]), int(part[0, 1])
                first = f"{ids[i0]!r}, {ids[j0]!r}" if ids is not None else f"{i0}, {j0}"
                label = f"listed pairs {s}-{s + len(part) - 1} (the first: texts {first})"
                args = (local, part, numerics, self.device, fault)
                yield label, remote, (*args, *[pieces[(c, int(b))] for b in blocks])

    def _tasks_wanted(self) -> int:
        return TASKS_PER_SLOT * self._slots()

    def _run(self, tasks: Any, progress: bool, total: int) -> Iterator[PairResult]:
        """Submit ``tasks`` (an iterable of ``(label, remote function, args)``) with a bounded
        window; yield their results in submission order (a bar over ``total`` pairs)."""
        ray = self._ray
        self.score_tasks = 0
        pending: deque = deque()
        bar = progress_bar(total, "pairs (ray)", "pair", enabled=progress)
        todo = iter(tasks)
        try:
            while True:
                while len(pending) < self._window():
                    nxt = next(todo, None)
                    if nxt is None:
                        break
                    label, remote, args = nxt
                    pending.append((label, remote.remote(*args)))
                    self.score_tasks += 1
                if not pending:
                    return
                label, ref = pending.popleft()
                try:
                    result = ray.get(ref)
                except Exception as exc:
                    for _, other in pending:
                        ray.cancel(other)
                    pending.clear()
                    raise task_error(exc, label) from None
                bar.update(len(result))
                # copy out of the object store, so the tile's memory there is freed at once
                yield PairResult(*(np.array(getattr(result, f)) for f in PairResult.FIELDS))
        finally:
            for _, other in pending:
                ray.cancel(other)
            bar.close()


def _check_dims(stats: list[TokenStats]) -> None:
    if any(s.dim != stats[0].dim for s in stats):
        t = next(t for t, s in enumerate(stats) if s.dim != stats[0].dim)
        raise ValueError(
            f"dimension mismatch: text {t} has D={stats[t].dim} but text 0 has D={stats[0].dim}"
        )


def task_error(exc: BaseException, label: str) -> Exception:
    """The one-line error of a failed scoring task (``label`` names its tile and texts)."""
    from ray.exceptions import RayTaskError

    cause = root_cause(exc)
    if cause is not None:
        return type(cause)(f"pair scoring failed on {label}: {cause}")
    if isinstance(exc, RayTaskError):
        return SocmError(f"pair scoring failed on {label}: {remote_error(exc)}")
    return SocmError(f"pair scoring failed on {label} after {MAX_RETRIES} retries: {one_line(exc)}")
