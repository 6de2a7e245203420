"""Pair scoring on a Ray cluster: tasks over tiles of all pairs, or chunks of listed pairs.

Every number comes from the local engine (:mod:`socm.core.pairs`, run by the task functions
of :mod:`socm.backends.ray.tasks`); this module only cuts the work into Ray tasks and streams
their results back in order.

* **All pairs**: the blocks of statistics (:class:`~socm.backends.ray.blocks.RemoteStats`)
  are grouped into runs of consecutive texts ("groups"); one task per group pair
  ``(a, b)``, ``a <= b`` (:func:`plan_tiles`). A task receives only the blocks of its two
  groups.
* **Listed pairs** (a pairs file, sampled pairs, a mine job's candidates): consecutive pairs
  are cut into chunks whose distinct texts fit :data:`LISTED_CHUNK_BYTES`
  (:func:`~socm.core.mine.chunk_pairs`). A task receives only the statistics of its chunk's
  texts: for each window of chunks, one task per block touched
  (:func:`~socm.backends.ray.blocks.take_texts`, next to the block) cuts out the pieces that
  each chunk needs, and the chunk's task gets those pieces, never whole blocks. A mine job
  orders its candidates by locality first (:meth:`Backend.score_listed
  <socm.backends.Backend.score_listed>`), so a chunk needs few texts.

A measure job scores through :meth:`RayScoring.score_into`: each task writes its own part of
the run's ``pairs.parquet`` folder (:func:`socm.runs.write_part`, described to it by the run's
:class:`~socm.runs.PairSink`: task ``k`` in submission order, tile order for all pairs, the
given order for listed pairs) and sends back only its sums, which the sink merges. The pairs
never pass through the driver. :meth:`RayScoring.score` instead yields each task's tile in
order (a mine job needs every candidate's scores to rank them), with at most a few tasks per
worker in flight, so the driver's memory is bounded by the texts and a few tiles. Failed tasks
(a crashed worker, a lost node) are retried by Ray (:data:`MAX_RETRIES`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from socm.backends.base import StatsHandle, as_pairs
from socm.backends.ray import tasks
from socm.backends.ray.blocks import RemoteStats, take_texts
from socm.backends.ray.cluster import FAULT_ENV, remote_error, root_cause, texts_label
from socm.core.locality import chunk_pairs
from socm.core.pairs import PairResult, ScoreOptions
from socm.core.stats import TokenStats, check_same_dim
from socm.encode.models import one_line
from socm.errors import SocmError
from socm.progress import progress_bar
from socm.runs import PairSink, PartResult
from socm.store import LocalStats

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
    "Task",
    "plan_chunks",
    "plan_tiles",
    "task_error",
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


@dataclasses.dataclass
class Task:
    """One scoring task as planned: what it scores, and with which statistics.

    Attributes
    ----------
    label : str
        Names the tile or chunk and its texts in error messages.
    args : tuple
        The task function's leading arguments (before options, fault and the statistics).
    refs : list
        Object references of the statistics it receives (blocks, or pieces of blocks).
    texts : numpy.ndarray of int64
        Positions of its texts (the indices of its part's sums).
    n_pairs : int
        Pairs it scores.
    start : int or None
        Listed pairs: the position of its first pair.
    """

    label: str
    args: tuple
    refs: list
    texts: np.ndarray
    n_pairs: int
    start: int | None = None


def plan_tiles(stats: RemoteStats, size: int, ids: Sequence[str] | None) -> Iterator[Task]:
    """The tiles of an all-pairs run, made as they are submitted: groups of consecutive
    blocks of about ``size`` texts, one task per group pair ``(a, b)``, ``a <= b``; args
    ``(n_a, a0, b0)`` of :func:`~socm.backends.ray.tasks.score_tile`."""
    groups: list[list[int]] = [[]]
    for b in range(stats.n_blocks):
        if groups[-1] and stats.starts[b] - stats.starts[groups[-1][0]] >= size:
            groups.append([])
        groups[-1].append(b)
    first = [int(stats.starts[g[0]]) for g in groups]
    ends = [int(stats.starts[g[-1] + 1]) for g in groups]
    ng = len(groups)
    for a in range(ng):
        for b in range(a, ng):
            m_a = ends[a] - first[a]
            if a == b and m_a < 2:
                continue
            where = texts_label(first[a], ends[a], ids)
            refs = [stats.refs[k] for k in groups[a]]
            texts = np.arange(first[a], ends[a])
            if a != b:
                where += " x " + texts_label(first[b], ends[b], ids)
                refs += [stats.refs[k] for k in groups[b]]
                texts = np.concatenate([texts, np.arange(first[b], ends[b])])
            n_pairs = m_a * (m_a - 1) // 2 if a == b else m_a * (ends[b] - first[b])
            args = (len(groups[a]), first[a], -1 if a == b else first[b])
            yield Task(f"tile ({a}, {b}) of {ng} blocks: {where}", args, refs, texts, n_pairs)


def plan_chunks(
    ray: Any,
    stats: RemoteStats,
    pairs: np.ndarray,
    max_pairs: int,
    window: int,
    ids: Sequence[str] | None,
) -> Iterator[Task]:
    """The chunks of listed pairs, a window at a time, each after the tasks that cut its texts
    out of their blocks; args ``(local, pairs)`` of
    :func:`~socm.backends.ray.tasks.score_chunk`."""
    take = ray.remote(take_texts)
    text_bytes = 8 * (stats.ranks + 1) * max(stats.dim, 1)
    chunks = chunk_pairs(
        np.arange(len(pairs)), pairs[:, 0], pairs[:, 1], text_bytes, LISTED_CHUNK_BYTES, max_pairs
    )
    for w in range(0, len(chunks), window):
        plans, needs = [], defaultdict(list)
        for c, sel in enumerate(chunks[w : w + window]):
            part = pairs[sel[0] : sel[-1] + 1]
            texts, inv = np.unique(part.ravel(), return_inverse=True)
            blocks = stats.block_of(texts)
            cuts = np.flatnonzero(np.diff(blocks)) + 1
            for b, pos in zip(blocks[np.r_[0, cuts]], np.split(texts, cuts), strict=True):
                needs[int(b)].append((c, pos - stats.starts[b]))
            plans.append((int(sel[0]), part, inv.reshape(-1, 2), np.unique(blocks), texts))
        pieces = {}
        for b, wanted in needs.items():
            out = take.options(num_returns=len(wanted), max_retries=MAX_RETRIES).remote(
                stats.refs[b], *[pos for _, pos in wanted]
            )
            for (c, _), ref in zip(wanted, [out] if len(wanted) == 1 else out, strict=True):
                pieces[(c, b)] = ref
        for c, (s, part, local, blocks, texts) in enumerate(plans):
            i0, j0 = int(part[0, 0]), int(part[0, 1])
            first = f"{ids[i0]!r}, {ids[j0]!r}" if ids is not None else f"{i0}, {j0}"
            label = f"listed pairs {s}-{s + len(part) - 1} (the first: texts {first})"
            refs = [pieces[(c, int(b))] for b in blocks]
            yield Task(label, (local, part), refs, texts, len(part), s)


class RayScoring:
    """Pair scoring on the cluster (a part of :class:`~socm.backends.ray.RayBackend`, which
    holds the connection, :attr:`device`, :attr:`use_gpu` and the cluster's resources)."""

    _ray: Any
    device: str
    use_gpu: bool
    resources: dict[str, float]
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

    def _prepare(
        self, stats: StatsHandle | list[TokenStats], pairs: np.ndarray | None
    ) -> RemoteStats | None:
        """The statistics in the store, or None when there is nothing to score."""
        self._check_started()
        n = len(stats)
        if n == 0 or (pairs is None and n < 2) or (pairs is not None and len(pairs) == 0):
            return None
        if isinstance(stats, RemoteStats):
            return stats
        if isinstance(stats, LocalStats):
            stats = list(stats.items)
        if isinstance(stats, list):
            check_same_dim(stats)
        elif not isinstance(stats, Sequence):  # a StoredStats is put a block at a time
            raise TypeError(f"the ray backend scores a sequence of TokenStats, not {type(stats)}")
        return RemoteStats.put(self._ray, stats, self._block_size(n, pairs is not None))

    def _plan(
        self, stats: RemoteStats, pairs: np.ndarray | None, ids: Sequence[str] | None
    ) -> tuple[Iterator[Task], int]:
        """The tasks (made as they are submitted) and the pairs they score in all."""
        n = len(stats)
        if pairs is None:
            return plan_tiles(stats, self._block_size(n, listed=False), ids), n * (n - 1) // 2
        self.chunk_texts = 0  # texts sent to chunk tasks in all (a text may go to several)
        p = len(pairs)
        n_max = min(LISTED_CHUNK_PAIRS, max(MIN_LISTED_CHUNK, -(-p // self._tasks_wanted())))
        chunks = plan_chunks(self._ray, stats, pairs, n_max, self._window(), ids)
        return chunks, p

    def _setup(
        self,
        stats: StatsHandle | list[TokenStats],
        pairs: np.ndarray | None,
        opts: ScoreOptions,
        chunk_fn: Any,
        tile_fn: Any,
    ) -> tuple[Iterator[Task], int, Any, ScoreOptions, str | None] | None:
        """What a scoring call submits: the tasks, the pairs in all, the remote function
        (``chunk_fn`` for listed pairs, ``tile_fn`` for all pairs), the workers' options and
        the fault to inject; None when there is nothing to score."""
        held = self._prepare(stats, pairs)
        if held is None:
            return None
        plan, total = self._plan(held, pairs, opts.ids)
        remote = self._remote(chunk_fn if pairs is not None else tile_fn)
        return plan, total, remote, self._worker_options(opts), os.environ.get(FAULT_ENV) or None

    def _remote(self, fn: Any) -> Any:
        resources: dict[str, Any] = {"num_cpus": 1}
        if self.use_gpu:  # a GPU, and its share of the CPUs (large eigenproblems run there)
            share = int(self.resources.get("CPU", 1) // max(self.resources.get("GPU", 1), 1))
            resources = {"num_gpus": 1, "num_cpus": max(1, share)}
        return self._ray.remote(fn).options(
            max_retries=MAX_RETRIES, retry_exceptions=False, **resources
        )

    def _worker_options(self, opts: ScoreOptions) -> ScoreOptions:
        """The options a task runs with: the workers' device, no bar, the driver's columns."""
        return dataclasses.replace(opts, device=self.device, progress=False, ids=None)

    def score(
        self, stats: StatsHandle | list[TokenStats], pairs: Any, opts: ScoreOptions
    ) -> Iterator[PairResult]:
        """See :meth:`Backend.score <socm.backends.Backend.score>`: Ray tasks over tiles
        (``opts.device`` is not used: the workers' device is :attr:`device`). ``stats`` is the
        :class:`~socm.backends.ray.blocks.RemoteStats` of :meth:`encode_stats`, or a list in
        this process, put into the object store here (and consumed)."""
        pairs = as_pairs(pairs)
        setup = self._setup(stats, pairs, opts, tasks.score_chunk, tasks.score_tile)
        if setup is None:
            return
        plan, total, remote, worker, fault = setup

        def submit(t: Task) -> Any:
            return remote.remote(*t.args, worker, fault, *t.refs)

        for _, result in self._run(plan, submit, opts.progress, total):
            # copy out of the object store, so the tile's memory there is freed at once
            yield PairResult(
                np.array(result.i),
                np.array(result.j),
                **{k: np.array(v) for k, v in result.columns.items()},
            )

    def score_into(
        self,
        stats: StatsHandle | list[TokenStats],
        pairs: Any,
        opts: ScoreOptions,
        sink: PairSink,
    ) -> None:
        """Score like :meth:`score`, each task writing its own part of the pairs and sending
        back only its sums, which ``sink`` merges: the measure job's route on a cluster, so
        that the pairs never pass through this process (``sink.pairs_path`` must be on storage
        every node sees at that path; the caller closes the sink, which checks the parts)."""
        pairs = as_pairs(pairs)
        sink.open_parts()
        setup = self._setup(stats, pairs, opts, tasks.score_chunk_into, tasks.score_tile_into)
        if setup is None:
            return
        plan, total, remote, worker, fault = setup

        def submit(t: Task) -> Any:
            spec = sink.part(t.n_pairs, t.texts, t.start)
            return remote.remote(*t.args, worker, fault, spec, *t.refs)

        for texts, result in self._run(plan, submit, opts.progress, total):
            sink.merge(result, texts)

    def _tasks_wanted(self) -> int:
        return TASKS_PER_SLOT * self._slots()

    def _run(
        self, plan: Iterator[Task], submit: Any, progress: bool, total: int
    ) -> Iterator[tuple[np.ndarray, Any]]:
        """Submit the planned tasks with a bounded window; yield ``(texts, result)`` in
        submission order (a bar over ``total`` pairs)."""
        ray = self._ray
        self.score_tasks = 0
        pending: deque = deque()
        bar = progress_bar(total, "pairs (ray)", "pair", enabled=progress)
        try:
            while True:
                while len(pending) < self._window():
                    task = next(plan, None)
                    if task is None:
                        break
                    pending.append((task, submit(task)))
                    self.score_tasks += 1
                    if task.start is not None:
                        self.chunk_texts += len(task.texts)
                if not pending:
                    return
                task, ref = pending.popleft()
                try:
                    result = ray.get(ref)
                except Exception as exc:
                    for _, other in pending:
                        ray.cancel(other)
                    pending.clear()
                    raise task_error(exc, task.label) from None
                bar.update(result.n_pairs if isinstance(result, PartResult) else len(result))
                yield task.texts, result
        finally:
            for _, other in pending:
                ray.cancel(other)
            bar.close()


def task_error(exc: BaseException, label: str) -> Exception:
    """The one-line error of a failed scoring task (``label`` names its tile and texts)."""
    from ray.exceptions import RayTaskError

    cause = root_cause(exc)
    if cause is not None:
        return type(cause)(f"pair scoring failed on {label}: {cause}")
    if isinstance(exc, RayTaskError):
        return SocmError(f"pair scoring failed on {label}: {remote_error(exc)}")
    return SocmError(f"pair scoring failed on {label} after {MAX_RETRIES} retries: {one_line(exc)}")
