"""Where a run keeps its per-text statistics: in memory within a budget, else on disk.

:func:`stats_collector` sets up the :class:`~socm.store.StatsCollector` of a measure or mine
run from its settings: ``cfg.store`` (always a store, in that folder), ``cfg.memory_budget``
(default a quarter of this machine's memory), ``cfg.store_dtype`` (the stored factors'
precision). Beyond the budget the statistics go to a
:class:`~socm.store.StatsStore` in the token-embedding cache's folder (so a rerun with the
same model and token policy finds them), or, with ``--no-cache``, in a temporary folder that
is removed when the run ends.

The estimate first bounds every text by the model's maximum length; only when that bound
passes the budget are the texts tokenised (the tokenise stage) to count their tokens
(:func:`socm.store.stats_nbytes`).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from socm.backends import Backend
from socm.encode.encoder import Encoder
from socm.errors import SocmError
from socm.files import check_writable_dir
from socm.inputs.corpus import Corpus
from socm.measure.config import MeasureConfig
from socm.store import (
    STORE_DTYPES,
    StatsCollector,
    StatsStore,
    default_memory_budget,
    parse_bytes,
    stats_nbytes,
)

__all__ = ["memory_budget", "statistics_for", "stats_collector"]


def memory_budget(cfg: MeasureConfig) -> int:
    """``cfg.memory_budget`` in bytes (default :func:`socm.store.default_memory_budget`).

    Raises
    ------
    SocmError
        Not a size.
    """
    if cfg.memory_budget is None:
        return default_memory_budget()
    try:
        return parse_bytes(cfg.memory_budget)
    except ValueError as exc:
        raise SocmError(f"--memory-budget: {exc}") from None


def statistics_for(
    cfg: MeasureConfig, backend: Backend, enc: Encoder, corpus: Corpus
) -> AbstractContextManager[StatsCollector | None]:
    """The collector for a run on ``backend`` (:func:`stats_collector`), or ``None`` (a context
    either way) when the backend keeps the statistics elsewhere (``backend.collects`` false).

    Raises
    ------
    SocmError
        ``--store`` or ``--memory-budget`` with a backend that keeps the statistics elsewhere
        (they would silently do nothing); checked here, before the backend starts.
    """
    if backend.collects:
        return stats_collector(cfg, enc, corpus)
    if cfg.store or cfg.memory_budget is not None or cfg.store_dtype != "float64":
        raise SocmError(
            "--store, --memory-budget and --store-dtype keep the statistics in this process; "
            f"backend {backend.name!r} keeps them in its own workers: drop them or use "
            "--backend local"
        )
    return nullcontext()


@contextlib.contextmanager
def stats_collector(cfg: MeasureConfig, enc: Encoder, corpus: Corpus) -> Iterator[StatsCollector]:
    """The collector of a run's statistics (a context: a temporary store is removed after).

    Raises
    ------
    SocmError
        A bad ``--memory-budget`` or ``--store-dtype``, or a ``--store`` folder that cannot
        be written.
    """
    budget = memory_budget(cfg)
    if cfg.store_dtype not in STORE_DTYPES:
        raise SocmError(
            f"--store-dtype must be one of {', '.join(STORE_DTYPES)}, got {cfg.store_dtype!r}"
        )
    if cfg.store:
        check_writable_dir(Path(cfg.store), "--store")
    dim = getattr(enc.config, "hidden_size", None)
    expected = None
    if cfg.store is None and isinstance(dim, int):
        longest = dim + 1 if enc.policy.long_texts == "window" else enc.max_length  # rank ≤ D
        bound = stats_nbytes([longest] * len(corpus), dim)
        expected = bound
        if bound > budget:  # the bound does not settle it: count the tokens
            kept, _, _ = enc.policy.counts(corpus.texts, progress=cfg.progress)
            expected = stats_nbytes(kept, dim)
    temp: list[Path] = []

    def make() -> StatsStore:
        if cfg.store:
            root = Path(cfg.store)
        elif enc.cache_root is not None:
            root = Path(enc.cache_root)
        else:
            temp.append(Path(tempfile.mkdtemp(prefix="socm-stats-")))
            root = temp[0]
        return StatsStore(root, enc.stats_config(), dtype=cfg.store_dtype)

    collector = StatsCollector(len(corpus), make, budget, expected, always=bool(cfg.store))
    try:
        yield collector
    finally:
        if collector.stored:
            collector.store.close()
        for folder in temp:
            shutil.rmtree(folder, ignore_errors=True)
