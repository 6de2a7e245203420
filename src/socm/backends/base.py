"""The backend interface: where a measure or mine job encodes its texts and scores its pairs.

A backend only schedules work; every formula stays in :mod:`socm.core` (statistics, pair
engine) and :mod:`socm.encode` (token embeddings). The measure job
(:func:`socm.measure.run_measure`) streams what :meth:`Backend.score` yields into
``pairs.parquet`` and the O(n) running sums of the summary, whichever backend computed it; the
mine job (:func:`socm.analyses.mine.run_mine`) scores its candidate pairs as listed pairs and
ranks them itself.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from socm.core.mine import locality_order
from socm.core.stats import TokenStats
from socm.errors import SocmError

if TYPE_CHECKING:
    from socm.core.pairs import PairResult
    from socm.encode.encoder import Encoder, EncodeResult
    from socm.inputs.corpus import Corpus
    from socm.measure.config import MeasureConfig

__all__ = ["BACKENDS", "STREAM_TEXTS", "Backend", "LocalStats", "StatsHandle"]

#: The backends ``--backend`` accepts.
BACKENDS = ("local", "ray")
#: Texts encoded and reduced to statistics per block by the local backend (token embeddings of
#: one block at a time are in memory).
STREAM_TEXTS = 4096


class StatsHandle(abc.ABC):
    r"""Every text's statistics (:class:`~socm.core.stats.TokenStats`), wherever a backend
    keeps them: in this process (:class:`LocalStats`) or in a cluster's object store
    (:class:`socm.backends.ray.RemoteStats`), so that the covariance factors, the bulk of
    the statistics, never have to gather in one process.

    This process always holds the small per-text numbers (:attr:`traces`, :attr:`ranks`);
    :meth:`means` brings the unit means here, :math:`N \times D` floats, only when asked
    (the neighbour search of a mine job needs them; a measure job does not).
    """

    def __init__(self, traces: np.ndarray, ranks: np.ndarray, dim: int) -> None:
        self._traces = np.asarray(traces, dtype=np.float64)
        self._ranks = np.asarray(ranks, dtype=np.int64)
        self._dim = int(dim)
        if self._traces.shape != self._ranks.shape:
            raise ValueError("traces and ranks must have one entry per text")

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
    def dim(self) -> int:
        """Embedding dimension :math:`D` (0 without texts)."""
        return self._dim

    @abc.abstractmethod
    def means(self) -> np.ndarray:
        r"""float64 ``(N, D)``: every text's unit mean :math:`\tilde\mu`, in text order."""


