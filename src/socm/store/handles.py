"""Where a run's per-text statistics are kept: in memory, on disk, or in a cluster.

:class:`StatsHandle` is what a backend hands back from encoding: every text's statistics,
wherever they are, with the small per-text numbers (traces, ranks) always at hand and the unit
means on request. :class:`LocalStats` holds them in this process; :class:`StoredStats` keeps
the covariance factors in a :class:`~socm.store.StatsStore` on disk and reads a text's factor
when it is scored (a lazy sequence of :class:`~socm.core.stats.TokenStats`).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from socm.core.stats import TokenStats
from socm.errors import SocmError

if TYPE_CHECKING:
    from socm.store.stats_store import Head, StatsStore

__all__ = ["LocalStats", "StatsHandle", "StoredStats"]


class StatsHandle(abc.ABC):
    r"""Every text's statistics (:class:`~socm.core.stats.TokenStats`), wherever a backend
    keeps them: in this process (:class:`LocalStats`), on disk (:class:`StoredStats`) or in
    a cluster's object store (:class:`socm.backends.ray.RemoteStats`), so that the
    covariance factors, the bulk of the statistics, never have to gather in one process.

    This process always holds the small per-text numbers (:attr:`traces`, :attr:`ranks`);
    :meth:`means` brings the unit means here, :math:`N \times D` floats, only when asked
    (the neighbour search of a mine job needs them; a measure job does not).
    :attr:`top_token_shares` is every text's largest single-token share of its spread (NaN
    where a backend does not report it).
    """

    def __init__(
        self,
        traces: np.ndarray,
        ranks: np.ndarray,
        dim: int,
        top_token_shares: np.ndarray | None = None,
    ) -> None:
        self._traces = np.asarray(traces, dtype=np.float64)
        self._ranks = np.asarray(ranks, dtype=np.int64)
        self._dim = int(dim)
        if self._traces.shape != self._ranks.shape:
            raise ValueError("traces and ranks must have one entry per text")
        if top_token_shares is None:
            top_token_shares = np.full(self._traces.shape, np.nan)
        self._shares = np.asarray(top_token_shares, dtype=np.float64)
        if self._shares.shape != self._traces.shape:
            raise ValueError("top token shares must have one entry per text")

    def __len__(self) -> int:
        """Number of texts."""
        return len(self._traces)

    @property
    def traces(self) -> np.ndarray:
        r"""float64 ``(N,)``: every text's :math:`\operatorname{tr}\Sigma(\tilde X)`."""
        return self._traces

    @property
    def ranks(self) -> np.ndarray:
        """int64 ``(N,)``: rows of every text's covariance factor."""
        return self._ranks

    @property
    def top_token_shares(self) -> np.ndarray:
        """float64 ``(N,)``: every text's :attr:`TokenStats.top_token_share
        <socm.core.stats.TokenStats.top_token_share>`."""
        return self._shares

    @property
    def dim(self) -> int:
        """Embedding dimension :math:`D` (0 without texts)."""
        return self._dim

    @abc.abstractmethod
    def means(self) -> np.ndarray:
        r"""float64 ``(N, D)``: every text's unit mean :math:`\tilde\mu`, in text order."""

    def forget_means(self) -> None:
        """Free the unit means this handle holds in memory where it can read them back (a
        store's: :meth:`StoredStats.forget_means`); by default there is nothing to free."""
        return None


class LocalStats(StatsHandle):
    """Statistics held in this process: a list of :class:`~socm.core.stats.TokenStats`.

    Parameters
    ----------
    items : list of TokenStats
        The statistics, in text order (the local backend's all-pairs scoring consumes the
        list).

    Examples
    --------
    >>> import numpy as np
    >>> from socm.core.stats import token_stats
    >>> rng = np.random.default_rng(0)
    >>> held = LocalStats([token_stats(rng.normal(1, 1, (6, 4))) for _ in range(3)])
    >>> len(held), held.means().shape, held.dim
    (3, (3, 4), 4)
    """

    def __init__(self, items: list[TokenStats]) -> None:
        super().__init__(
            np.array([s.trace for s in items], dtype=np.float64),
            np.array([s.rank for s in items], dtype=np.int64),
            items[0].dim if items else 0,
            np.array([s.top_token_share for s in items], dtype=np.float64),
        )
        self.items = items

    def means(self) -> np.ndarray:
        """See :meth:`StatsHandle.means` (before a scoring call consumes :attr:`items`)."""
        if not self.items:
            return np.zeros((0, 0))
        return np.stack([s.mean for s in self.items])


