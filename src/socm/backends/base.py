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

if TYPE_CHECKING:
    import numpy as np

    from socm.core.pairs import PairResult
    from socm.core.stats import TokenStats
    from socm.encode.encoder import Encoder, EncodeResult
    from socm.inputs.corpus import Corpus
    from socm.measure.config import MeasureConfig

__all__ = ["BACKENDS", "STREAM_TEXTS", "Backend"]

#: The backends ``--backend`` accepts.
BACKENDS = ("local", "ray")
#: Texts encoded and reduced to statistics per block by the local backend (token embeddings of
#: one block at a time are in memory).
STREAM_TEXTS = 4096


class Backend(abc.ABC):
    """Encodes texts to per-text statistics and scores pairs of them.

    Use it as a context manager: :meth:`start` on entry (connect to a cluster, ...),
    :meth:`close` on exit (disconnect, stop what :meth:`start` started).
    """

    #: The backend's name (one of :data:`BACKENDS`).
    name: str = ""

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
    ) -> tuple[list[TokenStats], EncodeResult]:
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
        (list of TokenStats, EncodeResult)
            The statistics, and the encoding's counts, per-text truncation flags and token
            counts and timings (its ``embeddings`` list is empty: token embeddings are dropped
            once reduced).

        Raises
        ------
        SocmError
            A text with no tokens under the policy, model loading failures, a failed worker.
        """

    @abc.abstractmethod
    def score(
        self,
        stats: list[TokenStats],
        pairs: np.ndarray | None,
        numerics: str,
        device: str,
        progress: bool,
        ids: Sequence[str] | None = None,
    ) -> Iterator[PairResult]:
        """Score all pairs (``pairs=None``) or the listed ``(P, 2)`` pairs, tile by tile.

        ``stats`` is consumed: its entries are dropped once the backend holds its own copy.
        All pairs come in any order, every pair ``i < j`` exactly once; listed pairs come in
        the given order (the job relies on it for pair labels).

        Parameters
        ----------
        stats : list of TokenStats
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
