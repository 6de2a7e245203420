"""On-disk cache of token embeddings (part of the "encode/cache" stage).

Layout: ``<root>/embeddings/<config key>/<aa>/<text sha256>.emb`` where the config key hashes
everything that changes a text's token embeddings (model, revision, layer, special-token
policy, prefix, max length, format version) and ``config.json`` beside the entries records it.
Each entry is a small header (magic, the SHA-256 of the text it belongs to, dtype, rows,
columns), the 2-D array's data (float32 token embeddings, float64 per-layer profiles) and the
32-byte SHA-256 of header and data: a truncated or altered entry, or one copied over another
text's entry, fails the check, is deleted and recomputed. Entries are written atomically
(temporary file, then ``os.replace``), one per text as soon as its batch is encoded, so an
interrupted run loses at most the batch in flight.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import numpy as np

from socm.files import atomic_write_bytes

__all__ = ["EmbeddingCache", "default_cache_dir", "text_key"]

FORMAT_VERSION = 3
_MAGIC = b"SOCMEMB3"
_HEADER = struct.Struct("<8s32s4sQQ")  # magic, key digest, dtype ("<f4 "/"<f8 "), rows, cols
_DTYPES = {b"<f4 ": np.dtype("<f4"), b"<f8 ": np.dtype("<f8")}


def _owner(key: str) -> bytes:
    """The 32 bytes stored in an entry's header that bind it to its key."""
    return hashlib.sha256(key.encode()).digest()


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

    def entry_path(self, key: str) -> Path:
        """Where the entry of text key ``key`` lives."""
        return self.dir / key[:2] / f"{key}.emb"

    def get(self, key: str) -> np.ndarray | None:
        """The cached array for text key ``key``, or None (missing or corrupt: then deleted)."""
        path = self.entry_path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        body, digest = data[:-32], data[-32:]
        if len(data) >= _HEADER.size + 32 and hashlib.sha256(body).digest() == digest:
            magic, owner, code, rows, cols = _HEADER.unpack_from(body)
            dtype = _DTYPES.get(code)
            if (
                magic == _MAGIC
                and owner == _owner(key)  # the entry belongs to this text
                and dtype is not None
                and len(body) == _HEADER.size + dtype.itemsize * rows * cols
            ):
                return np.frombuffer(body, dtype=dtype, offset=_HEADER.size).reshape(rows, cols)
        self.n_corrupt += 1
        path.unlink(missing_ok=True)
        return None

    def put(self, key: str, array: np.ndarray, dtype: str = "<f4") -> None:
        """Store a 2-D ``array`` for text key ``key`` (float32 unless ``dtype="<f8"``),
        atomically, with a checksum."""
        arr = np.ascontiguousarray(array, dtype=dtype)
        if arr.ndim != 2:
            raise ValueError(f"cache entries are 2-D, got shape {arr.shape}")
        head = _HEADER.pack(_MAGIC, _owner(key), dtype.encode().ljust(4), *arr.shape)
        body = head + arr.tobytes()
        atomic_write_bytes(self.entry_path(key), body + hashlib.sha256(body).digest())