class StoredStats(StatsHandle, Sequence):
    r"""Statistics in a :class:`~socm.store.StatsStore`: the unit means and the small
    per-text numbers in memory (:math:`O(N \cdot D)`), each covariance factor read from disk
    when ``stats[t]`` is taken (a page-in, checked against its checksum). Once the neighbour
    search has the means, :meth:`forget_means` frees them: ``stats[t]`` then reads text
    ``t``'s unit mean from the store with its factor (the same float64 numbers).

    A sequence of :class:`~socm.core.stats.TokenStats` with a ``ranks`` attribute, so the
    engine's on-demand routes (:func:`socm.core.pairs.iter_pairwise_lazy`,
    :func:`socm.core.mine.score_candidates`) size their chunks without reading a text.

    Parameters
    ----------
    store : StatsStore
        Where the factors are.
    keys : list of str
        Each text's key in the store, in text order.
    means : numpy.ndarray, shape (N, D)
        Unit means.
    traces, ranks, n_tokens, mean_norms : numpy.ndarray, shape (N,)
        The per-text numbers.
    top_token_shares : numpy.ndarray, shape (N,), optional
        Each text's top token's share of its spread (NaN when not given).
    """

    def __init__(
        self,
        store: StatsStore,
        keys: list[str],
        means: np.ndarray,
        traces: np.ndarray,
        ranks: np.ndarray,
        n_tokens: np.ndarray,
        mean_norms: np.ndarray,
        top_token_shares: np.ndarray | None = None,
    ) -> None:
        dim = means.shape[1] if means.ndim == 2 else 0
        super().__init__(traces, ranks, dim, top_token_shares)
        self.store = store
        self.keys = keys
        self._means: np.ndarray | None = means
        self.n_tokens = np.asarray(n_tokens, dtype=np.int64)
        self.mean_norms = np.asarray(mean_norms, dtype=np.float64)

    def means(self) -> np.ndarray:
        """See :meth:`StatsHandle.means`: the array held in memory, or, after
        :meth:`forget_means`, read back from the store (a new array each call)."""
        if self._means is not None:
            return self._means
        out = np.empty((len(self.keys), self._dim))
        for t, head in enumerate(self.store.heads_many(self.keys)):
            out[t] = self._checked(t, head).mean
        return out

    def forget_means(self) -> None:
        r"""Free the unit means (:math:`N \cdot D` floats: 0.31 GB at 100,000 texts of
        :math:`D = 384`), for the scoring of a mine job, which reads a text's mean with its
        factor (the heads' index, about 80 bytes a text, is read back for that)."""
        self._means = None

    def __getitem__(self, t: int) -> TokenStats:  # type: ignore[override]
        """Text ``t``'s statistics, its factor (and, after :meth:`forget_means`, its unit mean)
        read from the store.

        Raises
        ------
        SocmError
            The factor or head is missing or fails its checksum (the store was changed under
            the run).
        """
        factor = self.store.factor(self.keys[t])
        if factor is None or factor.shape != (int(self._ranks[t]), self._dim):
            raise self._damaged(t)
        return TokenStats(
            n_tokens=int(self.n_tokens[t]),
            mean_norm=float(self.mean_norms[t]),
            mean=self._head(t).mean if self._means is None else self._means[t],
            factor=factor,
            trace=float(self._traces[t]),
            top_token_share=float(self._shares[t]),
        )

    def _head(self, t: int) -> Head:
        """Text ``t``'s head read from the store (its unit mean, once :meth:`forget_means`)."""
        return self._checked(t, self.store.head(self.keys[t]))

    def _checked(self, t: int, head: Head | None) -> Head:
        if head is None or head.mean.shape != (self._dim,):
            raise self._damaged(t)
        return head

    def _damaged(self, t: int) -> SocmError:
        return SocmError(
            f"statistics of text {t} are missing or damaged in {self.store.dir} (the store was "
            "changed during the run): delete that folder, or use another --store"
        )
