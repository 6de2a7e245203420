r"""Per-text statistics on disk: written once as texts are reduced, read a text at a time.

A :class:`StatsStore` keeps every text's :class:`~socm.core.stats.TokenStats` keyed by the
text (like the token-embedding cache, and in the same sharded, append-only, checksummed
format: :class:`socm.encode.cache.EmbeddingCache`), in two parts:

* the **head** of a text, float64: its unit mean :math:`\tilde\mu` (``D`` values) and its
  trace, mean norm, token count, factor rank and top token's share of the spread, in one row
  of ``D + 5`` values — everything but the factor, so a rerun reads the heads
  (:math:`8 (D + 5)` bytes a text) to rebuild the
  unit means without touching the factors;
* its **factor** :math:`F` (``rank x D``), float64 by default; ``dtype="float32"`` halves the
  disk and moves pair values by up to about :math:`10^{-7}` relative (each factor entry is
  rounded to float32, so :math:`\operatorname{tr}((F_1 F_2^\top)\dots)` moves by that much).

Entries are appended in batches under a lock (several processes may share a store), superseded
by a later entry of the same text, and checked against a SHA-256 on every read; a torn or
damaged entry reads as missing, never as wrong numbers. The store lives under
``<root>/stats/<key>``, the key hashing the encoder's configuration (model, revision, layer,
token policy, prefix, maximum length, embedding precision) with the factor dtype and this
format's version: a rerun with the same model and token policy finds its texts' statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from socm.core.stats import TokenStats
from socm.encode.cache import EmbeddingCache

__all__ = ["STORE_DTYPES", "STORE_FORMAT", "Head", "StatsStore"]

STORE_FORMAT = 3
"""Version of the statistics store's entries (heads and factors)."""
STORE_DTYPES = ("float64", "float32")
"""Precisions of stored factors."""


class Head:
    """A text's statistics without its factor: unit mean, trace, mean norm, tokens, rank and
    the top token's share of the spread."""

    __slots__ = ("mean", "mean_norm", "n_tokens", "rank", "top_token_share", "trace")

    def __init__(
        self,
        mean: np.ndarray,
        trace: float,
        mean_norm: float,
        n_tokens: int,
        rank: int,
        top_token_share: float = float("nan"),
    ) -> None:
        self.mean, self.trace, self.mean_norm = mean, trace, mean_norm
        self.n_tokens, self.rank = n_tokens, rank
        self.top_token_share = top_token_share


