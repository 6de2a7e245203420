"""The top-level functions that choose where the work runs (``socm.mine``).

:func:`socm.core.mine.mine` takes a started scorer; :func:`mine` here also takes a backend's
name (:func:`socm.backends.get_backend`), connects it for the call and disconnects it, so that
``socm.mine(tokens, backend="ray")`` works from a notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from socm.backends import Backend, backend_names, get_backend
from socm.core import mine as core_mine
from socm.core.metrics import Numerics

__all__ = ["mine"]


def mine(
    token_lists: Sequence[Any],
    options: core_mine.MineOptions | None = None,
    *,
    numerics: Numerics = "exact",
    device: str | torch.device | None = None,
    progress: bool = False,
    score_chunk_bytes: int = 512 << 20,
    backend: Backend | str | None = None,
    **changes: Any,
) -> core_mine.MineResult:
    """:func:`socm.core.mine.mine`, scoring the candidates on ``backend``.

    Parameters
    ----------
    token_lists, options, numerics, device, progress, score_chunk_bytes, **changes
        As for :func:`socm.core.mine.mine` (``changes``: :class:`~socm.core.mine.MineOptions`
        fields such as ``neighbors=5``).
    backend : Backend or str, optional
        Where the candidates are scored: None or ``"local"`` in this process; a backend's
        name (``"ray"``: the Ray cluster of ``RAY_ADDRESS``, else a local Ray instance),
        connected and disconnected here; or a :class:`~socm.backends.Backend` the caller
        started (use it as a context manager). Every backend gives the same scores.

    Returns
    -------
    MineResult

    Raises
    ------
    ValueError
        As :func:`socm.core.mine.mine`, or an unknown backend.
    SocmError
        The backend's package not installed, its cluster unreachable, a failed worker.

    Examples
    --------
    >>> import numpy as np, socm
    >>> rng = np.random.default_rng(0)
    >>> res = socm.mine([rng.normal(1, 1, (6, 8)) for _ in range(5)], neighbors=2, top_k=3)
    >>> len(res), res.rank_by
    (3, 'relative_d_sigma')
    """
    kwargs = {
        "numerics": numerics,
        "device": device,
        "progress": progress,
        "score_chunk_bytes": score_chunk_bytes,
    }
    if backend is None or backend == "local":
        return core_mine.mine(token_lists, options, **kwargs, **changes)
    if isinstance(backend, Backend):
        return core_mine.mine(token_lists, options, **kwargs, scorer=backend, **changes)
    names = backend_names()
    if not isinstance(backend, str) or backend not in names:
        listed = ", ".join(repr(n) for n in names[:-1]) + f", {names[-1]!r}"
        raise ValueError(f"backend must be {listed} or a Backend, got {backend!r}")
    where = None if device is None else str(device)  # the cluster's GPUs, or as asked
    with get_backend(backend, device=where) as owned:
        return core_mine.mine(token_lists, options, **kwargs, scorer=owned, **changes)
