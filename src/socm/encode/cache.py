"""On-disk cache of token embeddings, stored in shards (part of the "encode/cache" stage).

Layout of one encoding configuration's folder, ``<root>/embeddings/<config key>/``, where the
config key hashes everything that changes a text's token embeddings (model, revision, layer,
special-token policy, prefix, max length, storage dtype, format version)::

    config.json          the configuration and the format version
    index.bin            append-only index: a 16-byte header, then fixed-size records
    shards/000000.shard  append-only entries, up to SHARD_BYTES per shard
    shards/000001.shard  ...

**Entries.** Each entry is a small header (magic, the SHA-256 of the text key it belongs to,
dtype, rows, columns), the 2-D array's data (float32 or float16 token embeddings, float64
per-layer profiles) and the 32-byte SHA-256 of header and data. A truncated or altered entry,
or one that belongs to another text, fails the check and is reported missing (then recomputed
and appended again by the caller).

**Index.** One 68-byte record per entry: the SHA-256 of the text key, shard number, byte
offset and length of the entry, rows, columns, dtype and a CRC-32 of the record. Records are
appended under an exclusive ``flock`` of the index; a later record for the same key supersedes
an earlier one. Reading the index skips a torn tail or a record whose CRC fails.

**Writes are append-only and all-or-nothing per batch**: :meth:`EmbeddingCache.put_many`
appends its entries to a shard this cache holds an exclusive lock on, then their index records
in one write. An entry becomes visible only through its index record, which is written after
the entry, so an interrupted write leaves unreferenced bytes at the end of a shard (ignored) or a
torn index record (skipped), never a wrong result; an interrupted run loses at most the batch
in flight. Shards are reused across runs until they reach :data:`SHARD_BYTES`, so the number of
files grows with the data (one per 256 MB), not with the number of texts.

Folders of the previous one-file-per-text format (format 3, ``<aa>/<sha256>.emb`` entries) are
not read; a one-line warning names them once per process so that they can be deleted.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import struct
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from socm.errors import SocmError, warn
from socm.files import atomic_write_bytes

try:  # POSIX advisory locks; elsewhere each cache instance writes its own new shard
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "FORMAT_VERSION",
    "SHARD_BYTES",
    "WRITE_BYTES",
    "CacheUsage",
    "EmbeddingCache",
    "EntryLocation",
    "ShardIndex",
    "default_cache_dir",
    "text_key",
]

FORMAT_VERSION = 4
"""Version of the cache layout: 4 = shards with an index (3 was one file per text)."""
SHARD_BYTES = 256 << 20
"""A shard takes new entries until it holds this many bytes."""
WRITE_BYTES = 16 << 20
"""Entries are joined into writes of about this many bytes (a batch is never copied whole)."""

_MAGIC = b"SOCMEMB3"  # entry format, unchanged from format 3
_HEADER = struct.Struct("<8s32s4sQQ")  # magic, key digest, dtype ("<f4 "/"<f8 "/"<f2 "), rows, cols
_DTYPES = {b"<f4 ": np.dtype("<f4"), b"<f8 ": np.dtype("<f8"), b"<f2 ": np.dtype("<f2")}
_CODES = list(_DTYPES)
_INDEX_MAGIC = b"SOCMIDX4"
_INDEX_HEAD = 16  # magic + 8 reserved bytes
_RECORD = struct.Struct("<32sIQQII4s")  # key digest, shard, offset, length, rows, cols, dtype
_CRC = struct.Struct("<I")
RECORD_SIZE = _RECORD.size + _CRC.size  # 68 bytes
_LEGACY_WARNED: set[Path] = set()


@contextlib.contextmanager
def _guard(folder: Path, doing: str) -> Iterator[None]:
    """Turn an operating-system error on a cache folder (a full disk, no permission, an entry
    that is a folder where a file belongs or the other way round) into one line naming the
    folder, instead of an internal error."""
    try:
        yield
    except OSError as exc:
        what = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename else ""
        hint = (
            "free some space or choose another --cache-dir"
            if exc.errno == errno.ENOSPC
            else "remove that folder to rebuild it, or choose another --cache-dir"
        )
        raise SocmError(
            f"token-embedding cache {folder}: cannot {doing}: {what}{where}; {hint}"
        ) from None


def _owner(key: str) -> bytes:
    """The 32 bytes stored in an entry's header (and its index record) that bind it to its key."""
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


