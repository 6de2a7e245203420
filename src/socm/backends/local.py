"""The local backend: encode and score in this process (the default)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from socm.backends.base import STREAM_TEXTS, Backend, LocalStats, StatsHandle, as_pairs
from socm.core.mine import score_candidates
from socm.core.pairs import (
    LAZY_BUDGET_BYTES,
    PairResult,
    ScoreOptions,
    iter_pairwise,
    iter_pairwise_lazy,
)
from socm.core.stats import TokenStats
from socm.encode.cache import text_key
from socm.encode.encoder import Encoder, EncodeResult, EncoderSpec
from socm.encode.pooling import reduce_encoded
from socm.errors import SocmError
from socm.inputs.corpus import Corpus
from socm.progress import progress_bar
from socm.store import StatsCollector, StoredStats

__all__ = ["LocalBackend", "encode_stats"]


def encode_stats(
    enc: Encoder,
    chosen: Corpus,
    progress: bool,
    block: int = STREAM_TEXTS,
    collector: StatsCollector | None = None,
) -> tuple[StatsHandle, EncodeResult]:
    """Per-text statistics of every text, encoding ``block`` texts at a time; each block is
    reduced at once (:func:`socm.encode.pooling.reduce_encoded`: the reduce step, on the
    encoder's device, with the model's pooled embeddings as the unit means under native
    pooling), handed to ``collector`` (in memory, or a store on disk beyond its budget) and
    its token embeddings dropped. Texts whose statistics the collector's store already holds
    are not encoded again (a rerun, or a run resumed after an interruption). The encoding's
    counts and timings.

    One progress bar over all texts (cached texts count at once). ``seconds`` is the time in
    :meth:`Encoder.encode <socm.encode.Encoder.encode>` only, not the reduction to statistics.
    """
    collector = StatsCollector(len(chosen)) if collector is None else collector
    total = EncodeResult(embeddings=[], truncated=[])
    device = enc.device if enc.device.type == "cuda" else None
    bar = progress_bar(len(chosen), "encode", "text", enabled=bool(progress))
    try:
        for s in range(0, len(chosen), block):
            ids, texts = chosen.ids[s : s + block], chosen.texts[s : s + block]
            keys = [text_key(t) for t in texts]
            todo = [k for k, need in enumerate(collector.missing(keys)) if need]
            part = enc.encode([texts[k] for k in todo], [ids[k] for k in todo], progress=bar)
            reduced = reduce_encoded(part, device, [f"text {ids[k]}" for k in todo])
            part.embeddings.clear()
            stats: list[TokenStats | None] = [None] * len(texts)
            for k, st in zip(todo, reduced, strict=True):
                stats[k] = st
            collector.add(keys, stats)
            _count(total, part, enc, texts, todo)
            bar.update(len(texts) - len(todo))
    finally:
        bar.close()
    return collector.finish(), total


def _count(total: EncodeResult, part: EncodeResult, enc: Encoder, texts: list, todo: list) -> None:
    """Add a block's counts to ``total``; texts not encoded (their statistics stored) get
    their token counts, truncation flags and windows from the tokenizer."""
    n_tokens, truncated, windows = [0] * len(texts), [False] * len(texts), [1] * len(texts)
    for k, n, cut, w in zip(todo, part.n_tokens, part.truncated, part.n_windows, strict=True):
        n_tokens[k], truncated[k], windows[k] = n, cut, w
    done = set(todo)
    skipped = [k for k in range(len(texts)) if k not in done]
    if skipped:
        kept, cut, win = enc.policy.counts([texts[k] for k in skipped])
        for k, n, c, w in zip(skipped, kept.tolist(), cut.tolist(), win.tolist(), strict=True):
            n_tokens[k], truncated[k], windows[k] = n, c, w
        total.n_cached += len(skipped)
    total.n_tokens += n_tokens
    total.truncated += truncated
    total.n_windows += windows
    total.n_truncated += sum(truncated)
    total.n_cached += part.n_cached
    total.n_encoded += part.n_encoded
    total.seconds += part.seconds
    total.load_seconds += part.load_seconds


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
        collector: StatsCollector | None = None,
    ) -> tuple[StatsHandle, EncodeResult]:
        """See :meth:`Backend.encode_stats`: :func:`encode_stats` with the job's encoder (or
        one built from ``spec``), the statistics kept by ``collector`` (in memory, or on disk
        beyond its budget)."""
        return encode_stats(encoder or spec.build(), corpus, progress, self.block, collector)

    @staticmethod
    def _items(stats: StatsHandle | list[TokenStats]) -> Sequence[TokenStats]:
        if isinstance(stats, LocalStats):
            return stats.items
        if isinstance(stats, StoredStats):
            return stats
        if isinstance(stats, StatsHandle):
            raise TypeError(f"the local backend scores statistics held here, not {type(stats)}")
        return stats

    def score(
        self, stats: StatsHandle | list[TokenStats], pairs: Any, opts: ScoreOptions
    ) -> Iterator[PairResult]:
        """See :meth:`Backend.score`: :func:`~socm.core.pairs.iter_pairwise` (consuming the
        statistics: the engine's copy of the factors is then the only one), or for
        statistics on disk :func:`~socm.core.pairs.iter_pairwise_lazy` (a budget of factors
        read at a time)."""
        items = self._items(stats)
        if isinstance(items, StoredStats):
            return iter_pairwise_lazy(
                items, as_pairs(pairs), opts.numerics, opts.device, opts.progress, opts.schema
            )
        return iter_pairwise(
            items, as_pairs(pairs), opts.numerics, opts.device, opts.progress,
            consume=True, schema=opts.schema,
        )  # fmt: skip

    def score_listed(
        self, stats: StatsHandle | list[TokenStats], pairs: Any, opts: ScoreOptions
    ) -> PairResult:
        """See :meth:`Backend.score_listed`: :func:`~socm.core.mine.score_candidates` (the
        scoring of :func:`socm.core.mine.mine`, bit for bit; ``stats`` is not consumed; from a
        store, a smaller budget of factors at a time)."""
        items = self._items(stats)
        if isinstance(items, StoredStats):
            return score_candidates(items, as_pairs(pairs), opts, LAZY_BUDGET_BYTES)
        return score_candidates(items, as_pairs(pairs), opts)
