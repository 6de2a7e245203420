"""The top-level functions that choose where the work runs: ``socm.pairwise``, ``socm.mine``.

They take the texts as any sequence of ``(n_i, D)`` token matrices (a list, or a lazy sequence:
``len()`` and ``__getitem__(i)``, e.g. a list of ``numpy.memmap`` or a reader of your own),
read each item once, in order, a chunk at a time, and reduce it at once to its statistics
(:func:`socm.core.stats.reduce_many`). The statistics stay in memory while they fit
``memory_budget`` (default a quarter of this machine's memory); beyond it, or always with
``store=PATH``, the covariance factors go to a :class:`~socm.store.StatsStore` on disk (a
temporary folder, removed when the call returns, unless ``store`` names one) and the engine
reads a budget of them at a time (:func:`socm.core.pairs.iter_pairwise_lazy`), so memory grows
with the texts only by their unit means. The results equal the in-memory ones (float64 store;
a mine whose score windows split its pairs, up to rounding, about 1e-15;
``store_dtype="float32"`` halves the disk and moves values by about 1e-7 relative).

:func:`mine` also takes a backend's name (:func:`socm.backends.get_backend`), connects it for
the call and disconnects it, so that ``socm.mine(tokens, backend="ray")`` works from a notebook.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from socm.backends import Backend, backend_names, get_backend
from socm.core import mine as core_mine
from socm.core import pairs as core_pairs
from socm.core.metrics import Numerics, check_numerics
from socm.core.schema import PairSchema, current_schema
from socm.core.stats import TokenStats, as_token_matrix, content_key, reduce_many
from socm.files import versions
from socm.progress import progress_bar
from socm.store import (
    LocalStats,
    MineCheckpoint,
    StatsCollector,
    StatsHandle,
    StatsStore,
    StoredStats,
)

__all__ = ["collect_stats", "mine", "pairwise"]

#: Items read and reduced at once (with 26 tokens of D = 384 floats, about 40 MB of token
#: matrices and 40 MB of statistics in flight).
CHUNK_ITEMS = 512


@contextlib.contextmanager
def collect_stats(
    token_lists: Sequence[Any],
    store: str | Path | None = None,
    memory_budget: int | None = None,
    store_dtype: str = "float64",
    device: str | torch.device | None = None,
    progress: bool = False,
    content_keys: bool | None = None,
) -> Iterator[tuple[StatsHandle, list[str]]]:
    """Every text's statistics, read once a chunk at a time, kept in memory within the budget,
    else in a store (a context: a temporary store is removed at its end).

    ``content_keys`` (default: with a ``store``): key each text by the SHA-256 of its token
    matrix, so a store named by ``store`` is reused by a later call on the same texts and two
    equal texts share a key; otherwise texts are keyed by position (no hashing).

    Yields
    ------
    (StatsHandle, list of str)
        :class:`~socm.store.LocalStats` or :class:`~socm.store.StoredStats`, and each text's
        key.

    Raises
    ------
    ValueError
        A text that is not a finite ``(n, D)`` matrix, or whose mean is the zero vector
        (naming its position).
    """
    n = len(token_lists)
    temp: list[Path] = []
    hashed = store is not None if content_keys is None else content_keys

    def make() -> StatsStore:
        root = store
        if root is None:
            temp.append(Path(tempfile.mkdtemp(prefix="socm-stats-")))
            root = temp[0]
        return StatsStore(root, {"source": "token matrices"}, dtype=store_dtype)

    collector = StatsCollector(n, make, memory_budget, always=store is not None)
    keys: list[str] = []
    dev = None if device is None else core_pairs.resolve_device(device)
    dev = dev if dev is not None and dev.type == "cuda" else None
    bar = progress_bar(n, "statistics", "text", enabled=progress)
    try:
        for s in range(0, n, CHUNK_ITEMS):
            items = [token_lists[t] for t in range(s, min(n, s + CHUNK_ITEMS))]
            if hashed:
                chunk_keys = [content_key(x) for x in items]
            else:
                chunk_keys = [str(t) for t in range(s, s + len(items))]
            need = collector.missing(chunk_keys)
            todo = [k for k, x in enumerate(items) if need[k] and not isinstance(x, TokenStats)]
            arrays = [as_token_matrix(items[k], where=f"text {s + k}") for k in todo]
            reduced = iter(reduce_many(arrays, dev, [f"text {s + k}" for k in todo]))
            stats = [
                (items[k] if isinstance(items[k], TokenStats) else next(reduced))
                if need[k]
                else None
                for k in range(len(items))
            ]
            del items, arrays
            collector.add(chunk_keys, stats)
            keys += chunk_keys
            bar.update(len(chunk_keys))
        bar.close()
        yield collector.finish(), keys
    finally:
        bar.close()
        if collector.stored:
            collector.store.close()
        for folder in temp:
            shutil.rmtree(folder, ignore_errors=True)


def pairwise(
    token_lists: Sequence[Any],
    pairs: Any = None,
    numerics: Numerics = "exact",
    device: str | torch.device | None = None,
    progress: bool = False,
    schema: PairSchema | None = None,
    *,
    store: str | Path | None = None,
    memory_budget: int | None = None,
    store_dtype: str = "float64",
) -> core_pairs.PairResult:
    """:func:`socm.core.pairs.pairwise` on any sequence of token matrices, its statistics in
    memory within ``memory_budget``, else (or with ``store``) on disk (see the module
    docstring).

    Parameters
    ----------
    token_lists, pairs, numerics, device, progress, schema
        As for :func:`socm.core.pairs.pairwise`.
    store : str or Path, optional
        Keep the statistics in this folder (reused by a later call on the same texts).
    memory_budget : int, optional
        Bytes of statistics kept in memory (default a quarter of this machine's memory).
    store_dtype : {"float64", "float32"}
        Precision of the stored factors.

    Returns
    -------
    PairResult

    Examples
    --------
    >>> import numpy as np, socm
    >>> rng = np.random.default_rng(0)
    >>> texts = [rng.normal(1, 1, (n, 8)) for n in (3, 9, 5, 7)]
    >>> small = socm.pairwise(texts, memory_budget=1)  # beyond the budget: a temporary store
    >>> bool(np.allclose(small.socm, socm.core.pairwise(texts).socm, atol=1e-12))
    True
    """
    check_numerics(numerics)
    schema = current_schema() if schema is None else schema
    with collect_stats(token_lists, store, memory_budget, store_dtype, device, progress) as (
        held,
        _,
    ):
        if isinstance(held, LocalStats):
            return core_pairs.pairwise(held.items, pairs, numerics, device, progress, schema)
        return _pairwise_stored(held, pairs, numerics, device, progress, schema)


def _pairwise_stored(
    held: StoredStats,
    pairs: Any,
    numerics: str,
    device: Any,
    progress: bool,
    schema: PairSchema,
) -> core_pairs.PairResult:
    """All pairs in combinations order (or the listed pairs in order) from the store."""
    tiles = core_pairs.iter_pairwise_lazy(held, pairs, numerics, device, progress, schema)
    if pairs is not None:
        return core_pairs.PairResult.concat(list(tiles), schema)
    n = len(held)
    cols = {c.name: np.empty(n * (n - 1) // 2, dtype=c.dtype) for c in schema}
    for t in tiles:
        pos = core_pairs.pair_position(t.i, t.j, n)
        for name, col in cols.items():
            col[pos] = t.columns[name]
    return core_pairs.PairResult(*core_pairs.all_pairs_index(n), **cols)


def mine(
    token_lists: Sequence[Any],
    options: core_mine.MineOptions | None = None,
    *,
    numerics: Numerics = "exact",
    device: str | torch.device | None = None,
    progress: bool = False,
    score_chunk_bytes: int = 512 << 20,
    backend: Backend | str | None = None,
    store: str | Path | None = None,
    memory_budget: int | None = None,
    store_dtype: str = "float64",
    **changes: Any,
) -> core_mine.MineResult:
    """:func:`socm.core.mine.mine` on any sequence of token matrices, its statistics in memory
    within ``memory_budget``, else (or with ``store``) on disk, the candidates scored on
    ``backend``.

    Parameters
    ----------
    token_lists, options, numerics, device, progress, score_chunk_bytes, **changes
        As for :func:`socm.core.mine.mine` (``changes``: :class:`~socm.core.mine.MineOptions`
        fields such as ``neighbors=5``).
    backend : Backend or str, optional
        Where the candidates are scored: None or ``"local"`` in this process; a backend's
        name (``"ray"``: the Ray cluster of ``RAY_ADDRESS``, else a local Ray instance),
        connected and disconnected here; or a :class:`~socm.backends.Backend` the caller
        started (use it as a context manager). Every backend gives the same scores.
    store, memory_budget, store_dtype
        As for :func:`pairwise`. With ``store``, the candidates and the scores are kept there
        too as they are found (:class:`~socm.store.MineCheckpoint`): a rerun on the same
        texts with the same options reads them back, and an interrupted call resumes with
        the neighbour search or the first score window not finished.

    Returns
    -------
    MineResult

    Raises
    ------
    ValueError
        As :func:`socm.core.mine.mine`, or an unknown backend.
    SocmError
        The backend's package not installed, its cluster unreachable, a failed worker.

    Examples
    --------
    >>> import numpy as np, socm
    >>> rng = np.random.default_rng(0)
    >>> res = socm.mine([rng.normal(1, 1, (6, 8)) for _ in range(5)], neighbors=2, top_k=3)
    >>> len(res), res.rank_by
    (3, 'relative_d_sigma')
    """
    names = backend_names()
    if not (backend is None or isinstance(backend, Backend) or backend in names):
        listed = ", ".join(repr(n) for n in names[:-1]) + f", {names[-1]!r}"
        raise ValueError(f"backend must be {listed} or a Backend, got {backend!r}")
    check_numerics(numerics)
    opts = (core_mine.MineOptions() if options is None else options).replace(**changes)
    opts.check_texts(len(token_lists))
    with contextlib.ExitStack() as stack:
        scorer = None
        if isinstance(backend, Backend):
            scorer = backend
        elif backend not in (None, "local"):
            where = None if device is None else str(device)  # the cluster's GPUs, or as asked
            scorer = stack.enter_context(get_backend(backend, device=where))
        t0 = time.perf_counter()
        hashed = store is not None or opts.drop_duplicates
        held, keys = stack.enter_context(
            collect_stats(token_lists, store, memory_budget, store_dtype, device, progress, hashed)
        )
        kw = {"numerics": numerics, "device": device, "progress": progress}
        if isinstance(held, LocalStats):
            dup = keys if hashed else None
            return core_mine.mine(
                held.items, opts, score_chunk_bytes=score_chunk_bytes, scorer=scorer,
                duplicate_keys=dup, **kw,
            )  # fmt: skip
        checkpoint = None
        if store is not None:  # a store of the caller's: keep the stages for a rerun
            checkpoint = MineCheckpoint(held.store, keys, versions())
        return _mine_stored(held, keys, opts, scorer, score_chunk_bytes, t0, checkpoint, **kw)


def _mine_stored(
    held: StoredStats,
    keys: list[str],
    opts: core_mine.MineOptions,
    scorer: Any,
    chunk_bytes: int,
    t0: float,
    checkpoint: MineCheckpoint | None,
    numerics: str,
    device: Any,
    progress: bool,
) -> core_mine.MineResult:
    """The steps of :func:`socm.core.mine.mine` on statistics in a store (a budget of
    factors read from it at a time), the candidates and scores kept by ``checkpoint``; the
    unit means are freed once searched (the scoring reads a text's mean with its factor)."""
    from socm.core.pairs import ScoreOptions

    score = ScoreOptions(numerics, device, progress)
    t1 = time.perf_counter()
    cand = core_mine.mine_candidates(
        held.means(), held.n_tokens, opts, score, duplicate_keys=keys, checkpoint=checkpoint
    )
    held.forget_means()
    t2 = time.perf_counter()
    res = core_mine.score_and_rank(
        held, cand, opts, score, scorer=scorer,
        score_chunk_bytes=min(chunk_bytes, core_pairs.LAZY_BUDGET_BYTES), checkpoint=checkpoint,
    )  # fmt: skip
    res.timings = {"stats": t1 - t0, "neighbors": t2 - t1, **res.timings}
    return res
