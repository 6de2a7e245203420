"""On-disk cache of token embeddings (part of the "encode/cache" stage).

Layout: ``<root>/embeddings/<config key>/<aa>/<text sha256>.npy`` where the config key hashes
everything that changes a text's token embeddings (model, revision, layer, special-token
policy, prefix, max length, format version) and ``config.json`` beside the shards records it.
Each entry is a float32 ``(n_tokens, D)`` array saved with ``numpy.save`` followed by the 32-byte
SHA-256 of those bytes: a truncated or altered entry fails the check, is deleted and recomputed.
Entries are written atomically (temporary file, then ``os.replace``), one per text as soon as its
batch is encoded, so an interrupted run loses at most the batch in flight.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

from socm.io import atomic_write_bytes

__all__ = ["EmbeddingCache", "default_cache_dir", "text_key"]

FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """``$SOCM_CACHE_DIR``, else ``$XDG_CACHE_HOME/socm``, else ``~/.cache/socm``."""
    if os.environ.get("SOCM_CACHE_DIR"):
        return Path(os.environ["SOCM_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "socm"


def text_key(text: str) -> str:
    """SHA-256 hex digest of the UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Token-embedding store for one encoding configuration.

    Parameters
    ----------
    root : Path
        Cache root (see :func:`default_cache_dir`).
    config : dict
        JSON-serialisable description of the encoding (model, revision, layer, ...).
    """

    def __init__(self, root: Path, config: dict) -> None:
        blob = json.dumps({**config, "format": FORMAT_VERSION}, sort_keys=True)
        self.key = hashlib.sha256(blob.encode()).hexdigest()[:24]
        self.dir = Path(root) / "embeddings" / self.key
        self.config = config
        self.n_corrupt = 0
        meta = self.dir / "config.json"
        if not meta.exists():
            atomic_write_bytes(meta, json.dumps(config, indent=2, sort_keys=True).encode())

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        """The cached array for text key ``key``, or None (missing or corrupt: then deleted)."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        payload, digest = data[:-32], data[-32:]
        if len(data) > 32 and hashlib.sha256(payload).digest() == digest:
            try:
                return np.load(io.BytesIO(payload), allow_pickle=False)
            except ValueError:
                pass
        self.n_corrupt += 1
        path.unlink(missing_ok=True)
        return None

    def put(self, key: str, array: np.ndarray) -> None:
        """Store ``array`` (as float32) for text key ``key``, atomically, with a checksum."""
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
        payload = buf.getvalue()
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, payload + hashlib.sha256(payload).digest())
