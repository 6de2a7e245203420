"""A mine run's scored candidates on disk, a window at a time, so that a run interrupted while
scoring resumes from its last finished window instead of its first pair.

The candidates are put in :func:`~socm.core.locality.locality_order` (consecutive pairs share
texts) and cut into windows of :data:`SCORE_WINDOW` pairs; each window is scored on its own
and its pair columns are written, in one atomic write, beside the run's statistics store
(``<store root>/scores/<key>-<window size>-<number>.npz``). A run with at most one window
scores its pairs in their given order, as without a store. The key hashes everything that
defines a window's numbers: all the pairs (their SHA-256), the texts they index and the
encoder (:func:`socm.store.texts_key`), the statistics store's format and factor dtype, the
numerics, every pair column's name, description and dtype, and the versions of the packages
that compute them (socm, torch, numpy, scipy); the file name adds the window size and the
window's number. The search that found the pairs is not in it: a search with other options
(another seed for the random pairs, another margin) that finds the same pairs reuses them.
Each file also holds the SHA-256 of its window's pairs, checked on reading: a window whose
pairs differ (a locality order that changed) is scored again, as is a file that cannot be
read back whole or holds other columns or another length. A window that cannot be saved (a
full disk) is kept in memory and the run goes on, with one warning. The windows take 32
bytes a pair on disk with the built-in columns (0.31 GB for a million texts' 9.7 million
candidates); they stay in the store's folder until it is deleted.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from socm.core.locality import locality_order
from socm.core.pairs import PairResult
from socm.core.schema import PairSchema
from socm.errors import SocmError, warn
from socm.files import atomic_write_npz, read_npz
from socm.store.stats_store import STORE_FORMAT

__all__ = ["SCORES_FORMAT", "SCORE_WINDOW", "scored_in_windows", "scores_key"]

SCORES_FORMAT = 1
"""Version of the saved windows' layout."""

SCORE_WINDOW = 1 << 20
"""Candidate pairs per saved window (32 MB of the built-in columns; on this project's 2-core
CPU about three minutes of sentence pairs, fifteen of 100-token passages: what an
interruption can lose)."""


def scores_key(
    pairs: np.ndarray,
    texts: str,
    dtype: str,
    numerics: str,
    schema: PairSchema,
    versions: dict[str, str] | None = None,
) -> str:
    """The key shared by the windows of ``pairs`` (each window's file name adds the window
    size and its number): the pairs, their texts (``texts``:
    :func:`socm.store.texts_key`, the texts and the encoder), the store's format and factor
    dtype, the numerics, the columns and ``versions`` (of the packages that compute the
    numbers). How the pairs were found (the search, its options) is not part of it: the same
    pairs found again are not scored again."""
    blob = {
        "format": SCORES_FORMAT,
        "store_format": STORE_FORMAT,
        "pairs": _digest(pairs),
        "texts": texts,
        "factor_dtype": dtype,
        "versions": dict(versions or {}),
        "numerics": numerics,
        "columns": [[c.name, c.description, str(np.dtype(c.dtype))] for c in schema],
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def _digest(pairs: np.ndarray) -> str:
    """SHA-256 of the pairs as little-endian int64 (read in place when they are already)."""
    return hashlib.sha256(np.ascontiguousarray(pairs, dtype="<i8")).hexdigest()


def _save(path: Path, columns: dict[str, np.ndarray], digest: str) -> None:
    """Write a window; one warning when it cannot be written (the run goes on)."""
    try:
        atomic_write_npz(path, {**columns, "pairs_sha256": np.array(digest)})
    except SocmError as exc:
        warn(f"{exc}: the scores of this window are kept in memory only")


def _load(path: Path, schema: PairSchema, n: int, digest: str) -> dict[str, np.ndarray] | None:
    data = read_npz(path)
    names = sorted([c.name for c in schema] + ["pairs_sha256"])
    if data is None or sorted(data) != names or str(data["pairs_sha256"]) != digest:
        return None
    try:
        cols = {c.name: np.asarray(data[c.name], dtype=c.dtype) for c in schema}
    except (TypeError, ValueError):  # columns of another kind
        return None
    return cols if all(v.shape == (n,) for v in cols.values()) else None


def scored_in_windows(
    score: Callable[[np.ndarray], PairResult],
    pairs: np.ndarray,
    n_texts: int,
    schema: PairSchema,
    folder: Path | str,
    key: str,
    window: int | None = None,
) -> tuple[PairResult, dict[str, int]]:
    """Every column of ``schema`` for ``pairs``, scored by ``score`` a window at a time, each
    window saved under ``folder`` once scored and read back instead of scored when a file of
    it is there (see the module docstring).

    Parameters
    ----------
    score : callable
        ``score(pairs) -> PairResult`` for an int64 ``(W, 2)`` array of pairs, in their order
        (a backend's :meth:`~socm.backends.Backend.score_listed` on the run's statistics).
    pairs : numpy.ndarray of int64, shape (P, 2)
        The candidate pairs.
    n_texts : int
        Number of texts (indices are below it).
    schema : tuple of PairColumn
        The columns ``score`` returns.
    folder : Path or str
        Where the windows are saved.
    key : str
        :func:`scores_key` of the run.
    window : int, optional
        Pairs per window (default :data:`SCORE_WINDOW`).

    Returns
    -------
    (PairResult, dict)
        The pairs in their given order with every column of ``schema``, and the windows:
        ``size`` (pairs), ``n_windows`` and ``read_back`` (read instead of scored).
    """
    window = SCORE_WINDOW if window is None else int(window)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    n_pairs = len(pairs)
    n_windows = max(1, math.ceil(n_pairs / window))
    order = None
    if n_windows > 1:  # windows of pairs that share texts
        order = locality_order(pairs[:, 0], pairs[:, 1], n_texts)
    # one window: its own columns are the result's (no second copy of every score)
    cols = None if order is None else {c.name: np.empty(n_pairs, dtype=c.dtype) for c in schema}
    reused = 0
    for w in range(n_windows):
        part = slice(w * window, (w + 1) * window)
        sel = part if order is None else order[part]
        part_pairs = pairs[sel]
        digest = _digest(part_pairs)
        path = Path(folder) / f"{key}-{window}-{w:06d}.npz"
        got = _load(path, schema, len(part_pairs), digest)  # the schema's dtypes
        if got is None:
            scored = score(part_pairs).columns
            got = {c.name: np.asarray(scored[c.name], dtype=c.dtype) for c in schema}
            del scored
            _save(path, got, digest)
        else:
            reused += 1
        if cols is None:
            cols = got
        else:
            for name, col in cols.items():
                col[sel] = got[name]
        del got
    info = {"size": window, "n_windows": n_windows, "read_back": reused}
    return PairResult(pairs[:, 0], pairs[:, 1], **cols), info
