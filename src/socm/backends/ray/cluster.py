"""Connecting to a Ray cluster and turning its failures into one-line errors.

Nothing here imports Ray at module import: :func:`import_ray` does, when the backend is built.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from socm.encode.models import one_line
from socm.errors import SocmError

__all__ = [
    "CONNECT_TIMEOUT_S",
    "FAULT_ENV",
    "LOCAL",
    "auto_address",
    "import_ray",
    "inject_fault",
    "probe",
    "raise_user_error",
    "remote_error",
    "resolve_address",
    "root_cause",
    "texts_label",
    "user_error",
]

#: Seconds to wait for a TCP connection to a cluster address before calling it unreachable
#: (``ray.init`` alone waits minutes).
CONNECT_TIMEOUT_S = 5.0
#: Fault injection for testing retries on a cluster: ``once:PATH`` makes the first scoring
#: task that finds no file at PATH create it and kill its worker process; ``crash`` kills
#: every attempt. Read on the driver.
FAULT_ENV = "SOCM_RAY_FAULT"

INSTALL = "pip install 'socm[ray]'"


def import_ray() -> Any:
    """The ``ray`` module with Ray Data.

    Raises
    ------
    SocmError
        When Ray (or Ray Data) is not installed, naming the extra to install.
    """
    try:
        import ray
        import ray.data  # the encode stage needs Ray Data
    except ImportError as exc:
        raise SocmError(
            f"the ray backend needs Ray with Ray Data ({one_line(exc)}): {INSTALL}"
        ) from None
    return ray


#: What :func:`resolve_address` returns for "start a new local Ray instance"
#: (``ray.init(address="local")`` never joins a running cluster).
LOCAL = "local"


def resolve_address(address: str | None) -> str:
    """The cluster to connect to: ``address`` if given, else the value of ``RAY_ADDRESS``
    when it is set, else :data:`LOCAL`: a new local Ray instance. Never None, which Ray
    would read as "the cluster in Ray's current-cluster file" (``/tmp/ray/ray_current_cluster``,
    left behind by any ``ray start`` on this machine: someone else's cluster, or a stale file
    that makes ``ray.init`` wait for minutes).

    Examples
    --------
    >>> resolve_address("10.0.0.5:6379")
    '10.0.0.5:6379'
    """
    if address and address.strip():
        return address.strip()
    env = os.environ.get("RAY_ADDRESS", "").strip()
    return env or LOCAL


def auto_address() -> str | None:
    """Where Ray's ``address="auto"`` would connect: ``RAY_ADDRESS``, else the address in Ray's
    current-cluster file; None when neither names one (or Ray's lookup cannot be used)."""
    env = os.environ.get("RAY_ADDRESS", "").strip()
    if env and env != "auto":
        return env
    try:
        from ray._private.utils import read_ray_address
    except ImportError:  # pragma: no cover - another Ray layout: Ray looks itself
        return None
    try:
        return read_ray_address() or None
    except OSError:
        return None


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of ``host:port`` or ``ray://host:port``; None for ``auto`` and others."""
    if address in ("auto", "local"):
        return None
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return parts.hostname, port


def probe(address: str) -> None:
    """Refuse an address nothing listens on (TCP connect, :data:`CONNECT_TIMEOUT_S`); for
    ``auto``, the address Ray would take from ``RAY_ADDRESS`` or its current-cluster file
    (:func:`auto_address`).

    Raises
    ------
    SocmError
        Nothing answers at ``address``; ``auto`` finds no cluster, or a stale current-cluster
        file (unparsable addresses are left to Ray).
    """
    target = address
    if address == "auto":
        found = auto_address()
        if found is None:
            raise SocmError(
                "--backend-address auto: no running Ray cluster found (RAY_ADDRESS is not set "
                "and Ray's current-cluster file names none); start one with `ray start --head`, "
                "give its address, or leave the address out for a local Ray instance"
            )
        target = found
    hp = _host_port(target)
    if hp is None:
        return
    try:
        socket.create_connection(hp, timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        stale = ""
        if address == "auto" and os.environ.get("RAY_ADDRESS", "").strip():
            stale = " (auto: RAY_ADDRESS)"
        elif address == "auto":
            stale = " (auto: Ray's current-cluster file, a stale one of a stopped cluster?)"
        raise SocmError(
            f"cannot reach the Ray cluster at {target}{stale} ({one_line(exc)}): start it "
            "with `ray start --head`, or check --ray-address / RAY_ADDRESS"
        ) from None


def root_cause(exc: BaseException) -> BaseException | None:
    """The :class:`SocmError` or :class:`ValueError` a remote task raised, if any."""
    from ray.exceptions import RayTaskError

    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, RayTaskError):
            e = getattr(e, "cause", None) or e.__cause__
            continue
        if isinstance(e, (SocmError, ValueError)):
            return e
        e = e.__cause__ or e.__context__
    return None


_ERROR_LINE = re.compile(r"^(?!ray\.)([\w.]*(?:Error|Exception)): (.+)$")


def remote_error(exc: BaseException, limit: int = 300) -> str:
    """One line for a failed remote call: the original exception's line in the remote
    traceback Ray puts into the message (``RuntimeError: CUDA out of memory ...``, not Ray's
    own wrappers), else :func:`~socm.encode.models.one_line`."""
    for line in str(exc).splitlines():
        m = _ERROR_LINE.match(line.strip())
        if m:
            text = f"{m.group(1).rsplit('.', 1)[-1]}: {' '.join(m.group(2).split())}"
            return text if len(text) <= limit else text[: limit - 3] + "..."
    return one_line(exc, limit)


def user_error(exc: BaseException, where: str = "") -> str:
    """``"SocmError: message"`` or ``"ValueError: message"`` (one line), for the driver."""
    kind = "ValueError" if isinstance(exc, ValueError) else "SocmError"
    text = " ".join(str(exc).split())
    return f"{kind}: {text} ({where})" if where else f"{kind}: {text}"


def raise_user_error(error: str) -> None:
    """Raise a :func:`user_error` string as the :class:`SocmError` or :class:`ValueError` it was."""
    kind, _, text = error.partition(": ")
    raise (ValueError if kind == "ValueError" else SocmError)(text)


def inject_fault(fault: str | None) -> None:
    """See :data:`FAULT_ENV` (called first thing in every scoring task)."""
    if not fault:
        return
    kind, _, path = fault.partition(":")
    if kind == "crash":
        os._exit(1)
    if kind == "once" and path:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
        os._exit(1)


def texts_label(start: int, end: int, ids: Sequence[str] | None) -> str:
    """``texts 0-999 ('a' ... 'z')``: a range of positions and its first and last ids.

    Examples
    --------
    >>> texts_label(0, 3, ["a", "b", "c"])
    "texts 0-2 ('a' ... 'c')"
    """
    out = f"texts {start}-{end - 1}"
    if ids is not None:
        out += f" ({ids[start]!r} ... {ids[end - 1]!r})"
    return out
