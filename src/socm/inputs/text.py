"""Reading text files: UTF-8 text or a one-line refusal (part of the "inputs" stage).

Every text file socm reads (corpora, pairs files, MS MARCO and STS-B files, score tables) goes
through :func:`read_text_file`, and every text a corpus yields through :func:`has_visible`:

* only regular files and pipes are read (a device such as ``/dev/zero`` would never end);
* the bytes must be UTF-8 (an optional byte-order mark), without NUL bytes: a UTF-16 or UTF-32
  file is named as such, with or without a byte-order mark (ASCII text in UTF-16 is valid UTF-8
  with a NUL after every character, which would otherwise be read as text);
* the file is read and checked in blocks, so that a bad file is refused at its first bad block.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from socm.errors import SocmError
from socm.inputs.compressed import format_suffix, read_bytes

__all__ = ["BLOCK_BYTES", "check_readable_file", "has_visible", "read_text_file"]

BLOCK_BYTES = 1 << 20
"""Bytes read and checked at a time."""

_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32 (little-endian)"),
    (codecs.BOM_UTF32_BE, "UTF-32 (big-endian)"),
    (codecs.BOM_UTF16_LE, "UTF-16 (little-endian)"),
    (codecs.BOM_UTF16_BE, "UTF-16 (big-endian)"),
)
#: Visible ASCII: a text with one of these has a visible character (the fast path).
_VISIBLE_ASCII = re.compile(r"[!-~]")
#: Letters and symbols that render as blank space (fillers, the blank braille pattern).
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def check_readable_file(path: Path, what: str = "file") -> None:
    """Refuse a path that is not a regular file or a pipe (a folder, a device, a socket).

    Raises
    ------
    SocmError
        Naming the path and what it is.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise SocmError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise SocmError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise SocmError(f"{what} {path} is a directory, not a file")
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        kind = "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"
        raise SocmError(f"{what} {path} is {kind}, not a text file")


def _utf16_hint(block: bytes) -> str:
    """``" (it looks like UTF-16 ... without a byte-order mark)"`` when NUL bytes sit at every
    other position of the file's start, as in ASCII text in UTF-16; else ``""``."""
    head = block[:4096]
    if len(head) < 4:
        return ""
    even, odd = head[0::2], head[1::2]
    for zeros, other, order in ((odd, even, "little"), (even, odd, "big")):
        if zeros.count(0) >= 0.4 * len(zeros) and other.count(0) <= 0.1 * len(other):
            return f" (it looks like UTF-16, {order}-endian, without a byte-order mark)"
    return ""


def _blocks(path: Path) -> Iterator[bytes]:
    """The file's bytes in blocks of :data:`BLOCK_BYTES`, then ``b""``; a compressed file
    (by suffix: :func:`socm.inputs.compressed.read_bytes`) decompressed first."""
    if format_suffix(path)[1] is not None:
        data = read_bytes(path)
        for start in range(0, len(data), BLOCK_BYTES):
            yield data[start : start + BLOCK_BYTES]
        yield b""
        return
    with open(path, "rb") as f:
        while True:
            block = f.read(BLOCK_BYTES)
            yield block
            if not block:
                return


def read_text_file(path: str | Path, what: str = "file") -> str:
    """The text of a UTF-8 file (an optional UTF-8 byte-order mark is dropped), decompressed
    first when its suffix names a compression (``.gz``, ``.bz2``, ``.xz``, ``.zst``).

    Parameters
    ----------
    path : str or Path
    what : str
        What the file is, for messages (``"corpus file"``, ``"pairs file"``).

    Raises
    ------
    SocmError
        The path is missing or not a file or pipe; the file starts with a UTF-16 or UTF-32
        byte-order mark, holds a NUL byte (with a UTF-16 hint when the NULs look like it), or
        bytes that are not UTF-8; the message names the file, the line and the byte.
    """
    path = Path(path)
    check_readable_file(path, what)
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    parts: list[str] = []
    lines = offset = 0  # newlines and bytes before the block
    convert = "convert the file to UTF-8"
    try:
        for block in _blocks(path):
            skip = 0
            if offset == 0:
                for bom, name in _BOMS:
                    if block.startswith(bom):
                        raise SocmError(f"{path}: the file is {name} text; {convert}")
                skip = len(codecs.BOM_UTF8) if block.startswith(codecs.BOM_UTF8) else 0
            nul = block.find(b"\0")
            if nul >= 0:
                hint = _utf16_hint(block) if offset == 0 else ""
                at = lines + block.count(b"\n", 0, nul) + 1
                raise SocmError(
                    f"{path}: a NUL byte at line {at} (byte {offset + nul}): not UTF-8 "
                    f"text{hint}; {convert}"
                )
            pending = len(decoder.getstate()[0])  # bytes of a character cut by the block
            try:
                parts.append(decoder.decode(block[skip:], final=not block))
            except UnicodeDecodeError as exc:
                bad = max(0, skip + exc.start - pending)  # position in this block
                at = lines + block.count(b"\n", 0, bad) + 1
                raise SocmError(
                    f"{path}: not valid UTF-8 at line {at} (byte {offset + bad}); {convert}"
                ) from None
            if not block:
                break
            lines += block.count(b"\n")
            offset += len(block)
    except OSError as exc:
        raise SocmError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return "".join(parts)


def has_visible(text: str) -> bool:
    """Whether ``text`` has a character that shows: a letter, number, punctuation mark or
    symbol, not white space, a control or format character (zero-width space and joiners,
    byte-order marks, direction marks), a combining mark on its own or a blank filler.

    Examples
    --------
    >>> has_visible("a"), has_visible("\\u200b\\u200d\\ufeff"), has_visible("\\u3164 \\u00a0")
    (True, False, False)
    """
    if _VISIBLE_ASCII.search(text):
        return True
    return any(
        unicodedata.category(c)[0] in "LNPS" and c not in _BLANK for c in text if ord(c) > 127
    )
