"""Where a job runs: this process (``local``), a Ray cluster (``ray``), or any backend a
package registers.

A backend encodes texts to per-text statistics and scores pairs of them (:class:`Backend`);
the formulas stay in :mod:`socm.core` and :mod:`socm.encode`, so backends differ only in
scheduling. Backends are found by name (:func:`get_backend`): the built-in ones, those
registered in this process (:func:`register_backend`) and those other packages declare under
the entry-point group :data:`ENTRY_POINT_GROUP` (``[project.entry-points."socm.backends"]
mybackend = "mypackage.module:MyBackend"``). A backend is made with two generic options,
``address`` and ``device`` (``--backend-address``, ``--device``). ``ray`` needs the optional
extra ``socm[ray]``; nothing here imports Ray until that backend is asked for.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from collections.abc import Callable

from socm.backends.base import STREAM_TEXTS, Backend, LocalStats, StatsHandle
from socm.backends.local import LocalBackend, encode_stats
from socm.errors import SocmError

__all__ = [
    "BACKENDS",
    "ENTRY_POINT_GROUP",
    "STREAM_TEXTS",
    "Backend",
    "LocalBackend",
    "LocalStats",
    "StatsHandle",
    "available_backends",
    "backend_names",
    "encode_stats",
    "get_backend",
    "register_backend",
]

#: The built-in backends, by name: where each is defined (imported only when asked for) and
#: the module it needs installed.
_BUILTIN = {
    "local": ("socm.backends.local:LocalBackend", None),
    "ray": ("socm.backends.ray:RayBackend", "ray"),
}
#: The built-in backends' names.
BACKENDS: tuple[str, ...] = tuple(_BUILTIN)
#: The entry-point group under which other packages declare backends.
ENTRY_POINT_GROUP = "socm.backends"

Factory = Callable[..., Backend]
_REGISTERED: dict[str, Factory] = {}


def register_backend(name: str, factory: Factory) -> None:
    """Make ``factory(address=..., device=...)`` the backend called ``name`` in this process.

    Raises
    ------
    ValueError
        ``name`` is not a plain lower-case word, or it names a built-in backend.
    """
    if not name.replace("_", "").replace("-", "").isalnum() or name != name.lower():
        raise ValueError(f"a backend name is a lower-case word, got {name!r}")
    if name in _BUILTIN:
        raise ValueError(f"{name!r} is a built-in backend")
    _REGISTERED[name] = factory


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def backend_names() -> tuple[str, ...]:
    """Every backend name :func:`get_backend` knows: built-in, registered, declared by
    installed packages."""
    return tuple(dict.fromkeys([*_BUILTIN, *_REGISTERED, *_entry_points()]))


def available_backends() -> tuple[str, ...]:
    """The backends that can run here: those whose packages are installed.

    Examples
    --------
    >>> "local" in available_backends()
    True
    """
    out = []
    for name in backend_names():
        needs = _BUILTIN.get(name, (None, None))[1]
        if needs is None or importlib.util.find_spec(needs) is not None:
            out.append(name)
    return tuple(out)


def _load(target: str) -> Factory:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def get_backend(
    name: str = "local", address: str | None = None, device: str | None = None
) -> Backend:
    """The backend called ``name``.

    Parameters
    ----------
    name : str
        ``"local"``, ``"ray"``, or a registered or installed backend (:func:`backend_names`).
    address : str, optional
        Where the backend connects (for ``ray``: ``host:port``, ``ray://host:port`` or
        ``auto``; None: ``auto`` when ``RAY_ADDRESS`` is set, else a local Ray instance). The
        local backend takes none.
    device : str, optional
        The run's ``--device`` (the ray backend chooses GPUs or CPUs on the cluster by it).

    Returns
    -------
    Backend
        Not started yet: use it as a context manager.

    Raises
    ------
    SocmError
        An unknown name, an address for the local backend, or the backend's package not
        installed (naming how to install it).

    Examples
    --------
    >>> get_backend("local").name
    'local'
    """
    if name in _BUILTIN:
        factory = _load(_BUILTIN[name][0])
    elif name in _REGISTERED:
        factory = _REGISTERED[name]
    else:
        found = _entry_points().get(name)
        if found is None:
            raise SocmError(f"unknown backend {name!r}: choose one of {', '.join(backend_names())}")
        try:
            factory = found.load()
        except ImportError as exc:
            raise SocmError(f"backend {name!r} cannot be loaded: {exc}") from None
    return factory(address=address, device=device)