def _dtype_code(dtype: str | np.dtype) -> bytes:
    code = np.dtype(dtype).str.encode().ljust(4)
    if code not in _DTYPES:
        raise ValueError(f"cache entries are float16, float32 or float64, got {np.dtype(dtype)}")
    return code


def _encode_entry(key: str, array: np.ndarray, dtype: str) -> tuple[bytes, int, int, bytes]:
    """The bytes of one entry (header, data, SHA-256) and its rows, columns and dtype code."""
    code = _dtype_code(dtype)
    with np.errstate(over="ignore"):  # float16 overflow is reported below
        arr = np.ascontiguousarray(array, dtype=_DTYPES[code])
    if arr.ndim != 2:
        raise ValueError(f"cache entries are 2-D, got shape {arr.shape}")
    if code == b"<f2 " and not np.isfinite(arr).all() and np.isfinite(array).all():
        raise ValueError(
            "values exceed the float16 range (|x| > 65504): store this model's embeddings "
            "as float32"
        )
    body = _HEADER.pack(_MAGIC, _owner(key), code, *arr.shape) + arr.tobytes()
    return body + hashlib.sha256(body).digest(), arr.shape[0], arr.shape[1], code


@dataclass(frozen=True)
class EntryLocation:
    """Where one entry lives: ``length`` bytes at ``offset`` of shard file ``path``."""

    path: Path
    offset: int
    length: int
    rows: int
    cols: int
    dtype: str


@dataclass(frozen=True)
class CacheUsage:
    """Disk use of one cache folder: entries indexed, files and bytes (index and shards)."""

    n_entries: int
    n_files: int
    n_bytes: int


Location = tuple[int, int, int, int, int, bytes]
"""(shard, offset, length, rows, cols, dtype code) of one entry."""


