"""socm: second-order collapse of mean-pooled text embeddings.

Implements the measurement of Hara et al., *Why Mean Pooling Works: Quantifying Second-Order
Collapse in Text Embeddings* (arXiv 2604.27398, ACL 2026).

>>> import numpy as np, socm
>>> rng = np.random.default_rng(0)
>>> a, b = rng.normal(1, 1, (12, 8)), rng.normal(1, 1, (20, 8))
>>> 0 <= socm.socm(a, b) <= max(1, socm.d_sigma(a, b))
True
"""

from socm.api import mine, pairwise
from socm.core.metrics import NUMERICS, PAPER_EPS, d_mu, d_sigma, socm
from socm.core.mine import MineOptions, MineResult
from socm.core.pairs import PairResult
from socm.core.stats import TokenStats, normalized_spread, token_stats

__version__ = "0.1.0"

__all__ = [
    "NUMERICS",
    "PAPER_EPS",
    "MineOptions",
    "MineResult",
    "PairResult",
    "TokenStats",
    "__version__",
    "d_mu",
    "d_sigma",
    "mine",
    "normalized_spread",
    "pairwise",
    "socm",
    "token_stats",
]
