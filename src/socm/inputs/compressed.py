"""Compressed input files, read by their suffix: ``.gz``, ``.bz2``, ``.xz`` and ``.zst``.

A file ``corpus.jsonl.gz`` is a ``.jsonl`` file compressed with gzip: the last suffix names the
compression, the one before it the format. ``.zst`` needs the PyPI package ``zstandard``; the
others are in Python's standard library. Files are decompressed whole, in memory, as the
uncompressed formats are read whole.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from pathlib import Path

from socm.errors import SocmError

__all__ = ["COMPRESSIONS", "format_suffix", "read_bytes"]

#: Compression suffixes and what writes them.
COMPRESSIONS = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstandard"}


def format_suffix(path: str | Path) -> tuple[str, str | None]:
    """(format suffix, compression suffix or None) of a file name, both lower case.

    Examples
    --------
    >>> format_suffix("corpus.JSONL.gz"), format_suffix("collection.tsv")
    (('.jsonl', '.gz'), ('.tsv', None))
    """
    path = Path(path)
    last = path.suffix.lower()
    if last in COMPRESSIONS:
        return Path(path.stem).suffix.lower(), last
    return last, None


def _zstd(data: bytes, path: Path) -> bytes:
    try:
        import zstandard
    except ImportError:
        raise SocmError(
            f"{path}: reading .zst files needs the PyPI package zstandard: pip install zstandard"
        ) from None
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(
            io.BytesIO(data), read_across_frames=True
        )
        return reader.readall()
    except zstandard.ZstdError as exc:
        raise SocmError(f"{path}: not a valid zstandard file ({exc})") from None


def read_bytes(path: str | Path) -> bytes:
    """The contents of a file, decompressed when its suffix names a compression.

    Raises
    ------
    SocmError
        A file that is not what its suffix says (naming the compression), or a ``.zst`` file
        without the ``zstandard`` package.
    """
    path = Path(path)
    data = path.read_bytes()
    kind = format_suffix(path)[1]
    if kind is None:
        return data
    if kind == ".zst":
        return _zstd(data, path)
    try:
        if kind == ".gz":
            return gzip.decompress(data)
        if kind == ".bz2":
            return bz2.decompress(data)
        return lzma.decompress(data)
    except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as exc:
        raise SocmError(f"{path}: not a valid {COMPRESSIONS[kind]} file ({exc})") from None
