r"""Mine a corpus for near pairs whose token distributions differ most (``socm mine``'s core).

Mean pooling maps a text to :math:`\tilde\mu`; two texts whose means nearly coincide can still
differ in the shape of their token distributions, which mean pooling discards (Hara et al.,
*Why Mean Pooling Works: Quantifying Second-Order Collapse in Text Embeddings*, arXiv
2604.27398, ACL 2026, Sec. 3). Searching all :math:`\binom N2` pairs is infeasible for large
corpora, so:

1. **Statistics** once per text (:func:`socm.core.stats.token_stats_many`).
2. **Candidates**: every unordered pair :math:`\{i, j\}`, :math:`i \ne j`, where :math:`j` is
   among the ``neighbors`` texts with the highest cosine :math:`\tilde\mu_i^\top\tilde\mu_j` of
   text :math:`i` (ties by lower index), or :math:`i` among :math:`j`'s; each pair once, with
   :math:`i < j` (:func:`socm.core.neighbors.nearest_neighbors`; exact unless
   ``search="auto"`` estimates the exact search too long for a CPU, or ``search="hnsw"``).
   :func:`find_candidates` needs only the unit means.
3. **Scores** of the candidates (:func:`score_candidates`: the listed-pairs path of
   :func:`socm.core.pairs.pairwise` in this process; a cluster backend scores the same pairs
   with the same engine, :meth:`socm.backends.Backend.score`): :math:`d_\mu = (1 - \cos)/2`,
   :math:`d_\Sigma = \mathrm{BW}^2/4`, :math:`\mathrm{SOCM} = (1 - d_\mu)\,d_\Sigma`, and
   :math:`\mathrm{BW}^2/(\operatorname{tr}\Sigma_i + \operatorname{tr}\Sigma_j)`
   (:func:`socm.core.metrics.relative_d_sigma_from_bw2`).
4. **Ranking** (:func:`rank_candidates`) by ``rank_by`` (descending, ties by :math:`(i, j)`),
   at most ``max_per_text`` pairs per text (walking the ranking, a pair is skipped when either
   text already appears that often among the kept pairs), then the first ``top_k``.

Memory is :math:`O(N k)` beyond the statistics: the candidates are scored in chunks whose
texts' covariance factors fit ``score_chunk_bytes``.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from socm.core.metrics import Numerics
from socm.core.neighbors import METHODS, nearest_neighbors, pair_cosines
from socm.core.pairs import PairResult, ScoreOptions, iter_pairwise_lazy, release_freed_memory
from socm.core.schema import rankable_names
from socm.core.stats import TokenStats, check_same_dim, content_key, token_stats_many

__all__ = [
    "Candidates",
    "Checkpoint",
    "ListedScorer",
    "MineOptions",
    "MineResult",
    "OptionError",
    "candidate_pairs",
    "eligible_texts",
    "find_candidates",
    "mine",
    "mine_candidates",
    "mine_stats",
    "neighbor_ranks",
    "random_pair_cosines",
    "rank_candidates",
    "score_and_rank",
    "score_candidates",
]

#: The keyword options of :func:`~socm.core.neighbors.nearest_neighbors` that
#: ``MineOptions.search_options`` may set (the search's own arguments excluded, and
#: ``searched``, which :func:`find_candidates` sets from the texts left out).
SEARCH_OPTIONS = tuple(
    name
    for name, p in inspect.signature(nearest_neighbors).parameters.items()
    if p.kind is inspect.Parameter.KEYWORD_ONLY and name != "searched"
)


class OptionError(ValueError):
    """A mining option out of range: :attr:`option` names it (e.g. ``"top_k"``), and the
    message starts with that name, so a command line can name its flag instead."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


