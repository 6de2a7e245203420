"""Where a run's per-text statistics live: in memory, or on disk beyond a memory budget.

* :class:`StatsStore`: per-text statistics on disk, keyed by text, append-only and
  checksummed (in the token-embedding cache's format), written once as texts are reduced;
* :class:`StatsHandle`, :class:`LocalStats`, :class:`StoredStats`: what a backend hands back
  from encoding, in memory or with the factors on disk (read a text at a time);
* :class:`StatsCollector`: keeps a run's statistics in memory while they fit the budget,
  else in a store, so memory grows with the corpus only by the unit means;
* :func:`save_candidates`, :func:`load_candidates`: a mine run's candidates beside its store,
  so that a resumed run does not search again;
* :func:`scored_in_windows`: a mine run's scores beside its store, a window of pairs at a
  time, so that a resumed run scores only the windows not finished;
* :class:`MineCheckpoint`: both, handed to the mining steps by ``socm.mine`` and ``socm mine``.
"""

from socm.store.candidates import candidates_key, load_candidates, save_candidates, texts_key
from socm.store.checkpoint import MineCheckpoint
from socm.store.collect import StatsCollector, default_memory_budget, parse_bytes, stats_nbytes
from socm.store.handles import LocalStats, StatsHandle, StoredStats
from socm.store.scores import SCORE_WINDOW, scored_in_windows, scores_key
from socm.store.stats_store import STORE_DTYPES, STORE_FORMAT, Head, StatsStore

__all__ = [
    "SCORE_WINDOW",
    "STORE_DTYPES",
    "STORE_FORMAT",
    "Head",
    "LocalStats",
    "MineCheckpoint",
    "StatsCollector",
    "StatsHandle",
    "StatsStore",
    "StoredStats",
    "candidates_key",
    "default_memory_budget",
    "load_candidates",
    "parse_bytes",
    "save_candidates",
    "scored_in_windows",
    "scores_key",
    "stats_nbytes",
    "texts_key",
]
