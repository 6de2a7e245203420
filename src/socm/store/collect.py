r"""Collecting a run's statistics as texts are reduced: in memory while they fit, else on disk.

A run reduces its texts block by block (:func:`socm.core.stats.reduce_many`) and hands each
block's :class:`~socm.core.stats.TokenStats` to a :class:`StatsCollector`, which keeps them in
memory (:class:`~socm.store.LocalStats`) while the whole run's statistics are estimated to fit
a memory budget, and otherwise writes each block's factors to a
:class:`~socm.store.StatsStore` at once, keeping only the unit means and the per-text numbers
(:class:`~socm.store.StoredStats`). Memory then grows with the texts only by their unit means,
:math:`8 \cdot N \cdot D` bytes.

The estimate (:func:`stats_nbytes`): a text of :math:`n` tokens has a factor of
:math:`\min(n - 1, D)` rows, so its statistics take :math:`8 D (\min(n - 1, D) + 1)` bytes in
float64 (the unit mean included); the token counts are known once the texts are tokenised.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from socm.core.pairs import release_freed_memory
from socm.core.stats import TokenStats
from socm.store.handles import LocalStats, StatsHandle, StoredStats
from socm.store.stats_store import StatsStore

__all__ = ["StatsCollector", "default_memory_budget", "parse_bytes", "stats_nbytes"]


def default_memory_budget() -> int:
    """A quarter of this machine's memory (bytes); 4 GiB where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 4 << 30


