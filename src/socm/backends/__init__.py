"""Where a measure job runs: this process (``local``) or a Ray cluster (``ray``).

A backend encodes texts to per-text statistics and scores pairs of them
(:class:`Backend`); the formulas stay in :mod:`socm.core` and :mod:`socm.encode`, so the
backends differ only in scheduling. ``ray`` needs the optional extra ``socm[ray]``; nothing
here imports Ray until that backend is asked for.
"""

from __future__ import annotations

from socm.backends.base import BACKENDS, STREAM_TEXTS, Backend, LocalStats, StatsHandle
from socm.backends.local import LocalBackend, encode_stats
from socm.errors import SocmError

__all__ = [
    "BACKENDS",
    "STREAM_TEXTS",
    "Backend",
    "LocalBackend",
    "LocalStats",
    "StatsHandle",
    "encode_stats",
    "get_backend",
]


def get_backend(
    name: str = "local", address: str | None = None, device: str | None = None
) -> Backend:
    """The backend called ``name``.

    Parameters
    ----------
    name : {"local", "ray"}
    address : str, optional
        The Ray cluster (``host:port``, ``ray://host:port`` or ``auto``; None: ``auto`` when
        ``RAY_ADDRESS`` is set, else a local Ray instance). Only for ``ray``.
    device : str, optional
        The run's ``--device`` (the ray backend chooses GPUs or CPUs on the cluster by it).

    Returns
    -------
    Backend
        Not started yet: use it as a context manager.

    Raises
    ------
    SocmError
        An unknown name, an address for the local backend, or Ray not installed.

    Examples
    --------
    >>> get_backend("local").name
    'local'
    """
    if name == "local":
        if address:
            raise SocmError("--ray-address is for --backend ray (the local backend runs here)")
        return LocalBackend()
    if name == "ray":
        from socm.backends.ray import RayBackend

        return RayBackend(address, device=device)
    raise SocmError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