def _whole(name: str, value: Any, allow_none: bool) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise OptionError(name, f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class MineOptions:
    """What a mining run searches, scores and keeps: the one declaration of its options.

    Attributes
    ----------
    neighbors : int
        :math:`k`: each text's ``k`` nearest texts by cosine of the unit means make its
        candidate pairs (``1 <= k < N``); the union over texts is scored, each pair once.
    top_k : int, optional
        Keep the first ``top_k`` pairs of the ranking (after ``max_per_text``); None: all.
    rank_by : str
        Ranking column, descending, ties by ``(i, j)``: a rankable pair column
        (:func:`socm.core.schema.rankable_names`: ``socm``, ``d_sigma``,
        ``relative_d_sigma``, ...). The default, ``relative_d_sigma``, is the shape score
        whose partial correlation with human similarity given the cosine pointed the expected
        way for both models on both STS-B splits (``socm validate``), though not strongly
        enough to call a listed pair one humans see as different; ``socm`` and ``d_sigma``
        pointed the other way for all-MiniLM-L6-v2 (see the mining page of the docs).
    max_per_text : int, optional
        At most this many kept pairs per text (greedy along the ranking).
    search : {"auto", "exact", "faiss", "hnsw"}
        Neighbour search (:func:`socm.core.neighbors.nearest_neighbors`). ``"exact"`` and
        ``"faiss"`` give identical candidates; ``"hnsw"`` is approximate and reports its
        measured recall; ``"auto"`` runs ``"exact"`` unless its estimated time passes
        :data:`~socm.core.neighbors.AUTO_EXACT_SECONDS` on a CPU with faiss installed, then
        ``"hnsw"`` (the method that ran is in the result's ``neighbor_info["method"]``).
    search_options : mapping
        Passed on to :func:`~socm.core.neighbors.nearest_neighbors` (``margin``,
        ``ef_search``, ``recall_sample``, ...).
    min_tokens : int
        Texts with fewer tokens (fragments) are left out of the search: they are nobody's
        candidate. :func:`mine` counts a text's token-matrix rows; ``socm mine`` counts the
        text's own tokens (no special tokens, no prefix).
    drop_duplicates : bool
        A text equal to an earlier one is left out of the search (duplicates would fill each
        other's neighbour slots at cosine 1). :func:`mine` compares token matrices; ``socm
        mine`` compares the texts.
    random_pairs : int
        Random pairs of the searched texts whose cosines place each kept pair's cosine
        (``cosine_percentile``); all pairs when there are fewer.
    seed : int
        Seed of those random pairs.

    Raises
    ------
    OptionError
        (a ``ValueError``) on a value out of range, naming the option.

    Examples
    --------
    >>> MineOptions(neighbors=5).replace(rank_by="d_sigma").rank_by
    'd_sigma'
    >>> MineOptions(top_k=0)
    Traceback (most recent call last):
    ...
    socm.core.mine.OptionError: top_k must be a whole number >= 1, got 0
    """

    neighbors: int = 10
    top_k: int | None = None
    rank_by: str = "relative_d_sigma"
    max_per_text: int | None = None
    search: str = "auto"
    search_options: Mapping[str, Any] = field(default_factory=dict)
    min_tokens: int = 1
    drop_duplicates: bool = False
    random_pairs: int = 100_000
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "neighbors", _whole("neighbors", self.neighbors, False))
        object.__setattr__(self, "min_tokens", _whole("min_tokens", self.min_tokens, False))
        object.__setattr__(self, "random_pairs", _whole("random_pairs", self.random_pairs, False))
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise OptionError("seed", f"seed must be a whole number, got {self.seed!r}")
        if self.seed < 0:
            raise OptionError("seed", f"seed must be a whole number >= 0, got {self.seed!r}")
        object.__setattr__(self, "top_k", _whole("top_k", self.top_k, True))
        object.__setattr__(self, "max_per_text", _whole("max_per_text", self.max_per_text, True))
        ranks = rankable_names()
        if self.rank_by not in ranks:
            raise OptionError(
                "rank_by", f"rank_by must be one of {', '.join(ranks)}, got {self.rank_by!r}"
            )
        if self.search not in METHODS:
            raise OptionError(
                "search", f"search must be one of {', '.join(METHODS)}, got {self.search!r}"
            )
        known = SEARCH_OPTIONS
        unknown = sorted(set(self.search_options) - set(known))
        if unknown:
            raise OptionError(
                "search_options",
                f"search_options: unknown {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(known)}",
            )
        object.__setattr__(self, "search_options", dict(self.search_options))

    def replace(self, **changes: Any) -> MineOptions:
        """A copy with ``changes`` (validated again).

        Raises
        ------
        TypeError
            An unknown option.
        """
        return dataclasses.replace(self, **changes)

    def check_texts(self, n: int, left_out: int = 0) -> None:
        """Refuse ``n`` texts to search (``left_out`` more left out) these options cannot mine.

        Raises
        ------
        OptionError
            Fewer than 2 texts, or ``neighbors`` not below ``n``.
        """
        why = f" after leaving out {left_out:,} fragments and duplicates" if left_out else ""
        if n < 2:
            raise OptionError("texts", f"mining needs at least 2 texts{why}, got {n}")
        if self.neighbors >= n:
            raise OptionError(
                "neighbors",
                f"neighbors {self.neighbors} must be smaller than the number of texts ({n:,}"
                f"{why}): use at most {n - 1}",
            )

    def record(self) -> dict[str, Any]:
        """The options as recorded with a run (JSON-ready)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


class ListedScorer(Protocol):
    """Anything that scores listed pairs in their given order: a backend
    (:meth:`socm.backends.Backend.score_listed`), or this process's engine."""

    def score_listed(self, stats: Any, pairs: np.ndarray, opts: ScoreOptions) -> PairResult:
        """Every pair column of the ``(P, 2)`` pairs, in their order."""


class Checkpoint(Protocol):
    """Keeps a mine run's finished stages so that a rerun or a resumed run skips them
    (:class:`socm.store.MineCheckpoint`: beside a statistics store)."""

    def candidates(
        self, find: Callable[[], Candidates], options: MineOptions, eligible: np.ndarray | None
    ) -> Candidates:
        """``find()``'s candidates, or the same candidates kept by an earlier run
        (``options.search`` as asked; ``eligible``: the texts searched)."""

    def scores(
        self,
        score: Callable[[np.ndarray], PairResult],
        pairs: np.ndarray,
        n_texts: int,
        opts: ScoreOptions,
    ) -> PairResult:
        """``score(pairs)`` (pairs in their order, every column of ``opts.schema``), parts kept
        by an earlier run read back."""