class ShardIndex:
    """The append-only ``index.bin`` of a cache folder, mirrored in memory.

    Records are read incrementally (:meth:`refresh` picks up what this or another process
    appended since); a later record of a key supersedes an earlier one; a torn or damaged
    record (bad CRC-32) is skipped, so its entry counts as missing. Not thread-safe on its own:
    :class:`EmbeddingCache` calls it under its lock.

    In memory an entry takes about 64 bytes (and the location array's spare rows while it
    grows): its key's first 8 bytes (an unsigned int) in a sorted array beside its row number
    (entries recorded since the last merge wait in a small dict), its location in a row of an
    array. Two keys sharing those 8 bytes (about one chance in :math:`10^8` among a million
    texts) share a row, the later superseding the earlier, which then reads as missing (an
    entry's header holds its whole key, checked on every read) and is recomputed: never a
    wrong entry.
    """

    #: Entries held in the dict before they are merged into the sorted arrays (at least; a
    #: merge waits for an eighth of the sorted entries, so merging costs O(N log N) in all).
    MERGE_MIN = 4096

    def __init__(self, path: Path) -> None:
        self.path = path
        self.forget()

    def forget(self) -> None:
        """Drop the records read so far (the next lookup reads ``index.bin`` again)."""
        self._pos = 0  # bytes of index.bin read so far
        self._loaded = False
        self._keys = np.zeros(0, dtype=np.uint64)  # sorted key prefixes ...
        self._key_rows = np.zeros(0, dtype=np.int64)  # ... and their rows of _loc
        self._recent: dict[int, int] = {}  # key prefix -> row, not merged yet
        self._loc = np.zeros((0, 6), dtype=np.int64)  # shard, offset, length, rows, cols, code
        self._rows = 0
        self._live = 0

    def __len__(self) -> int:
        return self._live

    @staticmethod
    def _prefix(owner: bytes) -> int:
        return int.from_bytes(owner[:8], "little")

    def _row(self, key: int) -> int | None:
        """``key``'s row of ``_loc`` (a discarded entry's too), or None."""
        row = self._recent.get(key)
        if row is not None or len(self._keys) == 0:
            return row
        pos = int(self._keys.searchsorted(np.uint64(key)))
        if pos < len(self._keys) and int(self._keys[pos]) == key:
            return int(self._key_rows[pos])
        return None

    def _live_row(self, owner: bytes) -> int | None:
        row = self._row(self._prefix(owner))
        return None if row is None or self._loc[row, 5] < 0 else row

    def known(self, owner: bytes) -> bool:
        """Whether an entry for ``owner`` is indexed (as read so far)."""
        return self._live_row(owner) is not None

    def lookup(self, owner: bytes) -> Location | None:
        """The entry's location as read so far (no refresh)."""
        row = self._live_row(owner)
        return None if row is None else self._location(row)

    def _location(self, row: int) -> Location:
        shard, offset, length, rows, cols, code = self._loc[row].tolist()
        return shard, offset, length, rows, cols, _CODES[code]

    def set(self, owner: bytes, loc: Location) -> None:
        """Record ``owner``'s entry at ``loc`` (superseding an earlier one)."""
        key = self._prefix(owner)
        row = self._row(key)
        if row is None:
            if self._rows == len(self._loc):
                grown = np.zeros((max(1024, 2 * len(self._loc)), 6), dtype=np.int64)
                grown[: self._rows] = self._loc[: self._rows]
                self._loc = grown
            row = self._recent[key] = self._rows
            self._rows += 1
            self._loc[row, 5] = -1  # not live yet
            if len(self._recent) >= max(self.MERGE_MIN, len(self._keys) // 8):
                self._merge()
        if self._loc[row, 5] < 0:
            self._live += 1
        shard, offset, length, rows, cols, code = loc
        self._loc[row] = (shard, offset, length, rows, cols, _CODES.index(code))

    def _merge(self) -> None:
        """Move the dict's entries into the sorted arrays."""
        keys = np.fromiter(self._recent.keys(), dtype=np.uint64, count=len(self._recent))
        rows = np.fromiter(self._recent.values(), dtype=np.int64, count=len(self._recent))
        keys, rows = np.concatenate([self._keys, keys]), np.concatenate([self._key_rows, rows])
        order = np.argsort(keys, kind="stable")
        self._keys, self._key_rows = keys[order], rows[order]
        self._recent = {}

    def discard(self, owner: bytes, loc: Location) -> None:
        """Forget ``owner``'s entry if it is still at ``loc`` (found damaged)."""
        row = self._live_row(owner)
        if row is not None and self._location(row) == loc:
            self._loc[row, 5] = -1
            self._live -= 1

    def get(self, owner: bytes) -> Location | None:
        """The entry's location, reading new records on a miss (another process's writes)."""
        if not self._loaded:
            self.refresh()
        loc = self.lookup(owner)
        if loc is None:
            self.refresh()
            loc = self.lookup(owner)
        return loc

    def refresh(self) -> None:
        """Read index records appended since the last call (by this or another process)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                start = max(self._pos, _INDEX_HEAD)
                whole = start + (size - start) // RECORD_SIZE * RECORD_SIZE
                if whole <= start:
                    self._loaded = True
                    return
                if self._pos < _INDEX_HEAD:
                    f.seek(0)
                    if f.read(8) != _INDEX_MAGIC:  # not an index of this format: start afresh
                        self._loaded = True
                        return
                f.seek(start)
                data = f.read(whole - start)
        except FileNotFoundError:
            self._loaded = True
            return
        view = memoryview(data)
        rec, crc = _RECORD.size, RECORD_SIZE
        for pos in range(0, len(data), crc):
            raw = view[pos : pos + rec]
            if zlib.crc32(raw) != _CRC.unpack_from(view, pos + rec)[0]:
                continue  # torn or damaged record: its entry counts as missing
            owner, shard, offset, length, rows, cols, code = _RECORD.unpack(raw)
            if code in _DTYPES:
                self.set(owner, (shard, offset, length, rows, cols, code))
        self._pos = start + len(data)
        self._loaded = True

    def append(self, data: bytes) -> None:
        """Append index records under an exclusive lock of the index file."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size < _INDEX_HEAD or _pread(fd, 8, 0) != _INDEX_MAGIC:  # new, or unreadable
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                _write_all(fd, _INDEX_MAGIC.ljust(_INDEX_HEAD, b"\0"))
                size = _INDEX_HEAD
            tail = (size - _INDEX_HEAD) % RECORD_SIZE
            if tail:  # a torn record from an interrupted writer: cut it
                size -= tail
                os.ftruncate(fd, size)
            os.lseek(fd, size, os.SEEK_SET)
            _write_all(fd, data)
        finally:
            os.close(fd)  # also releases the lock


class EmbeddingCache:
    """Token-embedding store for one encoding configuration (sharded, checksummed).

    Parameters
    ----------
    root : Path
        Cache root (see :func:`default_cache_dir`).
    config : dict
        JSON-serialisable description of the encoding (model, revision, layer, ...).
    folder : str
        The subfolder of ``root`` for this kind of entry (``"embeddings"``; the statistics
        store, :mod:`socm.store`, keeps its entries under ``"stats"``).

    Attributes
    ----------
    key : str
        24 hex digits of the SHA-256 of ``config`` and :data:`FORMAT_VERSION`.
    dir : Path
        ``<root>/<folder>/<key>``.
    n_corrupt : int
        Entries found corrupt (or belonging to another text) since this object was made.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> cache = EmbeddingCache(tempfile.mkdtemp(), {"model": "m"})
    >>> cache.put_many([(text_key("a"), np.ones((2, 3))), (text_key("b"), np.zeros((1, 3)))])
    >>> cache.get(text_key("a")).tolist(), cache.get(text_key("c"))
    ([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]], None)
    >>> cache.usage().n_entries, cache.usage().n_files  # config.json, index.bin, one shard
    (2, 3)
    """

    shard_bytes: int = SHARD_BYTES

    def __init__(self, root: Path | str, config: dict, folder: str = "embeddings") -> None:
        blob = json.dumps({**config, "format": FORMAT_VERSION}, sort_keys=True)
        self.key = hashlib.sha256(blob.encode()).hexdigest()[:24]
        self.root = Path(root)
        self.dir = self.root / folder / self.key
        self.config = config
        self.n_corrupt = 0
        self._lock = threading.RLock()
        self.index = ShardIndex(self.dir / "index.bin")
        self._readers: dict[int, int] = {}  # shard number -> read-only fd
        self._shard: tuple[int, int] | None = None  # (number, fd) of the shard this writes to
        meta = self.dir / "config.json"
        with _guard(self.dir, "be created"):
            if not meta.exists():
                text = json.dumps({"format": FORMAT_VERSION, "config": config}, indent=2)
                atomic_write_bytes(meta, (text + "\n").encode())
        _note_legacy_folders(self.root)

    # ------------------------------------------------------------------ paths
    @property
    def index_path(self) -> Path:
        """The append-only index file."""
        return self.index.path

    def shard_path(self, number: int) -> Path:
        """Shard file number ``number``."""
        return self.dir / "shards" / f"{number:06d}.shard"

    def shard_numbers(self) -> list[int]:
        """Numbers of the shard files present, in order."""
        folder = self.dir / "shards"
        if not folder.is_dir():
            return []
        return sorted(
            int(p.stem) for p in folder.glob("*.shard") if p.stem.isdigit() and len(p.stem) == 6
        )

    # ------------------------------------------------------------------ index
    def _lookup(self, owner: bytes) -> Location | None:
        with self._lock, _guard(self.dir, "read its index"):
            return self.index.get(owner)

    def __len__(self) -> int:
        """Number of entries in the index."""
        with self._lock, _guard(self.dir, "read its index"):
            self.index.refresh()
            return len(self.index)

    def __contains__(self, key: str) -> bool:
        return self._lookup(_owner(key)) is not None

    def locate(self, key: str) -> EntryLocation | None:
        """Where the entry of text key ``key`` lives (None: not in the cache)."""
        loc = self._lookup(_owner(key))
        if loc is None:
            return None
        shard, offset, length, rows, cols, code = loc
        return EntryLocation(
            self.shard_path(shard), offset, length, rows, cols, code.decode().strip()
        )

    def usage(self) -> CacheUsage:
        """Entries, files and bytes of this cache folder (shards, index and config)."""
        files = [p for p in self.dir.rglob("*") if p.is_file()]
        return CacheUsage(len(self), len(files), sum(p.stat().st_size for p in files))

    # ------------------------------------------------------------------ reading
    def _read(self, shard: int, offset: int, length: int) -> bytes:
        fd = self._readers.get(shard)
        if fd is None:
            try:
                fd = os.open(self.shard_path(shard), os.O_RDONLY | getattr(os, "O_BINARY", 0))
            except FileNotFoundError:
                return b""
            self._readers[shard] = fd
        return _pread(fd, length, offset)

    def get(self, key: str) -> np.ndarray | None:
        """The cached array for text key ``key`` in its stored dtype, or None.

        None also when the entry is corrupt, truncated or belongs to another text: then it
        counts in :attr:`n_corrupt` and is dropped from the index (a later :meth:`put` of the
        key supersedes it).
        """
        owner = _owner(key)
        loc = self._lookup(owner)
        if loc is None:
            return None
        shard, offset, length, rows, cols, code = loc
        with self._lock, _guard(self.dir, "read an entry"):
            data = self._read(shard, offset, length)
            body, digest = data[:-32], data[-32:]
            dtype = _DTYPES.get(code)
            intact = (
                len(data) == length
                and length >= _HEADER.size + 32
                and dtype is not None
                and len(body) == _HEADER.size + dtype.itemsize * rows * cols
                and hashlib.sha256(body).digest() == digest
            )
            header = _HEADER.unpack_from(body) if intact else None
            if header == (_MAGIC, owner, code, rows, cols):
                return np.frombuffer(body, dtype=dtype, offset=_HEADER.size).reshape(rows, cols)
            if header is not None and header[1] != owner and header[1][:8] == owner[:8]:
                return None  # another key's entry sharing the index slot: this key is missing
            self.n_corrupt += 1
            self.index.discard(owner, loc)
            return None

    def get_many(self, keys: Sequence[str]) -> list[np.ndarray | None]:
        """:meth:`get` of every key (the index is refreshed once, not per missing key)."""
        with self._lock, _guard(self.dir, "read its index"):
            self.index.refresh()
            present = [self.index.known(_owner(k)) for k in keys]
        return [self.get(k) if ok else None for k, ok in zip(keys, present, strict=True)]

    # ------------------------------------------------------------------ writing
    def put(self, key: str, array: np.ndarray, dtype: str = "<f4") -> None:
        """Store a 2-D ``array`` for text key ``key`` (float32 unless ``dtype`` is ``"<f8"``
        or ``"<f2"``), with a checksum; see :meth:`put_many`."""
        self.put_many([(key, array, dtype)])

    def put_many(self, items: Iterable[tuple]) -> None:
        """Append entries ``(key, array[, dtype])``: shard writes of about :data:`WRITE_BYTES`,
        then one index write (the index names only bytes already written).

        ``dtype`` is ``"<f4"`` (default), ``"<f2"`` or ``"<f8"``; the array is converted to
        it. A key stored again supersedes its earlier entry.

        Raises
        ------
        ValueError
            An array that is not 2-D, or finite values that overflow float16.
        SocmError
            The disk is full, the folder is not writable, or an entry of the folder is of the
            wrong kind (``shards`` a file, ``index.bin`` a folder): one line naming the folder.
        """
        blobs, records = [], []
        for item in items:
            key, array, dtype = (*item, "<f4") if len(item) == 2 else item
            blob, rows, cols, code = _encode_entry(key, array, dtype)
            blobs.append(blob)
            records.append((_owner(key), len(blob), rows, cols, code))
        if not blobs:
            return
        with self._lock, _guard(self.dir, "write new entries"):
            shard, fd = self._writable_shard()
            offset = os.fstat(fd).st_size
            for part in _joined(blobs, WRITE_BYTES):  # never a second copy of the batch
                _write_all(fd, part)
            out = bytearray()
            for owner, length, rows, cols, code in records:
                raw = _RECORD.pack(owner, shard, offset, length, rows, cols, code)
                out += raw + _CRC.pack(zlib.crc32(raw))
                self.index.set(owner, (shard, offset, length, rows, cols, code))
                offset += length
            self.index.append(bytes(out))
            if offset >= self.shard_bytes:  # full: the next write starts a new shard
                self._release_shard()

    def _writable_shard(self) -> tuple[int, int]:
        """(number, fd) of a shard this object holds an exclusive lock on, opened for append."""
        if self._shard is not None:
            return self._shard
        (self.dir / "shards").mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_BINARY", 0)
        numbers = self.shard_numbers()
        if numbers and fcntl is not None:  # continue the newest shard when it has room
            last = numbers[-1]
            fd = os.open(self.shard_path(last), flags)
            if os.fstat(fd).st_size < self.shard_bytes and _try_lock(fd):
                self._shard = (last, fd)
                return self._shard
            os.close(fd)
        number = (numbers[-1] + 1) if numbers else 0
        while True:
            try:
                fd = os.open(self.shard_path(number), flags | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                number += 1
                continue
            if fcntl is None or _try_lock(fd):
                self._shard = (number, fd)
                return self._shard
            os.close(fd)  # another writer locked it first
            number += 1

    def _release_shard(self) -> None:
        if self._shard is not None:
            os.close(self._shard[1])
            self._shard = None

    def forget_index(self) -> None:
        """Free the in-memory index (64 to 112 bytes an entry), as for a cache that will not
        be read for a while; the next read loads it again from ``index.bin``."""
        with self._lock:
            self.index.forget()

    def close(self) -> None:
        """Release the shard lock and close open files (the cache stays usable)."""
        with self._lock:
            self._release_shard()
            for fd in self._readers.values():
                os.close(fd)
            self._readers.clear()

    def __del__(self) -> None:  # pragma: no cover - depends on the garbage collector
        try:
            self.close()
        except Exception:
            pass


def _try_lock(fd: int) -> bool:
    """An exclusive, non-blocking ``flock`` of ``fd``; False when another holder has it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _pread(fd: int, length: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, length, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - Windows
    return os.read(fd, length)  # pragma: no cover


def _joined(blobs: list[bytes], limit: int) -> Iterator[bytes]:
    """``blobs`` joined into consecutive parts of about ``limit`` bytes (a larger blob alone)."""
    start, size = 0, 0
    for end, blob in enumerate(blobs):
        if size and size + len(blob) > limit:
            yield b"".join(blobs[start:end])
            start, size = end, 0
        size += len(blob)
    if size:
        yield b"".join(blobs[start:])


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _note_legacy_folders(root: Path) -> None:
    """Warn once per process about cache folders of the one-file-per-text format."""
    base = root / "embeddings"
    if base in _LEGACY_WARNED:
        return
    _LEGACY_WARNED.add(base)
    old = []
    try:
        folders = [p for p in base.iterdir() if p.is_dir()]
    except OSError:
        return
    for folder in folders:
        try:
            meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        if isinstance(meta, dict) and meta.get("format") == FORMAT_VERSION:
            continue
        if any(len(p.name) == 2 and p.is_dir() for p in folder.iterdir()):
            old.append(folder.name)
    if old:
        warn(
            f"{base} holds {len(old)} cache folder(s) of the old one-file-per-text format, "
            f"which socm no longer reads; they can be deleted: {', '.join(sorted(old))}"
        )