class StatsStore:
    """Per-text statistics of one encoder configuration on disk (see the module docstring).

    Parameters
    ----------
    root : Path or str
        The folder (the token-embedding cache's root is a natural home).
    config : dict
        What defines the statistics: the encoder's cache configuration
        (:meth:`socm.encode.Encoder.cache_config`), or any JSON description.
    dtype : {"float64", "float32"}
        Precision of the stored factors.

    Examples
    --------
    >>> import tempfile
    >>> from socm.core.stats import token_stats
    >>> store = StatsStore(tempfile.mkdtemp(), {"model": "m"})
    >>> st = token_stats(np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0]]))
    >>> store.put_many(["a"], [st])
    >>> store.head("a").trace == st.trace, store.factor("a").shape, store.head("b")
    (True, (1, 3), None)
    """

    def __init__(self, root: Path | str, config: dict, dtype: str = "float64") -> None:
        if dtype not in STORE_DTYPES:
            raise ValueError(f"store dtype must be one of {STORE_DTYPES}, got {dtype!r}")
        self.dtype = dtype
        self.root = Path(root)
        self.config = dict(config)
        base = {**config, "stats_format": STORE_FORMAT}
        self.heads = EmbeddingCache(root, {**base, "part": "head"}, folder="stats")
        self.factors = EmbeddingCache(
            root, {**base, "part": "factor", "factor_dtype": dtype}, folder="stats"
        )
        self.dir = self.factors.dir

    def __len__(self) -> int:
        """Texts with a head in the store."""
        return len(self.heads)

    def put_many(self, keys: Sequence[str], stats: Sequence[TokenStats]) -> None:
        """Store the statistics of texts ``keys`` (factors first: a head is only ever written
        after its factor, so a text with a head has a factor).

        Raises
        ------
        OSError
            The disk is full or not writable.
        """
        code = "<f8" if self.dtype == "float64" else "<f4"
        self.factors.put_many([(k, s.factor, code) for k, s in zip(keys, stats, strict=True)])
        heads = [
            (key, np.concatenate([s.mean, _numbers(s)])[None], "<f8")
            for key, s in zip(keys, stats, strict=True)
        ]
        self.heads.put_many(heads)

    def head(self, key: str) -> Head | None:
        """Text ``key``'s head, or None (missing, or failing its checksum)."""
        return _head(self.heads.get(key))

    def heads_many(self, keys: Sequence[str]) -> list[Head | None]:
        """:meth:`head` of every key (the index is read once)."""
        return [_head(arr) for arr in self.heads.get_many(keys)]

    def complete_many(self, keys: Sequence[str]) -> list[bool]:
        """Whether each key has a head and a factor of this store's dtype whose shape matches
        the head (read from the indexes: a factor failing its checksum is found only when
        it is read, by :meth:`factor`).

        A head alone does not make a text complete: heads are shared by the float64 and
        float32 stores of one encoder, and a factor can be lost on its own.
        """
        out = []
        for key, head in zip(keys, self.heads_many(keys), strict=True):
            loc = None if head is None else self.factors.locate(key)
            out.append(loc is not None and (loc.rows, loc.cols) == (head.rank, len(head.mean)))
        return out

    def factor(self, key: str) -> np.ndarray | None:
        """Text ``key``'s factor as float64, or None (missing or failing its checksum)."""
        arr = self.factors.get(key)
        return None if arr is None else np.asarray(arr, dtype=np.float64)

    def stats(self, key: str) -> TokenStats | None:
        """Text ``key``'s whole statistics, or None."""
        head, factor = self.head(key), self.factor(key)
        if head is None or factor is None or factor.shape[0] != head.rank:
            return None
        return TokenStats(
            head.n_tokens, head.mean_norm, head.mean, factor, head.trace, head.top_token_share
        )

    def forget_heads(self) -> None:
        """Free the heads' in-memory index once the heads are read (a million texts: about
        0.1 GB); a later :meth:`head` reads it again."""
        self.heads.forget_index()

    def nbytes(self) -> int:
        """Bytes on disk (both parts)."""
        return self.heads.usage().n_bytes + self.factors.usage().n_bytes

    def close(self) -> None:
        """Release locks and files (the store stays usable)."""
        self.heads.close()
        self.factors.close()

    def info(self) -> dict[str, Any]:
        """Where the store is and how many texts have factors of its dtype in it (this run's
        and any others'), for a run's summary.

        Counted on the factors' index, which the run's scoring holds anyway: the heads' index
        is freed after the heads are read (:meth:`forget_heads`), and counting heads would read
        it back (a few seconds and 0.1 GB at a million texts).
        """
        n = len(self.factors)
        return {"path": str(self.dir.parent), "dtype": self.dtype, "n_texts_in_store": n}


def _numbers(s: TokenStats) -> list[float]:
    """The numbers after the unit mean in a head row."""
    return [s.trace, s.mean_norm, s.n_tokens, s.rank, s.top_token_share]


def _head(arr: np.ndarray | None) -> Head | None:
    """A head entry (one row: the unit mean, then trace, mean norm, tokens, rank, top token
    share) read back."""
    if arr is None or arr.shape[0] != 1 or arr.shape[1] < 6:
        return None
    trace, mean_norm, n_tokens, rank, share = arr[0, -5:].tolist()
    return Head(np.array(arr[0, :-5]), trace, mean_norm, int(n_tokens), int(rank), share)
