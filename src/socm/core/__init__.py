"""The math, free of I/O: per-text statistics, pair metrics, the batched pair engine and the
slow textbook reference used by the tests and benchmarks."""

from socm.core.metrics import NUMERICS, PAPER_EPS, d_mu, d_sigma, socm
from socm.core.pairs import PairResult, pairwise
from socm.core.stats import TokenStats, normalized_spread, token_stats

__all__ = [
    "NUMERICS",
    "PAPER_EPS",
    "PairResult",
    "TokenStats",
    "d_mu",
    "d_sigma",
    "normalized_spread",
    "pairwise",
    "socm",
    "token_stats",
]
