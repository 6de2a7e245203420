"""The Ray scoring tasks: the local engine on a tile or a chunk of pairs, on a worker.

Every number comes from :mod:`socm.core.pairs` with the driver's pair columns (the
:class:`~socm.core.pairs.ScoreOptions` a task receives carry the schema); a task that writes
its part of a run's pairs does so through :func:`socm.runs.write_part`. These functions are
wrapped with ``ray.remote`` by :class:`~socm.backends.ray.scoring.RayScoring`, so this
module does not import Ray.
"""

from __future__ import annotations

import numpy as np

from socm.backends.ray.cluster import inject_fault
from socm.core.pairs import PairResult, ScoreOptions, iter_pairwise_between, pairwise
from socm.core.stats import TokenStats
from socm.runs import PartResult, PartSpec, write_part

__all__ = ["score_chunk", "score_chunk_into", "score_tile", "score_tile_into"]


def score_tile(
    n_a: int, a0: int, b0: int, opts: ScoreOptions, fault: str | None, *blocks: list
) -> PairResult:
    """All pairs within group ``a`` (``b0 < 0``) or between groups ``a`` and ``b``, with
    global indices ``i < j``.

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
        res = pairwise(a_stats, None, opts.numerics, opts.device, schema=opts.schema)
        return PairResult(res.i + a0, res.j + a0, **res.columns)
    b_stats = [s for blk in blocks[n_a:] for s in blk]
    tiles = list(
        iter_pairwise_between(a_stats, b_stats, opts.numerics, opts.device, schema=opts.schema)
    )
    res = PairResult.concat(tiles, opts.schema)
    return PairResult(res.i + a0, res.j + b0, **res.columns)


def score_chunk(
    local: np.ndarray,
    pairs: np.ndarray,
    opts: ScoreOptions,
    fault: str | None,
    *pieces: list[TokenStats],
) -> PairResult:
    """A chunk of listed pairs (global indices ``pairs``, in order), given only its texts:
    ``pieces`` concatenated are its distinct texts in increasing position, and ``local``
    indexes them."""
    inject_fault(fault)
    texts = [s for piece in pieces for s in piece]
    res = pairwise(texts, local, opts.numerics, opts.device, schema=opts.schema)
    return PairResult(pairs[:, 0].copy(), pairs[:, 1].copy(), **res.columns)


def score_tile_into(
    n_a: int,
    a0: int,
    b0: int,
    opts: ScoreOptions,
    fault: str | None,
    spec: PartSpec,
    *blocks: list,
) -> PartResult:
    """:func:`score_tile`, then :func:`~socm.runs.write_part` (``spec.ids``: group ``a``'s
    texts, then group ``b``'s)."""
    res = score_tile(n_a, a0, b0, opts, fault, *blocks)
    m_a = sum(len(blk) for blk in blocks[:n_a])
    local = [np.where(x < a0 + m_a, x - a0, m_a + x - b0) for x in (res.i, res.j)]
    return write_part(PairResult(*local, **res.columns), spec)


def score_chunk_into(
    local: np.ndarray,
    pairs: np.ndarray,
    opts: ScoreOptions,
    fault: str | None,
    spec: PartSpec,
    *pieces: list[TokenStats],
) -> PartResult:
    """:func:`score_chunk`, then :func:`~socm.runs.write_part` (``spec.ids``: the chunk's
    texts, which ``local`` indexes; ``spec.labels``: its pairs' labels)."""
    res = score_chunk(local, pairs, opts, fault, *pieces)
    tile = PairResult(local[:, 0].copy(), local[:, 1].copy(), **res.columns)
    return write_part(tile, spec)