class MineResult:
    r"""Mined pairs, best first, and per-text summaries of the candidate pairs.

    Attributes
    ----------
    i, j : numpy.ndarray of int64, shape (P,)
        Text indices of each kept pair, ``i < j``.
    columns : dict of numpy.ndarray, each of shape (P,)
        ``cosine`` (:math:`\tilde\mu_i^\top\tilde\mu_j`, :func:`socm.core.neighbors.
        pair_cosines`, the kernel ``pairwise`` uses on the CPU: there ``d_mu == clip((1 -
        cosine) / 2, 0, 1)``), ``cosine_percentile`` (percent of random pairs of the corpus
        with a lower cosine, ties half), ``neighbor_rank_1`` / ``neighbor_rank_2`` (where
        ``j`` stands among ``i``'s nearest texts, 1 = nearest, and ``i`` among ``j``'s; 0:
        not among them), then every pair column of the schema the pairs were scored with
        (``d_mu``, ``d_sigma``, ``socm``, ``relative_d_sigma``, ...), each also an attribute
        (``res.socm``).
    rank_by : str
        The column the pairs are ordered by (descending, ties by ``(i, j)``).
    n_texts : int
        :math:`N`.
    n_candidates : int
        Number of candidate pairs scored (before ``max_per_text`` and ``top_k``).
    neighbor_info : dict
        What :func:`socm.core.neighbors.nearest_neighbors` reports: ``method``, ``exact``,
        ``recall`` (approximate search only) ...
    text_n_candidates : numpy.ndarray of int64, shape (N,)
        Candidate pairs each text is in (at least ``neighbors``).
    text_mean_cosine, text_mean_relative_d_sigma : numpy.ndarray of float64, shape (N,)
        Mean cosine and mean relative :math:`d_\Sigma` over each text's candidate pairs.
    timings : dict
        Wall seconds per stage: ``stats``, ``neighbors``, ``scoring``, ``ranking``.
    excluded : dict
        Texts left out of the search: ``n_fragments`` and ``n_duplicates``.
    random_cosines : numpy.ndarray
        Sorted cosines of random pairs of the searched texts, which place the
        ``cosine_percentile`` column.
    """

    def __init__(
        self,
        i: np.ndarray,
        j: np.ndarray,
        columns: dict[str, np.ndarray],
        rank_by: str,
        n_texts: int,
        n_candidates: int,
        neighbor_info: dict[str, Any] | None = None,
        text_n_candidates: np.ndarray | None = None,
        text_mean_cosine: np.ndarray | None = None,
        text_mean_relative_d_sigma: np.ndarray | None = None,
        timings: dict[str, float] | None = None,
        excluded: dict[str, int] | None = None,
        random_cosines: np.ndarray | None = None,
    ) -> None:
        self.i, self.j, self.columns = i, j, columns
        self.rank_by, self.n_texts, self.n_candidates = rank_by, n_texts, n_candidates
        self.neighbor_info = neighbor_info or {}
        empty_int, empty = np.zeros(0, dtype=np.int64), np.zeros(0)
        self.text_n_candidates = empty_int if text_n_candidates is None else text_n_candidates
        self.text_mean_cosine = empty if text_mean_cosine is None else text_mean_cosine
        self.text_mean_relative_d_sigma = (
            empty if text_mean_relative_d_sigma is None else text_mean_relative_d_sigma
        )
        self.timings = timings or {}
        self.excluded = excluded or {}
        self.random_cosines = np.zeros(0) if random_cosines is None else random_cosines

    def __getattr__(self, name: str) -> np.ndarray:
        columns = self.__dict__.get("columns")
        if columns is not None and name in columns:
            return columns[name]
        raise AttributeError(f"MineResult has no column {name!r}")

    def __len__(self) -> int:
        return int(self.i.shape[0])

    def pairs(self) -> dict[str, np.ndarray]:
        """The kept pairs as columns (``i``, ``j``, ``cosine``, ``d_mu``, ...)."""
        return {"i": self.i, "j": self.j, **self.columns}

    def per_text(self) -> dict[str, np.ndarray]:
        """One row per text: its candidate-pair summaries and how often it was kept.

        Returns
        -------
        dict of numpy.ndarray, each of shape (N,)
            ``text`` (index), ``n_candidates``, ``mean_cosine`` and ``mean_relative_d_sigma``
            (over the text's candidate pairs, i.e. its neighbours and the texts it is a
            neighbour of), and ``n_mined`` (kept pairs that contain it).
        """
        n_mined = np.bincount(self.i, minlength=self.n_texts) + np.bincount(
            self.j, minlength=self.n_texts
        )
        return {
            "text": np.arange(self.n_texts, dtype=np.int64),
            "n_candidates": self.text_n_candidates,
            "mean_cosine": self.text_mean_cosine,
            "mean_relative_d_sigma": self.text_mean_relative_d_sigma,
            "n_mined": n_mined.astype(np.int64),
        }


