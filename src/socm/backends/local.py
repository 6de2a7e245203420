"""The local backend: encode and score in this process (the default)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from socm.backends.base import STREAM_TEXTS, Backend, LocalStats, StatsHandle
from socm.core.mine import score_candidates
from socm.core.pairs import PairResult, iter_pairwise
from socm.core.stats import TokenStats, token_stats
from socm.encode.encoder import Encoder, EncodeResult
from socm.inputs.corpus import Corpus
from socm.progress import progress_bar

if TYPE_CHECKING:  # not at run time: socm.measure imports this package
    from socm.measure.config import MeasureConfig

__all__ = ["LocalBackend", "encode_stats"]


def encode_stats(
    enc: Encoder, chosen: Corpus, progress: bool, block: int = STREAM_TEXTS
) -> tuple[list[TokenStats], EncodeResult]:
    """Per-text statistics of every text, encoding ``block`` texts at a time (each block's
    token embeddings are dropped once reduced); the encoding's counts and timings.

    One progress bar over all texts (cached texts count at once). ``seconds`` is the time in
    :meth:`Encoder.encode <socm.encode.Encoder.encode>` only, not the reduction to statistics.
    """
    total = EncodeResult(embeddings=[], truncated=[])
    stats: list[TokenStats] = []
    bar = progress_bar(len(chosen), "encode", "text", enabled=bool(progress))
    try:
        for s in range(0, len(chosen), block):
            part = enc.encode(chosen.texts[s : s + block], chosen.ids[s : s + block], progress=bar)
            embs = part.embeddings
            for k in range(len(embs)):
                stats.append(token_stats(embs[k], where=f"text {chosen.ids[s + k]}"))
                embs[k] = None
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
    """Everything in this process: the encoder given by the job, then
    :func:`socm.core.pairs.iter_pairwise` (a thread pool on the CPU, or one GPU).

    Examples
    --------
    >>> import numpy as np
    >>> from socm.backends import LocalBackend
    >>> from socm.core.stats import token_stats
    >>> rng = np.random.default_rng(0)
    >>> stats = [token_stats(rng.normal(1, 1, (8, 4))) for _ in range(4)]
    >>> with LocalBackend() as backend:
    ...     tiles = list(backend.score(stats, None, "exact", "cpu", progress=False))
    >>> sum(len(t) for t in tiles)
    6
    """

    name = "local"

    def encode_stats(
        self,
        cfg: MeasureConfig,
        enc: Encoder,
        corpus: Corpus,
        progress: bool,
        block: int = STREAM_TEXTS,
    ) -> tuple[LocalStats, EncodeResult]:
        """See :meth:`Backend.encode_stats`: :func:`encode_stats` with the driver's encoder."""
        stats, encoded = encode_stats(enc, corpus, progress, block)
        return LocalStats(stats), encoded

    def score(
        self,
        stats: StatsHandle | list[TokenStats],
        pairs: np.ndarray | None,
        numerics: str,
        device: str,
        progress: bool,
        ids: Sequence[str] | None = None,
    ) -> Iterator[PairResult]:
        """See :meth:`Backend.score`: :func:`~socm.core.pairs.iter_pairwise` on ``device``."""
        if isinstance(stats, LocalStats):
            stats = stats.items
        elif isinstance(stats, StatsHandle):
            raise TypeError(f"the local backend scores statistics held here, not {type(stats)}")
        return iter_pairwise(stats, pairs, numerics, device, progress, consume=True)

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
        """See :meth:`Backend.score_listed`: :func:`~socm.core.mine.score_candidates` (the
        scoring of :func:`socm.core.mine.mine`, bit for bit; ``stats`` is not consumed)."""
        items = stats.items if isinstance(stats, LocalStats) else stats
        return score_candidates(items, i, j, numerics, device, progress)

    def info(self) -> dict:
        """``{"name": "local"}``."""
        return {"name": self.name}
