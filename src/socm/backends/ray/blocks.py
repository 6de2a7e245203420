"""Per-text statistics kept in a Ray cluster's object store, in blocks of texts.

:class:`RemoteStats` is the Ray backend's :class:`~socm.backends.base.StatsHandle`: a list
of object references, each to a *stats block* (a list of
:class:`~socm.core.stats.TokenStats` of consecutive texts), plus the small per-text numbers
(trace, rank) in this process. The covariance factors, the bulk of the statistics, stay in
the object store (spilled to disk by Ray when it is full) and travel only to the tasks that
score their texts; the unit means come here only when :meth:`RemoteStats.means` is called.

The functions below run as Ray tasks (wrapped with ``ray.remote`` by the backend), so this
module does not import Ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from socm.backends.base import StatsHandle
from socm.core.stats import TokenStats

__all__ = ["RemoteStats", "StatsBlock", "block_means", "take_texts", "to_stats_block"]

#: A block of the object store: the statistics of consecutive texts.
StatsBlock = list[TokenStats]

#: Blocks whose means are fetched at once by :meth:`RemoteStats.means`.
MEANS_WINDOW = 64


def to_stats_block(block: Any) -> tuple[StatsBlock, dict[str, Any]]:
    """A Ray task: one Ray Data block of :class:`~socm.backends.ray.EncodeActor` rows to a
    :data:`StatsBlock` (which stays in the object store) and its small per-text columns
    (which go to the driver).

    Returns
    -------
    (StatsBlock, dict)
        The statistics, and ``pos``, ``trace``, ``rank``, ``n_tokens``, ``truncated``,
        ``n_windows``, ``top_token_share`` arrays,
        ``error`` (the first user error of the block, or ``""``), ``dim``, ``n_cached``,
        ``n_encoded``, ``load_s``.
    """
    from ray.data.block import BlockAccessor

    cols = BlockAccessor.for_block(block).to_numpy()
    n = len(cols["pos"])
    errors = [e for e in cols["error"].tolist() if e] if n else []
    info: dict[str, Any] = {
        "pos": np.asarray(cols["pos"], dtype=np.int64),
        "error": str(errors[0]) if errors else "",
        "n_cached": int(np.sum(cols["n_cached"])) if n else 0,
        "n_encoded": int(np.sum(cols["n_encoded"])) if n else 0,
        "load_s": float(np.max(cols["load_s"])) if n else 0.0,
    }
    stats: StatsBlock = []
    if not errors:
        dim = cols["mean"].shape[1] if n else 0
        for k in range(n):
            factor = np.asarray(cols["factor"][k], dtype=np.float64).reshape(-1, dim)
            stats.append(
                TokenStats(
                    n_tokens=int(cols["n_tokens"][k]),
                    mean_norm=float(cols["mean_norm"][k]),
                    mean=np.array(cols["mean"][k], dtype=np.float64),
                    factor=np.array(factor),  # its own memory, not a view of the block
                    trace=float(cols["trace"][k]),
                    top_token_share=float(cols["top_token_share"][k]),
                )
            )
    info["dim"] = stats[0].dim if stats else 0
    info["trace"] = np.array([s.trace for s in stats], dtype=np.float64)
    info["rank"] = np.array([s.rank for s in stats], dtype=np.int64)
    info["top_token_share"] = np.array([s.top_token_share for s in stats], dtype=np.float64)
    info["n_tokens"] = np.asarray(cols["n_tokens"], dtype=np.int64) if n else np.zeros(0, int)
    info["truncated"] = np.asarray(cols["truncated"], dtype=bool) if n else np.zeros(0, bool)
    info["n_windows"] = np.asarray(cols["n_windows"], dtype=np.int64) if n else np.zeros(0, int)
    return stats, info


def block_means(block: StatsBlock) -> np.ndarray:
    """A Ray task: the unit means of a stats block, float64 ``(len(block), D)``."""
    return np.stack([s.mean for s in block]) if block else np.zeros((0, 0))


def take_texts(block: StatsBlock, *positions: np.ndarray) -> StatsBlock | tuple[StatsBlock, ...]:
    """A Ray task: for each array of positions within ``block``, those texts' statistics
    (one return value per array: the pieces of the block that each scoring task needs)."""
    parts = tuple([block[int(k)] for k in pos] for pos in positions)
    return parts[0] if len(parts) == 1 else parts


class RemoteStats(StatsHandle):
    """Statistics in a Ray object store: blocks of consecutive texts (see the module
    docstring).

    Parameters
    ----------
    ray : module
        The ``ray`` module (connected).
    refs : list of ray.ObjectRef
        One reference per block, each to a :data:`StatsBlock`, in text order.
    sizes : sequence of int
        Texts per block.
    traces : numpy.ndarray, shape (N,)
        Every text's normalised spread.
    ranks : numpy.ndarray, shape (N,)
        Every text's factor rank.
    dim : int
        Embedding dimension.
    top_token_shares : numpy.ndarray, shape (N,), optional
        Every text's top token's share of its spread.
    """

    def __init__(
        self,
        ray: Any,
        refs: list[Any],
        sizes: Any,
        traces: np.ndarray,
        ranks: np.ndarray,
        dim: int,
        top_token_shares: np.ndarray | None = None,
    ) -> None:
        super().__init__(traces, ranks, dim, top_token_shares)
        self._ray = ray
        self.refs = list(refs)
        sizes = np.asarray(sizes, dtype=np.int64)
        #: First text of each block, and the number of texts at the end.
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        if len(self.refs) != len(sizes) or self.starts[-1] != len(self):
            raise ValueError("RemoteStats: blocks, sizes and per-text arrays disagree")

    @classmethod
    def put(cls, ray: Any, stats: Sequence[TokenStats], size: int) -> RemoteStats:
        """Put statistics of this process into the object store, ``size`` texts per block.

        ``stats`` is a list (its entries are set to None as their block is stored: consumed)
        or any other sequence, such as :class:`~socm.store.StoredStats`, read one block at a
        time (its factors are read from disk block by block, never all at once); a handle's
        ``traces`` and ``ranks`` are taken without reading a text.
        """
        refs, sizes = [], []
        if isinstance(stats, StatsHandle):
            traces, ranks, dim = np.array(stats.traces), np.array(stats.ranks), stats.dim
            shares = np.array(stats.top_token_shares)
        else:
            traces = np.array([s.trace for s in stats], dtype=np.float64)
            ranks = np.array([s.rank for s in stats], dtype=np.int64)
            shares = np.array([s.top_token_share for s in stats], dtype=np.float64)
            dim = stats[0].dim if len(stats) else 0
        for s in range(0, len(stats), size):
            part = [stats[t] for t in range(s, min(len(stats), s + size))]
            refs.append(ray.put(part))
            sizes.append(len(part))
            if isinstance(stats, list):
                stats[s : s + size] = [None] * len(part)
            del part
        return cls(ray, refs, sizes, traces, ranks, dim, shares)

    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return len(self.refs)

    def block_of(self, positions: np.ndarray) -> np.ndarray:
        """The block holding each text position."""
        return np.searchsorted(self.starts, positions, side="right") - 1

    def means(self) -> np.ndarray:
        """See :meth:`StatsHandle.means <socm.backends.base.StatsHandle.means>`: a task per
        block computes its means next to it; only the means travel here."""
        if not self.refs:
            return np.zeros((0, self._dim))
        remote = self._ray.remote(block_means)
        out = np.empty((len(self), self._dim))
        for s in range(0, self.n_blocks, MEANS_WINDOW):
            parts = self._ray.get([remote.remote(r) for r in self.refs[s : s + MEANS_WINDOW]])
            for b, part in enumerate(parts, start=s):
                out[self.starts[b] : self.starts[b + 1]] = part
        return out
