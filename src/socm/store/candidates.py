"""A mine run's candidates on disk, so that a run interrupted after its neighbour search
resumes without searching again.

The candidates (:class:`~socm.core.mine.Candidates`: pairs, cosines, neighbour ranks, the
random-pair cosines and the search's report) are written once the search is done, beside the
statistics store of the run (``<store root>/candidates/<key>.npz``), in one atomic write. The
key hashes everything that defines them: the texts' keys in order (each the SHA-256 of the
text, :func:`socm.encode.text_key`, or of the token matrix, :func:`socm.core.stats.content_key`),
which of them are searched (fragments and duplicates left out), the encoder's configuration
(the store's), the number of neighbours, the search method that ran (with the version of its
algorithm when approximate) and its options, and the seed and number of the random pairs.
A file that cannot be read back whole is ignored (the search runs again and replaces it),
never read as other candidates.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from socm.core.mine import Candidates, MineOptions
from socm.core.neighbors import HNSW_VERSION
from socm.files import atomic_write_npz, read_npz

__all__ = [
    "CANDIDATES_FORMAT",
    "candidates_key",
    "load_candidates",
    "save_candidates",
    "texts_key",
]

CANDIDATES_FORMAT = 1
"""Version of the saved candidates' layout."""

_ARRAYS = ("i", "j", "cosine", "rank_1", "rank_2", "random_cosines")


def texts_key(text_keys: Sequence[str], config: dict) -> str:
    """The key of a run's texts, in order (each text's key: the SHA-256 of the text or of its
    token matrix), and of what makes their statistics (``config``: the store's, the encoder's
    configuration): what pair indices refer to."""
    h = hashlib.sha256()
    for key in text_keys:
        h.update(key.encode())
        h.update(b"\n")
    h.update(json.dumps(config, sort_keys=True, default=str).encode())
    return h.hexdigest()


def candidates_key(
    texts: str, options: MineOptions, method: str, eligible: np.ndarray | None = None
) -> str:
    """The key of the candidates of the texts ``texts`` (their :func:`texts_key`: the texts in
    order and the encoder's configuration) searched with ``options`` by ``method`` (the
    method that ran: ``"auto"`` resolved), only the texts ``eligible`` searched (a boolean
    mask; None or all true: every text)."""
    h = hashlib.sha256(texts.encode())
    if eligible is not None and not np.all(eligible):
        h.update(b"eligible:" + np.packbits(np.asarray(eligible, dtype=bool)).tobytes())
    h.update(
        json.dumps(
            {
                "format": CANDIDATES_FORMAT,
                "neighbors": options.neighbors,
                "method": method,
                "search_options": dict(options.search_options),
                "random_pairs": options.random_pairs,
                "seed": options.seed,
                **({"hnsw_version": HNSW_VERSION} if method == "hnsw" else {}),
            },
            sort_keys=True,
            default=str,
        ).encode()
    )
    return h.hexdigest()


def save_candidates(folder: Path, key: str, cand: Candidates) -> Path:
    """Write ``cand`` as ``folder/<key>.npz`` (atomically) and return the path."""
    meta = {
        "n_texts": cand.n_texts,
        "neighbor_info": cand.neighbor_info,
        "seconds": cand.seconds,
        "excluded": cand.excluded,
    }
    arrays = {name: np.asarray(getattr(cand, name)) for name in _ARRAYS}
    path = Path(folder) / f"{key}.npz"
    atomic_write_npz(path, {**arrays, "meta": np.array(json.dumps(meta, default=_plain))})
    return path


def load_candidates(folder: Path, key: str) -> Candidates | None:
    """The candidates saved under ``key``, or None (none saved, or a file that does not read
    back whole)."""
    arrays = read_npz(Path(folder) / f"{key}.npz")
    if arrays is None or any(name not in arrays for name in (*_ARRAYS, "meta")):
        return None
    try:
        meta = json.loads(str(arrays["meta"]))
    except ValueError:
        return None
    n = len(arrays["i"])
    if any(len(arrays[name]) != n for name in ("j", "cosine", "rank_1", "rank_2")):
        return None
    return Candidates(
        arrays["i"].astype(np.int64),
        arrays["j"].astype(np.int64),
        arrays["cosine"].astype(np.float64),
        int(meta["n_texts"]),
        neighbor_info=meta["neighbor_info"],
        seconds=float(meta["seconds"]),
        rank_1=arrays["rank_1"].astype(np.int64),
        rank_2=arrays["rank_2"].astype(np.int64),
        random_cosines=arrays["random_cosines"].astype(np.float64),
        excluded={k: int(v) for k, v in meta["excluded"].items()},
    )


def _plain(x: Any) -> Any:
    """numpy scalars and arrays in the search's report as JSON values."""
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)
