"""Atomic file writes, used by every stage that writes (cache entries, run folders, figures),
the up-front check that a folder can be written, and the versions of the packages that
determine the numbers (recorded in run folders, part of the keys of saved results).

Every output is written to a temporary file in the same folder and moved into place with
``os.replace``, so a crash never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from socm.errors import SocmError

try:  # POSIX advisory locks; elsewhere the locks below are no-ops
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_jsonl",
    "atomic_write_npz",
    "atomic_write_parquet",
    "check_writable_dir",
    "folder_lock",
    "hold_lock",
    "read_npz",
    "usual_mode",
    "versions",
    "write_error",
]


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask is process-wide, not thread-safe


def usual_mode(folder: bool = False) -> int:
    """The permissions a new file (``0o666``) or folder (``0o777``) gets under the umask."""
    return (0o777 if folder else 0o666) & ~_UMASK


def hold_lock(path: Path, blocking: bool = True) -> int | None:
    """An exclusive ``flock`` on a file or folder: its open descriptor (close it to release
    the lock; the lock also ends with the process), or None when ``blocking`` is False and
    another process holds it. Without ``fcntl`` (Windows) a descriptor without a lock."""
    fd = os.open(path, os.O_RDONLY)
    if fcntl is None:  # pragma: no cover - Windows
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError:
        os.close(fd)
        if blocking:
            raise
        return None
    return fd


@contextlib.contextmanager
def folder_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on folder ``path`` for the ``with`` block (other processes taking it
    wait): makes a check and the move it allows one step."""
    fd = hold_lock(path)
    try:
        yield
    finally:
        os.close(fd)  # type: ignore[arg-type]


def write_error(path: str | Path, exc: OSError) -> SocmError:
    """An operating-system error while writing ``path`` as one line naming it (a full disk
    says so, with what to do)."""
    what = exc.strerror or str(exc)
    hint = "; free some space, or write elsewhere" if exc.errno == errno.ENOSPC else ""
    return SocmError(f"cannot write {path}: {what}{hint}")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``).

    Raises
    ------
    SocmError
        The file cannot be written (a full disk, no permission), naming it.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, usual_mode())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode())


def atomic_write_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    """Write one JSON object per line, atomically."""
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    atomic_write_bytes(path, lines.encode())


def atomic_write_parquet(path: str | Path, table: Any) -> None:
    """Write a ``pyarrow.Table`` as parquet, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


def atomic_write_npz(path: str | Path, arrays: dict[str, Any]) -> None:
    """Write numpy arrays as one ``.npz`` file, atomically."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def read_npz(path: str | Path) -> dict[str, Any] | None:
    """Every array of an ``.npz`` file (no pickles), or None when the file is missing or does
    not read back whole (a torn or foreign file is never read as data)."""
    import zipfile

    import numpy as np

    if not Path(path).is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: np.array(data[name]) for name in data.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def check_writable_dir(path: Path, what: str) -> None:
    """Refuse, in one line, a folder that cannot be created or written.

    Raises
    ------
    SocmError
        ``path`` is a file, lies under a file, or its first existing ancestor is not writable
        (checked by creating and removing an empty folder in it, so that a file system that
        refuses new folders is found before any work).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SocmError(f"{what} {path} is a file, not a folder: choose another path")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise SocmError(f"{what} {path}: {probe} is a file, so the folder cannot be created")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SocmError(f"{what} {path}: no permission to write in {probe}")
    try:  # what access() cannot tell: /proc, a read-only mount, root squashed on NFS, ...
        os.rmdir(tempfile.mkdtemp(prefix=".socm-check-", dir=probe))
    except OSError as exc:
        raise SocmError(
            f"{what} {path}: cannot create a folder in {probe} ({exc.strerror or exc})"
        ) from None


def versions() -> dict[str, str]:
    """Versions of the packages that determine the numbers."""
    import importlib.metadata as md
    import platform

    found = {"python": platform.python_version()}
    for pkg in ("socm", "torch", "transformers", "tokenizers", "numpy", "scipy"):
        try:
            found[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            found[pkg] = "not installed"
    return found