@dataclass
class Candidates:
    r"""The candidate pairs of a corpus (:func:`find_candidates`), before scoring.

    Attributes
    ----------
    i, j : numpy.ndarray of int64, shape (P,)
        Text indices of each candidate pair, ``i < j``, sorted by ``(i, j)``.
    cosine : numpy.ndarray of float64, shape (P,)
        :math:`\tilde\mu_i^\top\tilde\mu_j` (:func:`socm.core.neighbors.pair_cosines`).
    n_texts : int
        :math:`N`.
    neighbor_info : dict
        What :func:`socm.core.neighbors.nearest_neighbors` reports (``method``, ``exact``,
        ``recall`` ...).
    seconds : float
        Wall time of the neighbour search.
    rank_1, rank_2 : numpy.ndarray of int64, shape (P,)
        Where ``j`` stands among ``i``'s nearest texts (1 = the nearest), and ``i`` among
        ``j``'s; 0 when it is not among them (every candidate has at least one of the two).
    random_cosines : numpy.ndarray of float64
        Sorted cosines of random pairs of the searched texts (:func:`random_pair_cosines`).
    excluded : dict
        Texts left out of the search: ``n_fragments``, ``n_duplicates``
        (:func:`eligible_texts`).
    """

    i: np.ndarray
    j: np.ndarray
    cosine: np.ndarray
    n_texts: int
    neighbor_info: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    rank_1: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    rank_2: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    random_cosines: np.ndarray = field(default_factory=lambda: np.zeros(0))
    excluded: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.i.shape[0])

    def cosine_percentile(self, values: np.ndarray | None = None) -> np.ndarray:
        """Percent of :attr:`random_cosines` below each cosine (ties count half): where a pair's
        cosine sits among random pairs of the corpus (default: the candidates' cosines)."""
        values = self.cosine if values is None else np.asarray(values, dtype=np.float64)
        sample = self.random_cosines
        if not len(sample):
            return np.full(len(values), np.nan)
        below = np.searchsorted(sample, values, "left") + np.searchsorted(sample, values, "right")
        return 50.0 * below / len(sample)

    def pairs(self) -> np.ndarray:
        """The pairs as an int64 ``(P, 2)`` array (``i`` first), e.g. for a backend's scoring.

        ``i`` and ``j`` become views of its columns (same values), so a corpus's pair indices
        are held once while they are scored, not twice.
        """
        ij = np.stack([self.i, self.j], axis=1).astype(np.int64, copy=False)
        self.i, self.j = ij[:, 0], ij[:, 1]
        return ij


