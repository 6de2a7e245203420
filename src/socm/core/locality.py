"""Locality of pairs: orders and chunks in which consecutive pairs share their texts.

Scoring listed pairs needs each pair's two texts' statistics; taken in an order where
neighbouring pairs share texts, a chunk of consecutive pairs needs few distinct texts, so the
engine (:mod:`socm.core.pairs`), a cluster task (:mod:`socm.backends.ray`) or a reader of
statistics on disk holds only a chunk's texts at a time.
"""

from __future__ import annotations

import numpy as np

__all__ = ["chunk_pairs", "locality_order"]


def locality_order(i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    """Pair order in which consecutive pairs share texts: reverse Cuthill–McKee of the graph.

    Texts are renumbered by RCM of the candidate graph (which keeps linked texts close;
    neighbourhoods of clustered corpora end up in narrow bands), and pairs sorted by their
    later text in that order. Chunks of consecutive pairs in this order then need few
    distinct texts (:func:`chunk_pairs`).

    Parameters
    ----------
    i, j : numpy.ndarray of int64, shape (P,)
        The pairs.
    n : int
        Number of texts (indices are below ``n``).

    Returns
    -------
    numpy.ndarray of int64, shape (P,)
        A permutation of the pairs.

    Examples
    --------
    >>> order = locality_order(np.array([0, 0, 1]), np.array([5, 1, 5]), 6)
    >>> sorted(order.tolist())
    [0, 1, 2]
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    g = csr_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    perm = reverse_cuthill_mckee((g + g.T).tocsr(), symmetric_mode=True)
    pos = np.empty(n, dtype=np.int64)
    pos[perm] = np.arange(n)
    pi, pj = pos[i], pos[j]
    return np.lexsort((np.minimum(pi, pj), np.maximum(pi, pj)))


def chunk_pairs(
    order: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    text_bytes: np.ndarray,
    budget: int,
    max_pairs: int | None = None,
) -> list[np.ndarray]:
    """Cut ``order`` into chunks of consecutive pairs whose distinct texts fit ``budget``.

    A chunk ends where its distinct texts' bytes would pass ``budget`` (a single pair may
    exceed it alone) or, with ``max_pairs``, where it would hold more pairs than that.

    Parameters
    ----------
    order : numpy.ndarray of int64, shape (P,)
        The pairs' order (e.g. :func:`locality_order`, or ``arange(P)``).
    i, j : numpy.ndarray of int64, shape (P,)
        The pairs.
    text_bytes : numpy.ndarray of int64, shape (N,)
        Bytes of each text's statistics.
    budget : int
        Bytes of distinct texts per chunk at most.
    max_pairs : int, optional
        Pairs per chunk at most.

    Returns
    -------
    list of numpy.ndarray
        Consecutive parts of ``order``.

    Examples
    --------
    >>> i, j = np.array([0, 0, 1, 2]), np.array([1, 2, 2, 3])
    >>> [c.tolist() for c in chunk_pairs(np.arange(4), i, j, np.full(4, 10), budget=30)]
    [[0, 1, 2], [3]]
    """
    cuts = [0]
    last = [-1] * len(text_bytes)
    nbytes = text_bytes.tolist()
    cap = max_pairs or len(order) + 1
    used = 0
    step = 1 << 20  # pairs turned into Python ints at a time (memory: a slice, not the list)
    for s in range(0, len(order), step):
        part = order[s : s + step]
        for p, a, b in zip(
            range(s, s + len(part)), i[part].tolist(), j[part].tolist(), strict=True
        ):
            chunk = len(cuts)
            add = (nbytes[a] if last[a] != chunk else 0) + (nbytes[b] if last[b] != chunk else 0)
            if used and (used + add > budget or p - cuts[-1] >= cap):
                cuts.append(p)
                chunk += 1
                add = nbytes[a] + nbytes[b]
                used = 0
            last[a] = last[b] = chunk
            used += add
    return np.split(order, cuts[1:])