class LocalStats(StatsHandle):
    """Statistics held in this process: a list of :class:`~socm.core.stats.TokenStats`.

    Parameters
    ----------
    items : list of TokenStats
        The statistics, in text order (the local backend's scoring consumes the list).

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
        )
        self.items = items

    def means(self) -> np.ndarray:
        """See :meth:`StatsHandle.means` (before :meth:`LocalBackend.score
        <socm.backends.LocalBackend.score>` consumes :attr:`items`)."""
        if not self.items:
            return np.zeros((0, 0))
        return np.stack([s.mean for s in self.items])


class Backend(abc.ABC):
    """Encodes texts to per-text statistics and scores pairs of them.

    Use it as a context manager: :meth:`start` on entry (connect to a cluster, ...),
    :meth:`close` on exit (disconnect, stop what :meth:`start` started).
    """

    #: The backend's name (one of :data:`BACKENDS`).
    name: str = ""
    #: Whether a measure job scores through :meth:`score_summarized` (tasks write their own
    #: parts of a ``pairs.parquet`` folder and send back sums) instead of streaming the
    #: tiles of :meth:`score` into one file here.
    writes_pairs: bool = False

    def __enter__(self) -> Backend:
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def start(self) -> None:  # noqa: B027 - optional hook
        """Acquire what the backend runs on (nothing for the local backend)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`start` acquired."""

    def driver_encoder_options(self) -> dict[str, Any]:
        """Overrides for the encoder the job builds in this process (the driver).

        The driver's encoder always tokenises (text checks, token policy, metadata); a backend
        that runs the model elsewhere keeps it off this machine's accelerator.
        """
        return {}

    def info(self) -> dict[str, Any]:
        """What ran the job, for ``summary.json["backend"]``."""
        return {"name": self.name}

    @abc.abstractmethod
    def encode_stats(
        self,
        cfg: MeasureConfig,
        enc: Encoder,
        corpus: Corpus,
        progress: bool,
        block: int = STREAM_TEXTS,
    ) -> tuple[StatsHandle, EncodeResult]:
        """Per-text statistics of every text of ``corpus``, in corpus order.

        Parameters
        ----------
        cfg : MeasureConfig
            The run's settings (a remote backend builds its own encoders from them).
        enc : Encoder
            The driver's encoder (the local backend encodes with it).
        corpus : Corpus
            The texts.
        progress : bool
            Show a progress bar over texts.
        block : int
            Texts per block (the local backend's memory bound).

        Returns
        -------
        (StatsHandle, EncodeResult)
            The statistics (where the backend keeps them), and the encoding's counts,
            per-text truncation flags and token counts and timings (its ``embeddings`` list is
            empty: token embeddings are dropped once reduced).

        Raises
        ------
        SocmError
            A text with no tokens under the policy, model loading failures, a failed worker.
        """

    @abc.abstractmethod
    def score(
        self,
        stats: StatsHandle | list[TokenStats],
        pairs: np.ndarray | None,
        numerics: str,
        device: str,
        progress: bool,
        ids: Sequence[str] | None = None,
    ) -> Iterator[PairResult]:
        """Score all pairs (``pairs=None``) or the listed ``(P, 2)`` pairs, tile by tile.

        ``stats`` is consumed: a list's entries are dropped once the backend holds its own
        copy. All pairs come in any order, every pair ``i < j`` exactly once; listed pairs
        come in the given order (the job relies on it for pair labels; a caller that wants
        locality, such as mine, orders the list so that neighbouring pairs share texts).

        Parameters
        ----------
        stats : StatsHandle or list of TokenStats
            What :meth:`encode_stats` of this backend returned, or statistics in this process.
        pairs : numpy.ndarray of int64, shape (P, 2), or None
        numerics : {"exact", "paper"}
        device : str
            The pair engine's device next to the driver's encoder (the local backend's; a
            cluster backend places the engine on its workers).
        progress : bool
            Show a progress bar.
        ids : sequence of str, optional
            The texts' ids, to name texts in error messages.

        Raises
        ------
        SocmError
            A failed worker (naming the tile and its texts).
        """

    def score_listed(
        self,
        stats: StatsHandle | list[TokenStats],
        i: np.ndarray,
        j: np.ndarray,
        numerics: str,
        device: str,
        progress: bool,
        ids: Sequence[str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """d_μ, d_Σ and SOCM of listed pairs (a mine job's candidates), in their given order.

        The pairs go to :meth:`score` in :func:`~socm.core.mine.locality_order`, so that the
        consecutive pairs of one task share most of their texts, and the scores come back in
        the order of ``i, j``. ``stats`` is consumed as by :meth:`score`.

        Parameters
        ----------
        stats : StatsHandle or list of TokenStats
        i, j : numpy.ndarray of int64, shape (P,)
            The pairs (``i`` is the first text for the paper numerics).
        numerics : {"exact", "paper"}
        device : str
        progress : bool
        ids : sequence of str, optional

        Returns
        -------
        (d_mu, d_sigma, socm)
            float64 arrays of shape (P,).

        Raises
        ------
        SocmError
            A failed worker, or tiles that are not the pairs asked for.
        """
        p = len(i)
        order = locality_order(i, j, len(stats))
        pairs = np.stack([i[order], j[order]], axis=1).astype(np.int64, copy=False)
        out = np.empty((3, p))
        done = 0
        for tile in self.score(stats, pairs, numerics, device, progress, ids=ids):
            sel = order[done : done + len(tile)]
            if not (np.array_equal(tile.i, i[sel]) and np.array_equal(tile.j, j[sel])):
                raise SocmError(f"the {self.name} backend returned other pairs than it was given")
            out[0, sel], out[1, sel], out[2, sel] = tile.d_mu, tile.d_sigma, tile.socm
            done += len(tile)
        if done != p:
            raise SocmError(f"the {self.name} backend scored {done} of {p} pairs")
        return out[0], out[1], out[2]

    def score_summarized(
        self,
        stats: StatsHandle | list[TokenStats],
        pairs: np.ndarray | None,
        numerics: str,
        progress: bool,
        ids: Sequence[str],
        acc: Any,
        pairs_dir: Any = None,
        labels: list[str | None] | None = None,
        per_label: Any = None,
    ) -> None:
        """Score where the pairs are written: only for a backend with :attr:`writes_pairs`
        (see :meth:`socm.backends.ray.RayBackend.score_summarized`)."""
        raise NotImplementedError(f"the {self.name} backend streams tiles: use score()")