def candidate_pairs(
    indices: np.ndarray, cosines: np.ndarray, rows: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """Unordered candidate pairs from a neighbour table, each once with ``i < j``.

    Parameters
    ----------
    indices : numpy.ndarray of int, shape (M, k)
        Neighbours of each searched text (self excluded).
    cosines : numpy.ndarray of float64, shape (M, k)
        Their cosines (symmetric, so either direction of a pair gives the same value).
    rows : numpy.ndarray of int, shape (M,), optional
        The text each row belongs to (default ``0 .. M - 1``).

    Returns
    -------
    (i, j, cosine)
        int64, int64 and float64 arrays of shape (P,), sorted by ``(i, j)``.
    """
    m, k = indices.shape
    rows = np.arange(m, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    n = int(max(rows.max(initial=0), indices.max(initial=0))) + 1
    q = np.repeat(rows, k)
    c = indices.reshape(-1).astype(np.int64)
    key = np.minimum(q, c) * n + np.maximum(q, c)
    key, first = np.unique(key, return_index=True)
    return key // n, key % n, cosines.reshape(-1)[first]


def neighbor_ranks(
    indices: np.ndarray, rows: np.ndarray, i: np.ndarray, j: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where ``j`` stands in ``i``'s row of a neighbour table (1 = nearest), and ``i`` in
    ``j``'s; 0 where it is not there.

    Examples
    --------
    >>> table = np.array([[1, 2], [0, 2], [1, 0]])  # text 0's nearest: 1, then 2; ...
    >>> i, j = np.array([0, 0]), np.array([2, 1])
    >>> [r.tolist() for r in neighbor_ranks(table, np.arange(3), i, j)]
    [[2, 1], [2, 1]]
    """
    m, k = indices.shape
    n = int(max(rows.max(initial=0), indices.max(initial=0), i.max(initial=0), j.max(initial=0)))
    n += 1
    keys = (np.asarray(rows, dtype=np.int64)[:, None] * n + indices).reshape(-1)
    ranks = np.tile(np.arange(1, k + 1, dtype=np.int64), m)
    order = np.argsort(keys, kind="stable")
    keys, ranks = keys[order], ranks[order]

    def look(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        q = a.astype(np.int64) * n + b
        pos = np.minimum(np.searchsorted(keys, q), max(len(keys) - 1, 0))
        return np.where(keys[pos] == q, ranks[pos], 0) if len(keys) else np.zeros_like(q)

    return look(i, j), look(j, i)


def eligible_texts(
    n_tokens: Sequence[int], keys: Sequence[Any] | None, options: MineOptions
) -> tuple[np.ndarray, dict[str, int]]:
    """Which texts the neighbour search uses: at least ``options.min_tokens`` tokens and,
    with ``options.drop_duplicates``, no earlier text with the same key.

    Parameters
    ----------
    n_tokens : sequence of int
        Each text's token count.
    keys : sequence of hashable, optional
        What makes two texts duplicates (the texts, or hashes of their token matrices).
    options : MineOptions

    Returns
    -------
    (numpy.ndarray of bool, dict)
        The mask, and ``{"n_fragments": ..., "n_duplicates": ...}`` (a duplicate fragment
        counts as a fragment).

    Examples
    --------
    >>> ok, counts = eligible_texts([9, 2, 9, 7], ["a", "b", "a", "c"],
    ...                             MineOptions(min_tokens=5, drop_duplicates=True))
    >>> ok.tolist(), counts
    ([True, False, False, True], {'n_fragments': 1, 'n_duplicates': 1})
    """
    ok = np.asarray(n_tokens, dtype=np.int64) >= options.min_tokens
    fragments = int((~ok).sum())
    duplicates = 0
    if options.drop_duplicates and keys is not None:
        seen: set = set()
        for t, key in enumerate(keys):
            if not ok[t]:
                continue
            if key in seen:
                ok[t] = False
                duplicates += 1
            else:
                seen.add(key)
    return ok, {"n_fragments": fragments, "n_duplicates": duplicates}


def random_pair_cosines(
    means: np.ndarray, rows: np.ndarray, size: int, seed: int = 0
) -> np.ndarray:
    """Sorted cosines of ``size`` random pairs of distinct texts among ``rows`` (uniform, with
    replacement), or of all their pairs when there are at most ``size``: the reference for a
    pair's cosine percentile (:meth:`Candidates.cosine_percentile`)."""
    rows = np.asarray(rows, dtype=np.int64)
    m = len(rows)
    if m < 2:
        return np.zeros(0)
    if m * (m - 1) // 2 <= size:
        a, b = np.triu_indices(m, k=1)
    else:
        rng = np.random.default_rng(seed)
        a = rng.integers(0, m, size)
        b = rng.integers(0, m - 1, size)
        b = b + (b >= a)  # uniform over the other texts
    return np.sort(pair_cosines(means, rows[a], rows[b]))


def score_candidates(
    stats: Sequence[TokenStats],
    pairs: np.ndarray,
    opts: ScoreOptions | None = None,
    chunk_bytes: int = 512 << 20,
) -> PairResult:
    """Every pair column of listed pairs in this process (the scoring step of :func:`mine`).

    The listed route of :func:`~socm.core.pairs.iter_pairwise_lazy`: the pairs in
    :func:`~socm.core.locality.locality_order`, in chunks whose distinct texts hold at most
    ``chunk_bytes`` of factors (a single text pair may exceed it), each chunk scored by
    :func:`~socm.core.pairs.pairwise` on its own texts, so that only a chunk's factors are
    copied and a text's pairs mostly fall in one chunk. ``stats`` may be read on demand (a
    store on disk, with a ``ranks`` attribute).

    Parameters
    ----------
    stats : sequence of TokenStats
        Every text's statistics (not modified).
    pairs : numpy.ndarray of int64, shape (P, 2)
        The pairs (the first column is the first text for the paper numerics).
    opts : ScoreOptions, optional
        Numerics, device, progress bar (over pairs) and pair columns.
    chunk_bytes : int
        Covariance-factor bytes copied per ``pairwise`` call.

    Returns
    -------
    PairResult
        The pairs in their given order, with every column of ``opts.schema``.
    """
    opts = ScoreOptions() if opts is None else opts
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    tiles = iter_pairwise_lazy(
        stats, pairs, opts.numerics, opts.device, opts.progress, opts.schema,
        budget_bytes=chunk_bytes, window=max(len(pairs), 1),
    )  # fmt: skip
    return PairResult.concat(list(tiles), opts.schema)


def _keep(
    order: np.ndarray, i: np.ndarray, j: np.ndarray, n: int, cap: int, top_k: int | None
) -> np.ndarray:
    """Walk the ranking; skip a pair once either text is already in ``cap`` kept pairs."""
    count = [0] * n
    kept: list[int] = []
    limit = len(order) if top_k is None else top_k
    for start in range(0, len(order), 1 << 16):  # Python ints a block at a time, not all
        block = order[start : start + (1 << 16)]
        for p, a, b in zip(block.tolist(), i[block].tolist(), j[block].tolist(), strict=True):
            if count[a] < cap and count[b] < cap:
                count[a] += 1
                count[b] += 1
                kept.append(p)
                if len(kept) >= limit:
                    return np.array(kept, dtype=np.int64)
    return np.array(kept, dtype=np.int64)


def find_candidates(
    means: np.ndarray,
    options: MineOptions | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    eligible: np.ndarray | None = None,
    excluded: dict[str, int] | None = None,
) -> Candidates:
    r"""The candidate pairs: each text's ``options.neighbors`` nearest texts by cosine (step 2).

    Needs only the unit means, so it runs where they are (a cluster run's driver), whoever
    scores the pairs.

    Parameters
    ----------
    means : numpy.ndarray of float64, shape (N, D)
        The texts' unit means :math:`\tilde\mu` (``TokenStats.mean``, stacked).
    options : MineOptions, optional
        ``neighbors`` (:math:`k`, ``1 <= k < N``), ``search`` and ``search_options``.
    device : str or torch.device, optional
        Where the exact search's products run.
    progress : bool
        Show a progress bar.
    eligible : numpy.ndarray of bool, shape (N,), optional
        The texts the search uses (:func:`eligible_texts`; default all): the others are
        nobody's candidate.
    excluded : dict, optional
        Why the others were left out (recorded in :attr:`Candidates.excluded`).

    Returns
    -------
    Candidates
        Every unordered candidate pair once, ``i < j``, sorted by ``(i, j)``, with its cosine,
        both neighbour ranks and the random-pair cosines.

    Raises
    ------
    OptionError
        ``neighbors`` not below the number of searched texts, or fewer than 2 of them.
    ImportError
        When ``search`` needs faiss and it is not installed.
    """
    options = MineOptions() if options is None else options
    n = len(means)
    excluded = {"n_fragments": 0, "n_duplicates": 0, **(excluded or {})}
    if eligible is None:
        eligible = np.ones(n, dtype=bool)
    rows = np.flatnonzero(eligible)
    options.check_texts(len(rows), sum(excluded.values()))
    t0 = time.perf_counter()
    local, cos, info = nearest_neighbors(
        means, options.neighbors, options.search, device, progress,
        searched=None if len(rows) == n else rows, **options.search_options,
    )  # fmt: skip
    release_freed_memory(collect=False)  # the search's blocks of scores
    idx = rows[local]
    i, j, cosine = candidate_pairs(idx, cos, rows)
    rank_1, rank_2 = neighbor_ranks(idx, rows, i, j)
    del local, cos, idx
    sample = random_pair_cosines(means, rows, options.random_pairs, options.seed)
    release_freed_memory(collect=False)  # the table, the sample's pairs of means
    return Candidates(
        i, j, cosine, n, info, time.perf_counter() - t0, rank_1, rank_2, sample, dict(excluded)
    )


def rank_candidates(
    candidates: Candidates,
    scores: PairResult,
    options: MineOptions | None = None,
    *,
    consume: bool = False,
) -> MineResult:
    r"""Rank scored candidates and summarise them per text (step 4).

    Whoever scored the pairs (:func:`score_candidates` here, or a backend's
    :meth:`~socm.backends.Backend.score_listed` on ``candidates.pairs()``), the ranking is
    the same.

    Parameters
    ----------
    candidates : Candidates
        From :func:`find_candidates`.
    scores : PairResult
        The candidates' pair columns (``relative_d_sigma`` among them), in the order of
        ``candidates``.
    options : MineOptions, optional
        ``rank_by``, ``top_k`` and ``max_per_text``.
    consume : bool
        Release each of ``candidates``' and ``scores``' pair arrays once it is reordered
        (they are left empty): the ranking then holds one array of its own at a time beside
        the inputs instead of a second copy of every column (0.7 GB at a million texts' 9.7
        million candidates when every candidate is kept). For a caller that owns both and
        does not read them again (:func:`mine_stats`, ``socm mine``).

    Returns
    -------
    MineResult
        The kept pairs, best first, with per-text summaries over every candidate; its
        ``timings`` hold ``neighbors`` (from ``candidates``) and ``ranking``.

    Raises
    ------
    ValueError
        Scores of other pairs than the candidates, or without the ranking column.
    """
    t0 = time.perf_counter()
    options = MineOptions() if options is None else options
    i, j, cosine, n = candidates.i, candidates.j, candidates.cosine, candidates.n_texts
    if not (np.array_equal(scores.i, i) and np.array_equal(scores.j, j)):
        raise ValueError(f"{len(i)} candidates but scores of {len(scores)} other pairs")
    if options.rank_by not in scores.columns:
        raise ValueError(f"the scores have no column {options.rank_by!r} to rank by")
    rel = scores.columns["relative_d_sigma"]
    n_cand = np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN for texts left out
        mean_cos = (np.bincount(i, cosine, n) + np.bincount(j, cosine, n)) / n_cand
        mean_rel = (np.bincount(i, rel, n) + np.bincount(j, rel, n)) / n_cand

    order = np.lexsort((j, i, -scores.columns[options.rank_by]))
    if options.max_per_text is not None:
        order = _keep(order, i, j, n, options.max_per_text, options.top_k)
    elif options.top_k is not None:
        order = order[: options.top_k]
    n_pairs = len(i)
    del i, j, cosine, rel  # with ``consume``, the inputs' arrays go as they are reordered
    empty = np.zeros(0)

    def take(owner: Any, name: str) -> np.ndarray:
        """``owner.name`` in ranking order (the input released with ``consume``)."""
        values = getattr(owner, name)[order]
        if consume:
            setattr(owner, name, empty)
        return values

    # the neighbour search's reference cosine (a registered ``cosine`` column agrees with it)
    columns = {"cosine": take(candidates, "cosine")}
    columns["cosine_percentile"] = candidates.cosine_percentile(columns["cosine"])
    columns["neighbor_rank_1"] = take(candidates, "rank_1")
    columns["neighbor_rank_2"] = take(candidates, "rank_2")
    for name in [k for k in scores.columns if k not in columns]:
        columns[name] = scores.columns[name][order]
        if consume:
            del scores.columns[name]
    kept_i, kept_j = take(candidates, "i"), take(candidates, "j")
    if consume:
        scores.i = scores.j = empty
    return MineResult(
        kept_i,
        kept_j,
        columns,
        rank_by=options.rank_by,
        n_texts=n,
        n_candidates=n_pairs,
        neighbor_info=candidates.neighbor_info,
        text_n_candidates=n_cand.astype(np.int64),
        text_mean_cosine=mean_cos,
        text_mean_relative_d_sigma=mean_rel,
        timings={"neighbors": candidates.seconds, "ranking": time.perf_counter() - t0},
        excluded=candidates.excluded,
        random_cosines=candidates.random_cosines,
    )


def mine(
    token_lists: Sequence[Any],
    options: MineOptions | None = None,
    *,
    numerics: Numerics = "exact",
    device: str | torch.device | None = None,
    progress: bool = False,
    score_chunk_bytes: int = 512 << 20,
    scorer: ListedScorer | None = None,
    duplicate_keys: Sequence[Any] | None = None,
    **changes: Any,
) -> MineResult:
    r"""Find the pairs of texts whose mean embeddings are close but whose tokens differ in shape.

    :func:`find_candidates` on the unit means, :func:`score_candidates` in this process (or
    ``scorer``), then :func:`rank_candidates`.

    Parameters
    ----------
    token_lists : sequence of array_like, torch.Tensor or TokenStats
        One ``(n_i, D)`` token-embedding matrix (or its
        :class:`~socm.core.stats.TokenStats`) per text, as for
        :func:`socm.core.pairs.pairwise`.
    options : MineOptions, optional
        What to search, score and keep (default ``MineOptions()``: 10 neighbours, every
        candidate ranked by relative d_Sigma).
    numerics : {"exact", "paper"}
        See :func:`socm.core.metrics.d_sigma` (``i`` is the first text of each pair).
    device : str or torch.device, optional
        Where the float64 linear algebra runs (default: CUDA if available, else CPU).
    progress : bool
        Show progress bars.
    score_chunk_bytes : int
        Covariance-factor bytes copied per scoring call (bounds the extra memory).
    scorer : ListedScorer, optional
        Scores the candidates instead of this process (a started
        :class:`socm.backends.Backend`; :func:`socm.mine` takes a backend's name). Every
        scorer gives the same scores (the same engine); the statistics, the neighbour search
        and the ranking run in this process.
    duplicate_keys : sequence, optional
        With ``drop_duplicates``: what makes two texts duplicates, one key per text (the
        caller's own, such as the texts themselves); default
        :func:`~socm.core.stats.content_key` of each token matrix.
    **changes
        Fields of :class:`MineOptions` replacing those of ``options`` (``neighbors=5``,
        ``rank_by="d_sigma"``, ...).

    Returns
    -------
    MineResult
        The kept pairs, ordered by ``rank_by`` descending, with per-text summaries.

    Raises
    ------
    ValueError
        On invalid token lists (naming the text), mismatched dimensions, fewer than 2 texts,
        an option out of range (:class:`OptionError`) or an unknown ``numerics``.
    TypeError
        An unknown option.
    ImportError
        When ``search`` needs faiss and it is not installed.
    """
    opts = ScoreOptions(numerics=numerics, device=device, progress=progress)
    options = (MineOptions() if options is None else options).replace(**changes)
    options.check_texts(len(token_lists))

    t0 = time.perf_counter()
    stats = token_stats_many(token_lists)
    check_same_dim(stats)
    keys = None
    if options.drop_duplicates:
        keys = duplicate_keys
        if keys is None:
            keys = [content_key(x) for x in token_lists]
        elif len(keys) != len(token_lists):
            raise ValueError(f"{len(keys)} duplicate keys for {len(token_lists)} texts")
    means = np.stack([s.mean for s in stats])
    n_tokens = [s.n_tokens for s in stats]
    t1 = time.perf_counter()
    res = mine_stats(
        stats, means, n_tokens, options, opts,
        duplicate_keys=keys, scorer=scorer, score_chunk_bytes=score_chunk_bytes,
    )  # fmt: skip
    res.timings = {"stats": t1 - t0, **res.timings}
    return res


def mine_stats(
    stats: Sequence[TokenStats],
    means: np.ndarray,
    n_tokens: Sequence[int] | np.ndarray,
    options: MineOptions,
    score: ScoreOptions,
    *,
    duplicate_keys: Sequence[Any] | None = None,
    scorer: ListedScorer | None = None,
    score_chunk_bytes: int = 512 << 20,
    checkpoint: Checkpoint | None = None,
) -> MineResult:
    """The steps of :func:`mine` after the statistics: :func:`mine_candidates`, then
    :func:`score_and_rank`.

    Parameters
    ----------
    stats : sequence of TokenStats
        Every text's statistics; read only for the candidates' factors (a sequence that reads
        them on demand, such as :class:`socm.store.StoredStats`, is read a chunk at a time).
    means : numpy.ndarray, shape (N, D)
        The unit means (what the search reads).
    n_tokens, options, score, duplicate_keys, checkpoint
        As for :func:`mine_candidates`.
    scorer, score_chunk_bytes
        As for :func:`score_and_rank`.

    Returns
    -------
    MineResult
        With ``timings`` of the neighbour search, the scoring and the ranking.
    """
    t0 = time.perf_counter()
    cand = mine_candidates(
        means, n_tokens, options, score, duplicate_keys=duplicate_keys, checkpoint=checkpoint
    )
    t1 = time.perf_counter()
    res = score_and_rank(
        stats, cand, options, score,
        scorer=scorer, score_chunk_bytes=score_chunk_bytes, checkpoint=checkpoint,
    )  # fmt: skip
    res.timings = {"neighbors": t1 - t0, **res.timings}
    return res


def mine_candidates(
    means: np.ndarray,
    n_tokens: Sequence[int] | np.ndarray,
    options: MineOptions,
    score: ScoreOptions,
    *,
    duplicate_keys: Sequence[Any] | None = None,
    checkpoint: Checkpoint | None = None,
) -> Candidates:
    """Fragments and duplicates left out (:func:`eligible_texts`), then
    :func:`find_candidates` (through ``checkpoint`` when there is one).

    Needs only the unit means: a caller whose statistics can read them back frees them before
    :func:`score_and_rank` (:meth:`socm.store.StoredStats.forget_means`).

    Parameters
    ----------
    means : numpy.ndarray, shape (N, D)
        The unit means (what the search reads).
    n_tokens : sequence of int
        Each text's tokens (fragments have fewer than ``options.min_tokens``).
    options : MineOptions
    score : ScoreOptions
        Device and progress of the search.
    duplicate_keys : sequence, optional
        One key per text, equal for duplicates (used with ``options.drop_duplicates``).
    checkpoint : Checkpoint, optional
        Keeps the candidates once found, and hands back those an earlier run kept
        (:class:`socm.store.MineCheckpoint`).
    """
    keys = duplicate_keys if options.drop_duplicates else None
    eligible, excluded = eligible_texts(n_tokens, keys, options)

    def find() -> Candidates:
        return find_candidates(means, options, score.device, score.progress, eligible, excluded)

    return find() if checkpoint is None else checkpoint.candidates(find, options, eligible)


def score_and_rank(
    stats: Sequence[TokenStats],
    cand: Candidates,
    options: MineOptions,
    score: ScoreOptions,
    *,
    scorer: ListedScorer | None = None,
    score_chunk_bytes: int = 512 << 20,
    checkpoint: Checkpoint | None = None,
) -> MineResult:
    """:func:`score_candidates` (or ``scorer``; through ``checkpoint`` when there is one),
    then :func:`rank_candidates`, which takes over ``cand`` and the scores.

    Parameters
    ----------
    stats : sequence of TokenStats
        Every text's statistics; read only for the candidates' factors.
    cand : Candidates
        From :func:`mine_candidates`.
    options : MineOptions
    score : ScoreOptions
        Numerics, device and progress of the scoring.
    scorer : ListedScorer, optional
        Scores the candidates instead of this process.
    score_chunk_bytes : int
        Covariance-factor bytes read per scoring chunk in this process.
    checkpoint : Checkpoint, optional
        Keeps the scores a window at a time, and hands back the windows an earlier run kept.

    Returns
    -------
    MineResult
        With ``timings`` of the scoring and the ranking.
    """

    def scored(pairs: np.ndarray) -> PairResult:
        if scorer is None:
            return score_candidates(stats, pairs, score, score_chunk_bytes)
        return scorer.score_listed(stats, pairs, score)

    t0 = time.perf_counter()
    if checkpoint is None:
        scores = scored(cand.pairs())
    else:
        scores = checkpoint.scores(scored, cand.pairs(), cand.n_texts, score)
    t1 = time.perf_counter()
    res = rank_candidates(cand, scores, options, consume=True)
    res.timings = {"scoring": t1 - t0, "ranking": res.timings["ranking"]}
    return res
