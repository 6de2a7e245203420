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

A measure job scores through :meth:`RayScoring.score_summarized`: each task writes its own part
of the run's ``pairs.parquet`` folder (``part-<k>.parquet``, task ``k`` in submission order:
tile order for all pairs, the given order for listed pairs; under a temporary name first, so a
retried task never leaves half a part) and sends back only its sums
(:class:`~socm.core.uncertainty.PairAccumulator` over its own texts, exact SOCM values while the
run is small enough for exact quantiles, else their histogram; per-label sums), which the driver
merges (:meth:`PairAccumulator.merge <socm.core.uncertainty.PairAccumulator.merge>`). The
pairs never pass through the driver. :meth:`RayScoring.score` instead yields each task's tile
in order (a mine job needs every candidate's scores to rank them), with at most a few tasks
per worker in flight, so the driver's memory is bounded by the texts and a few tiles.
Failed tasks (a crashed worker, a lost node) are retried by Ray (:data:`MAX_RETRIES`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from socm.backends.base import StatsHandle
from socm.backends.ray.blocks import RemoteStats, take_texts
from socm.backends.ray.cluster import FAULT_ENV, inject_fault, remote_error, root_cause, texts_label
from socm.core.mine import chunk_pairs
from socm.core.pairs import PairResult, iter_pairwise_between, pairwise
from socm.core.stats import TokenStats, check_same_dim
from socm.core.uncertainty import PairAccumulator
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
    "Summarized",
    "score_chunk",
    "score_chunk_summarized",
    "score_tile",
    "score_tile_summarized",
    "summarize",
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


@dataclasses.dataclass
class Summarized:
    """What a scoring task of :meth:`RayScoring.score_summarized` sends back: its pair count,
    the running sums of its pairs over its own texts (local indices), and its per-label sums
    (listed pairs with labels)."""

    n_pairs: int
    sums: PairAccumulator
    label_sums: tuple[list[str], np.ndarray] | None = None


def summarize(
    tile: PairResult,
    ids: list[str],
    part: str | None,
    exact: bool,
    labels: list[str | None] | None = None,
) -> Summarized:
    """Write a task's pairs to its part of the run's ``pairs.parquet`` folder and sum them.

    ``tile`` indexes ``ids`` (the task's texts). The part is written under a temporary name
    and renamed, so that a retried task never leaves half a part. ``exact``: keep the SOCM
    values for exact quantiles (the run is small enough), else a histogram of them.
    """
    from socm.measure.job import PairsFile  # not at import: socm.measure imports the backends
    from socm.measure.summary import LabelSums

    if part is not None:
        final = Path(part)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        sink = PairsFile(tmp, ids, labels)
        sink.add(tile, 0)
        sink.close()
        os.replace(tmp, final)
    sums = PairAccumulator(len(ids), keep_exact_up_to=len(tile) if exact else 0)
    if len(tile):
        sums.update(tile.i, tile.j, tile.d_mu, tile.d_sigma, tile.socm)
    label_sums = None
    if labels is not None:
        per_label = LabelSums(labels)
        per_label.update(0, tile)
        label_sums = (per_label.names, per_label.sums)
    return Summarized(len(tile), sums, label_sums)


def score_tile_summarized(
    n_a: int,
    a0: int,
    b0: int,
    numerics: str,
    device: str,
    fault: str | None,
    part: str | None,
    exact: bool,
    ids: list[str],
    *blocks: list,
) -> Summarized:
    """A Ray task: :func:`score_tile`, then :func:`summarize` (``ids``: group ``a``'s texts,
    then group ``b``'s)."""
    res = score_tile(n_a, a0, b0, numerics, device, fault, *blocks)
    m_a = sum(len(blk) for blk in blocks[:n_a])
    local = [np.where(x < a0 + m_a, x - a0, m_a + x - b0) for x in (res.i, res.j)]
    return summarize(PairResult(*local, res.d_mu, res.d_sigma, res.socm), ids, part, exact)


def score_chunk_summarized(
    local: np.ndarray,
    pairs: np.ndarray,
    numerics: str,
    device: str,
    fault: str | None,
    part: str | None,
    exact: bool,
    ids: list[str],
    labels: list[str | None] | None,
    *pieces: list[TokenStats],
) -> Summarized:
    """A Ray task: :func:`score_chunk`, then :func:`summarize` (``ids``: the chunk's texts,
    which ``local`` indexes; ``labels``: its pairs' labels)."""
    res = score_chunk(local, pairs, numerics, device, fault, *pieces)
    tile = PairResult(local[:, 0].copy(), local[:, 1].copy(), res.d_mu, res.d_sigma, res.socm)
    return summarize(tile, ids, part, exact, labels)


@dataclasses.dataclass
class _Summary:
    """How :meth:`RayScoring.score_summarized` wants its tasks to report (None: tiles)."""

    pairs_dir: Path | None
    keep_exact: int
    labels: list[str | None] | None
    ids: Sequence[str]
    submitted: int = 0  # pairs in the tasks made so far
    parts: int = 0

    def task_args(self, n_pairs: int, text_ids: list[str]) -> tuple:
        """(part path, exact, ids) of the next task, of ``n_pairs`` pairs over ``text_ids``."""
        self.submitted += n_pairs
        part = None
        if self.pairs_dir is not None:
            part = str(self.pairs_dir / f"part-{self.parts:06d}.parquet")
        self.parts += 1
        return part, self.submitted <= self.keep_exact, text_ids


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
        if isinstance(stats, list):
            check_same_dim(stats)
            return RemoteStats.put(self._ray, stats, self._block_size(n, pairs is not None))
        if not isinstance(stats, RemoteStats):
            raise TypeError(f"the ray backend scores RemoteStats or a list, not {type(stats)}")
        return stats

    def _tasks(
        self,
        stats: RemoteStats,
        pairs: np.ndarray | None,
        numerics: str,
        ids: Sequence[str] | None,
        summary: _Summary | None,
    ) -> tuple[Iterator[tuple], int]:
        resources = {"num_cpus": 1}
        if self.use_gpu:  # a GPU, and its share of the CPUs (large eigenproblems run there)
            share = int(self.resources.get("CPU", 1) // max(self.resources.get("GPU", 1), 1))
            resources = {"num_gpus": 1, "num_cpus": max(1, share)}
        fault = os.environ.get(FAULT_ENV) or None
        n = len(stats)
        if pairs is None:
            tasks = self._all_pair_tasks(stats, numerics, resources, fault, ids, summary)
            return tasks, n * (n - 1) // 2
        tasks = self._listed_tasks(stats, pairs, numerics, resources, fault, ids, summary)
        return tasks, len(pairs)

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
        if pairs is not None:
            pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        held = self._prepare(stats, pairs)
        if held is None:
            return
        tasks, total = self._tasks(held, pairs, numerics, ids, None)
        for _, result in self._run(tasks, progress, total):
            # copy out of the object store, so the tile's memory there is freed at once
            yield PairResult(*(np.array(getattr(result, f)) for f in PairResult.FIELDS))

    def score_summarized(
        self,
        stats: StatsHandle | list[TokenStats],
        pairs: np.ndarray | None,
        numerics: str,
        progress: bool,
        ids: Sequence[str],
        acc: PairAccumulator,
        pairs_dir: Path | None = None,
        labels: list[str | None] | None = None,
        per_label: Any = None,
    ) -> None:
        """Score like :meth:`score`, each task writing its own part of the pairs and sending
        back only its sums: the measure job's route on a cluster, so that the pairs never pass
        through this process.

        Parameters
        ----------
        stats, pairs, numerics, progress, ids
            As for :meth:`score` (``ids`` are every text's, in order).
        acc : PairAccumulator
            Receives every task's sums (:meth:`PairAccumulator.merge
            <socm.core.uncertainty.PairAccumulator.merge>`), in task order.
        pairs_dir : Path, optional
            The run's ``pairs.parquet`` folder, on storage every node sees at that path: task
            ``k`` writes ``part-<k>.parquet`` (tile order for all pairs, the given order for
            listed pairs). None: no pairs are written (``--no-pairs-file``).
        labels : list, optional
            Listed pairs' labels (one per pair), written with them and summed per label into
            ``per_label`` (:class:`~socm.measure.summary.LabelSums`).
        """
        if pairs is not None:
            pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        if pairs_dir is not None:  # absolute: workers on other nodes run in other folders
            pairs_dir = Path(pairs_dir).resolve()
            pairs_dir.mkdir(exist_ok=False)
        held = self._prepare(stats, pairs)
        summary = _Summary(
            pairs_dir,
            acc.socm_quantiles.keep_exact_up_to,
            labels,
            ids,
        )
        if held is not None:
            tasks, total = self._tasks(held, pairs, numerics, ids, summary)
            for texts, result in self._run(tasks, progress, total):
                acc.merge(result.sums, index=texts)
                if per_label is not None and result.label_sums is not None:
                    per_label.merge(*result.label_sums)
        if pairs_dir is not None:
            for stray in pairs_dir.glob(".part-*.tmp"):  # left by a killed attempt
                stray.unlink(missing_ok=True)
            if summary.parts == 0:  # no pair at all: one empty part with the columns
                empty = PairResult(*(np.zeros(0, dtype=np.int64),) * 2, *(np.zeros(0),) * 3)
                summarize(empty, [], str(pairs_dir / "part-000000.parquet"), True)
            found = len(list(pairs_dir.glob("part-*.parquet")))
            if found != max(summary.parts, 1):
                raise SocmError(
                    f"{pairs_dir}: {found} parts where the tasks wrote {summary.parts}: is the "
                    "run folder on storage every Ray node sees at the same path?"
                )

    def _remote(self, fn: Any, resources: dict) -> Any:
        return self._ray.remote(fn).options(
            max_retries=MAX_RETRIES, retry_exceptions=False, **resources
        )

    def _all_pair_tasks(
        self,
        stats: RemoteStats,
        numerics: str,
        resources: dict,
        fault: str | None,
        ids: Sequence[str] | None,
        summary: _Summary | None = None,
    ) -> Iterator[tuple]:
        """Tile tasks, made as they are submitted (the driver holds a window of them)."""
        remote = self._remote(score_tile if summary is None else score_tile_summarized, resources)
        size = self._block_size(len(stats), listed=False)
        groups: list[list[int]] = [[]]  # consecutive blocks of about `size` texts
        for b in range(stats.n_blocks):
            if groups[-1] and stats.starts[b] - stats.starts[groups[-1][0]] >= size:
                groups.append([])
            groups[-1].append(b)
        first = [int(stats.starts[g[0]]) for g in groups]
        ends = [int(stats.starts[g[-1] + 1]) for g in groups]
        ng = len(groups)
        for a in range(ng):
            for b in range(a, ng):
                if a == b and ends[a] - first[a] < 2:
                    continue
                where = texts_label(first[a], ends[a], ids)
                if a != b:
                    where += " x " + texts_label(first[b], ends[b], ids)
                label = f"tile ({a}, {b}) of {ng} blocks: {where}"
                refs = [stats.refs[k] for k in groups[a]]
                texts = np.arange(first[a], ends[a])
                if a != b:
                    refs += [stats.refs[k] for k in groups[b]]
                    texts = np.concatenate([texts, np.arange(first[b], ends[b])])
                b0 = -1 if a == b else first[b]
                args = (len(groups[a]), first[a], b0, numerics, self.device, fault)
                if summary is not None:
                    m_a = ends[a] - first[a]
                    n_pairs = m_a * (m_a - 1) // 2 if a == b else m_a * (ends[b] - first[b])
                    args += summary.task_args(n_pairs, [summary.ids[t] for t in texts])
                yield label, remote, (*args, *refs), texts

    def _listed_tasks(
        self,
        stats: RemoteStats,
        pairs: np.ndarray,
        numerics: str,
        resources: dict,
        fault: str | None,
        ids: Sequence[str] | None,
        summary: _Summary | None = None,
    ) -> Iterator[tuple]:
        """Chunk tasks, a window at a time, each after the tasks that cut out its texts."""
        fn = score_chunk if summary is None else score_chunk_summarized
        remote = self._remote(fn, resources)
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
                plans.append((int(sel[0]), part, inv.reshape(-1, 2), np.unique(blocks), texts))
                self.chunk_texts += len(texts)
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
                args = (local, part, numerics, self.device, fault)
                if summary is not None:
                    args += summary.task_args(len(part), [summary.ids[t] for t in texts])
                    lab = summary.labels
                    args += (None if lab is None else lab[s : s + len(part)],)
                yield label, remote, (*args, *[pieces[(c, int(b))] for b in blocks]), texts

    def _tasks_wanted(self) -> int:
        return TASKS_PER_SLOT * self._slots()

    def _run(self, tasks: Any, progress: bool, total: int) -> Iterator[tuple[Any, Any]]:
        """Submit ``tasks`` (an iterable of ``(label, remote function, args, meta)``) with a
        bounded window; yield ``(meta, result)`` in submission order (a bar over ``total``
        pairs)."""
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
                    label, remote, args, meta = nxt
                    pending.append((label, remote.remote(*args), meta))
                    self.score_tasks += 1
                if not pending:
                    return
                label, ref, meta = pending.popleft()
                try:
                    result = ray.get(ref)
                except Exception as exc:
                    for _, other, _ in pending:
                        ray.cancel(other)
                    pending.clear()
                    raise task_error(exc, label) from None
                bar.update(result.n_pairs if isinstance(result, Summarized) else len(result))
                yield meta, result
        finally:
            for _, other, _ in pending:
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
