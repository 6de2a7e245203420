"""The local backend: encode and score in this process (the default)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from socm.backends.base import STREAM_TEXTS, Backend, LocalStats, StatsHandle, as_pairs
from socm.core.mine import score_candidates
from socm.core.pairs import PairResult, ScoreOptions, iter_pairwise
from socm.core.stats import TokenStats, reduce_many
from socm.encode.encoder import Encoder, EncodeResult, EncoderSpec
from socm.errors import SocmError
from socm.inputs.corpus import Corpus
from socm.progress import progress_bar

__all__ = ["LocalBackend", "encode_stats"]


def encode_stats(
    enc: Encoder, chosen: Corpus, progress: bool, block: int = STREAM_TEXTS
) -> tuple[list[TokenStats], EncodeResult]:
    """Per-text statistics of every text, encoding ``block`` texts at a time; each block is
    reduced at once (:func:`socm.core.stats.reduce_many`, on the encoder's device) and its
    token embeddings dropped. The encoding's counts and timings.

    One progress bar over all texts (cached texts count at once). ``seconds`` is the time in
    :meth:`Encoder.encode <socm.encode.Encoder.encode>` only, not the reduction to statistics.
    """
    total = EncodeResult(embeddings=[], truncated=[])
    stats: list[TokenStats] = []
    device = enc.device if enc.device.type == "cuda" else None
    bar = progress_bar(len(chosen), "encode", "text", enabled=bool(progress))
    try:
        for s in range(0, len(chosen), block):
            ids = chosen.ids[s : s + block]
            part = enc.encode(chosen.texts[s : s + block], ids, progress=bar)
            stats += reduce_many(part.embeddings, device, [f"text {i}" for i in ids])
            part.embeddings.clear()
            total.n_tokens += part.n_tokens
            total.truncated += part.truncated
            total.n_truncated += part.n_truncated
            total.n_cached += part.n_cached
            total.n_encoded += part.n_encoded
            total.seconds += part.seconds
            total.load_seconds += part.load_seconds
    finally:
        bar.close()
    return stats, total


class LocalBackend(Backend):
    """Everything in this process: the job's encoder, the reduce step, then
    :func:`socm.core.pairs.iter_pairwise` (a thread pool on the CPU, or one GPU).

    Parameters
    ----------
    address : None
        The local backend connects nowhere.
    device : str, optional
        Not used (the job's encoder and :class:`~socm.core.pairs.ScoreOptions` carry it).

    Raises
    ------
    SocmError
        An address was given.

    Examples
    --------
    >>> import numpy as np
    >>> from socm.backends import LocalBackend
    >>> from socm.core.pairs import ScoreOptions
    >>> from socm.core.stats import token_stats
    >>> rng = np.random.default_rng(0)
    >>> stats = [token_stats(rng.normal(1, 1, (8, 4))) for _ in range(4)]
    >>> with LocalBackend() as backend:
    ...     tiles = list(backend.score(stats, None, ScoreOptions(device="cpu")))
    >>> sum(len(t) for t in tiles)
    6
    """

    name = "local"

    def __init__(self, address: str | None = None, device: str | None = None) -> None:
        if address:
            raise SocmError(
                "--backend-address is for a backend that runs elsewhere (the local backend "
                "runs here)"
            )

    def encode_stats(
        self,
        spec: EncoderSpec,
        corpus: Corpus,
        progress: bool = False,
        encoder: Encoder | None = None,
    ) -> tuple[LocalStats, EncodeResult]:
        """See :meth:`Backend.encode_stats`: :func:`encode_stats` with the job's encoder (or
        one built from ``spec``)."""
        stats, encoded = encode_stats(encoder or spec.build(), corpus, progress, self.block)
        return LocalStats(stats), encoded

    @staticmethod
    def _items(stats: StatsHandle | list[TokenStats]) -> list[TokenStats]:
        if isinstance(stats, LocalStats):
            return stats.items
        if isinstance(stats, StatsHandle):
            raise TypeError(f"the local backend scores statistics held here, not {type(stats)}")
        return stats

    def score(
        self, stats: StatsHandle | list[TokenStats], pairs: Any, opts: ScoreOptions
    ) -> Iterator[PairResult]:
        """See :meth:`Backend.score`: :func:`~socm.core.pairs.iter_pairwise` (consuming the
        statistics: the engine's copy of the factors is then the only one)."""
        return iter_pairwise(
            self._items(stats),
            as_pairs(pairs),
            opts.numerics,
            opts.device,
            opts.progress,
            consume=True,
            schema=opts.schema,
        )

    def score_listed(
        self, stats: StatsHandle | list[TokenStats], pairs: Any, opts: ScoreOptions
    ) -> PairResult:
        """See :meth:`Backend.score_listed`: :func:`~socm.core.mine.score_candidates` (the
        scoring of :func:`socm.core.mine.mine`, bit for bit; ``stats`` is not consumed)."""
        return score_candidates(self._items(stats), as_pairs(pairs), opts)
