"""The backend interface: where a job encodes its texts and scores its pairs.

A backend only schedules work; every formula stays in :mod:`socm.core` (the reduce step, the
pair engine, the pair columns) and :mod:`socm.encode` (token embeddings). It receives what
defines the embeddings (an :class:`~socm.encode.EncoderSpec`), the texts, the statistics and
how to score them (:class:`~socm.core.pairs.ScoreOptions`), never a run's whole configuration,
and it writes scored pairs only through a :class:`~socm.runs.PairSink`.

Three ways to score, one default route each, so a backend needs only :meth:`Backend.score`:

* :meth:`Backend.score`: tiles as they finish (all pairs in any order, listed pairs in order);
* :meth:`Backend.score_listed`: listed pairs (a mine job's candidates) in their given order,
  sent to :meth:`~Backend.score` in locality order;
* :meth:`Backend.score_into`: into a run's sink (a measure job); a cluster backend overrides
  it so that its workers write their parts of the pairs and send back only sums.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from socm.core.locality import locality_order
from socm.core.pairs import PairResult, ScoreOptions
from socm.core.stats import TokenStats
from socm.errors import SocmError
from socm.store import LocalStats, StatsHandle

if TYPE_CHECKING:
    from socm.encode.encoder import Encoder, EncodeResult, EncoderSpec
    from socm.inputs.corpus import Corpus
    from socm.runs import PairSink
    from socm.store import StatsCollector

__all__ = ["STREAM_TEXTS", "Backend", "LocalStats", "StatsHandle"]

#: Texts encoded and reduced to statistics per block by the local backend (token embeddings of
#: one block at a time are in memory).
STREAM_TEXTS = 4096


def as_pairs(pairs: Any) -> np.ndarray | None:
    """Listed pairs as an int64 ``(P, 2)`` array (None stays None: all pairs)."""
    return None if pairs is None else np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


class Backend(abc.ABC):
    """Encodes texts to per-text statistics and scores pairs of them.

    Use it as a context manager: :meth:`start` on entry (connect to a cluster, ...),
    :meth:`close` on exit (disconnect, stop what :meth:`start` started). A backend is made by
    :func:`socm.backends.get_backend` from its registered name with two generic options: an
    ``address`` (where it connects; None for the local backend) and the run's ``device``.
    """

    #: The name the backend is registered under.
    name: str = ""
    #: Texts encoded and reduced at once (the token embeddings in memory at a time), where
    #: the backend encodes in this process.
    block: int = STREAM_TEXTS
    #: Whether the statistics are reduced in this process, into the job's
    #: :class:`~socm.store.StatsCollector` (memory, or a store on disk beyond its budget);
    #: False for a backend that keeps them elsewhere (a cluster's object store).
    collects: bool = True

    def __enter__(self) -> Backend:
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def start(self) -> None:  # noqa: B027 - optional hook
        """Acquire what the backend runs on (nothing for the local backend)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`start` acquired."""

    def driver_device(self) -> str | None:
        """The device of the encoder the job builds in this process (None: the run's own).

        The job's encoder always tokenises here (text checks, token policy, metadata); a
        backend that runs the model elsewhere keeps it off this machine's accelerator.
        """
        return None

    def info(self) -> dict[str, Any]:
        """What ran the job, for ``summary.json["backend"]``."""
        return {"name": self.name}

    @abc.abstractmethod
    def encode_stats(
        self,
        spec: EncoderSpec,
        corpus: Corpus,
        progress: bool = False,
        encoder: Encoder | None = None,
        collector: StatsCollector | None = None,
    ) -> tuple[StatsHandle, EncodeResult]:
        """Per-text statistics of every text of ``corpus``, in corpus order.

        Parameters
        ----------
        spec : EncoderSpec
            What defines the token embeddings (a remote backend builds its encoders from it).
        corpus : Corpus
            The texts.
        progress : bool
            Show a progress bar over texts.
        encoder : Encoder, optional
            The job's encoder, built from ``spec`` in this process (the local backend encodes
            with it instead of building another).
        collector : StatsCollector, optional
            Where statistics reduced in this process go (in memory, or a store on disk beyond
            a memory budget: :class:`socm.store.StatsCollector`); a backend that keeps them
            elsewhere (a cluster's object store) does not use it.

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
        self, stats: StatsHandle | list[TokenStats], pairs: Any, opts: ScoreOptions
    ) -> Iterator[PairResult]:
        """Score all pairs (``pairs=None``) or the listed ``(P, 2)`` pairs, tile by tile.

        ``stats`` may be consumed (a list's entries dropped once the backend holds its own
        copy). All pairs come in any order, every pair ``i < j`` exactly once; listed pairs
        come in the given order (the job relies on it for pair labels; a caller that wants
        locality, such as mine, orders the list so that neighbouring pairs share texts).

        Parameters
        ----------
        stats : StatsHandle or list of TokenStats
            What :meth:`encode_stats` of this backend returned, or statistics in this process.
        pairs : array_like of int, shape (P, 2), or None
        opts : ScoreOptions
            Numerics, the engine's device in this process, progress, the texts' ids (for
            error messages) and the pair columns.

        Raises
        ------
        SocmError
            A failed worker (naming the tile and its texts).
        """

    def score_listed(
        self, stats: StatsHandle | list[TokenStats], pairs: Any, opts: ScoreOptions
    ) -> PairResult:
        """Every pair column of listed pairs (a mine job's candidates), in their given order.

        The pairs go to :meth:`score` in :func:`~socm.core.mine.locality_order`, so that the
        consecutive pairs of one task share most of their texts, and come back in the given
        order. ``stats`` may be consumed as by :meth:`score`.

        Raises
        ------
        SocmError
            A failed worker, or tiles that are not the pairs asked for.
        """
        pairs = as_pairs(pairs)
        i, j = pairs[:, 0], pairs[:, 1]
        order = locality_order(i, j, len(stats))
        cols: dict[str, np.ndarray] = {}
        done = 0
        for tile in self.score(stats, pairs[order], opts):
            sel = order[done : done + len(tile)]
            if not (np.array_equal(tile.i, i[sel]) and np.array_equal(tile.j, j[sel])):
                raise SocmError(f"the {self.name} backend returned other pairs than it was given")
            for name, values in tile.columns.items():
                cols.setdefault(name, np.empty(len(i), dtype=values.dtype))[sel] = values
            done += len(tile)
        if done != len(i):
            raise SocmError(f"the {self.name} backend scored {done} of {len(i)} pairs")
        if not cols:
            return PairResult.empty(opts.schema)
        return PairResult(i, j, **cols)

    def score_into(
        self,
        stats: StatsHandle | list[TokenStats],
        pairs: Any,
        opts: ScoreOptions,
        sink: PairSink,
    ) -> None:
        """Score into a run's sink (the measure job's route): each tile of :meth:`score`
        goes to :meth:`PairSink.add <socm.runs.PairSink.add>` here. The caller closes the
        sink."""
        for tile in self.score(stats, as_pairs(pairs), opts):
            sink.add(tile)