def parse_bytes(text: str | int) -> int:
    """``"2G"``, ``"512M"``, ``"100k"`` or a number of bytes, as bytes (powers of 1024).

    Raises
    ------
    ValueError
        Not a size, or not positive.

    Examples
    --------
    >>> parse_bytes("2G"), parse_bytes("512m"), parse_bytes(1000)
    (2147483648, 536870912, 1000)
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        s = str(text).strip().upper().removesuffix("B").removesuffix("I")
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(s[-1:], 1)
        number = s[:-1] if scale > 1 else s
        try:
            value = int(float(number) * scale)
        except ValueError:
            raise ValueError(
                f"expected a size such as 4G, 512M or a byte count, got {text!r}"
            ) from None
    if value < 1:
        raise ValueError(f"a size must be positive, got {text!r}")
    return value


def stats_nbytes(n_tokens: Sequence[int] | np.ndarray, dim: int) -> int:
    """Bytes of the statistics of texts of ``n_tokens`` tokens in memory (float64)."""
    n = np.asarray(n_tokens, dtype=np.int64)
    return int((8 * dim * (np.minimum(np.maximum(n - 1, 0), dim) + 1)).sum())


class StatsCollector:
    """Receives a run's statistics block by block (see the module docstring).

    Parameters
    ----------
    n_texts : int
        Texts the run reduces in all.
    store : StatsStore or callable, optional
        Where statistics go when they do not fit (or always, with ``always``); a callable
        making the store is called only when one is needed (no folder for a run that fits).
    budget : int, optional
        Memory budget in bytes for the statistics (default :func:`default_memory_budget`).
    expected_bytes : int, optional
        The run's statistics as estimated from its token counts (:func:`stats_nbytes`); when
        not given, the estimate is the bytes of the texts reduced so far scaled to all texts,
        and the statistics move to the store as soon as it passes the budget.
    always : bool
        Store whatever the budget (``--store``).
    """

    def __init__(
        self,
        n_texts: int,
        store: StatsStore | Callable[[], StatsStore] | None = None,
        budget: int | None = None,
        expected_bytes: int | None = None,
        always: bool = False,
    ) -> None:
        self.n_texts = int(n_texts)
        self._store = store
        self.budget = default_memory_budget() if budget is None else int(budget)
        self.expected = expected_bytes
        self.stored = self._store is not None and (
            always or (expected_bytes is not None and expected_bytes > self.budget)
        )
        self._held: list[TokenStats] = []  # in memory
        self._keys: list[str] = []  # every text added, in order
        self._bytes = 0
        # stored: every text's unit mean and numbers, filled in place (one copy of the means)
        self._means: np.ndarray | None = None
        # trace, rank, n_tokens, mean_norm, top_token_share
        self._numbers = np.zeros((5, self.n_texts))
        self._filled = 0

    @property
    def store(self) -> StatsStore | None:
        """The store (made on first use), or None without one."""
        if callable(self._store) and not isinstance(self._store, StatsStore):
            self._store = self._store()
        return self._store

    def missing(self, keys: Sequence[str]) -> list[bool]:
        """Which of ``keys`` still need encoding: all in memory; in a store, those without
        complete statistics there (:meth:`StatsStore.complete_many`; a rerun or a resumed run
        skips the others)."""
        if not self.stored:
            return [True] * len(keys)
        return [not ok for ok in self.store.complete_many(keys)]

    def add(self, keys: Sequence[str], stats: Sequence[TokenStats | None]) -> None:
        """Add the next texts' statistics (None: already in the store, read back from it)."""
        keys, stats = list(keys), list(stats)
        self._keys += keys
        if self.stored:
            self._add_stored(keys, stats)
            return
        if any(s is None for s in stats):
            raise ValueError("statistics held in memory cannot be read back from a store")
        self._held += stats
        self._bytes += sum(8 * s.dim * (s.rank + 1) for s in stats)
        projected = self.expected
        if projected is None:
            projected = self._bytes * self.n_texts // max(len(self._held), 1)
        if self._store is not None and projected > self.budget:  # move to the store from now
            held, self._held = self._held, []
            self.stored = True
            self._add_stored(list(self._keys), held)

    def _add_stored(self, keys: list[str], stats: list[TokenStats | None]) -> None:
        fresh = [(k, s) for k, s in zip(keys, stats, strict=True) if s is not None]
        if fresh:
            self.store.put_many([k for k, _ in fresh], [s for _, s in fresh])
        known = iter(
            self.store.heads_many([k for k, s in zip(keys, stats, strict=True) if s is None])
        )
        for key, s in zip(keys, stats, strict=True):
            h = next(known) if s is None else s
            if h is None:
                raise RuntimeError(f"statistics of {key} vanished from the store")
            if self._means is None:
                self._means = np.empty((self.n_texts, len(h.mean)))
            if self._filled >= self.n_texts:
                raise ValueError(f"more than the {self.n_texts} texts announced")
            self._means[self._filled] = h.mean
            self._numbers[:, self._filled] = (
                h.trace, h.rank, h.n_tokens, h.mean_norm, h.top_token_share
            )  # fmt: skip
            self._filled += 1

    def finish(self) -> StatsHandle:
        """The collected statistics: :class:`LocalStats`, or :class:`StoredStats`."""
        if not self.stored:
            return LocalStats(self._held)
        k = self._filled
        means = np.zeros((0, 0)) if self._means is None else self._means[:k]
        trace, rank, n_tokens, mean_norm, shares = self._numbers[:, :k]
        self._means = None  # handed over: the collector keeps no copy
        self.store.forget_heads()  # read into the means and numbers: the index is not needed
        release_freed_memory()  # the blocks' token embeddings and factors, freed on the way
        return StoredStats(
            self.store, list(self._keys), means, trace, rank.astype(np.int64),
            n_tokens.astype(np.int64), mean_norm, shares,
        )  # fmt: skip

    def info(self) -> dict[str, Any]:
        """Where the statistics went, for a run's summary."""
        out: dict[str, Any] = {
            "kept": "store" if self.stored else "memory",
            "n_texts": self.n_texts,
        }
        out["budget_bytes"] = self.budget
        if self.expected is not None:
            out["estimated_bytes"] = self.expected
        if self.stored:
            out.update(self.store.info())
        return out
