"""A pool of single-threaded workers for the pair engine's tiles and chunks.

On CPU each tile's batched LAPACK call is serial, so tiles run side by side, one per core. While
any pool runs, torch's intra-op threads and the BLAS threads of NumPy/SciPy (through
``threadpoolctl``) are set to one, so that a worker's GEMM does not spawn threads on the cores the
other workers hold (measured in :mod:`socm.core.pairs`). The change is reference-counted across
pools that are alive at the same time (two interleaved generators, or threads): the first pool
to start saves the thread counts and the last to finish restores them, and the pool size is
always taken from the saved count, never from the temporary one.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from socm.progress import progress_bar

__all__ = ["cpu_workers", "run_all"]

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {"depth": 0, "threads": 1, "limiter": None}


def cpu_workers(device: torch.device) -> int:
    """Workers for ``device``: torch's thread count on CPU (as it was before any pool), else 1."""
    if device.type != "cpu":
        return 1
    with _LOCK:
        threads = _STATE["threads"] if _STATE["depth"] else torch.get_num_threads()
    return max(1, int(threads))


def _enter() -> None:
    from threadpoolctl import threadpool_limits

    with _LOCK:
        if _STATE["depth"] == 0:
            _STATE["threads"] = torch.get_num_threads()
            _STATE["limiter"] = threadpool_limits(1)  # before torch's: it saves the originals
            torch.set_num_threads(1)
        _STATE["depth"] += 1


def _exit() -> None:
    with _LOCK:
        _STATE["depth"] -= 1
        if _STATE["depth"] == 0:
            _STATE["limiter"].restore_original_limits()  # OpenMP included, so torch's last
            _STATE["limiter"] = None
            torch.set_num_threads(_STATE["threads"])


def run_all(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    workers: int,
    progress: bool,
    desc: str,
) -> Iterator[Any]:
    """``fn(item)`` for every item, yielded in order, with a progress bar.

    With ``workers > 1`` the items run in a pool of ``min(workers, len(items))`` threads with
    at most ``2 * workers`` in flight, so results never pile up; torch and BLAS run
    single-threaded in the meantime (see the module docstring), even for a single item, so
    that the numbers never depend on how many items there were (a multi-threaded GEMM may
    split its sums differently). With ``workers <= 1`` (a GPU) items run in the caller's
    thread with the thread counts untouched.
    """
    bar = progress_bar(len(items), desc, "batch", enabled=progress)
    try:
        if workers <= 1:
            for it in items:
                yield fn(it)
                bar.update(1)
            return
        workers = max(1, min(int(workers), len(items)))
        _enter()
        try:
            with ThreadPoolExecutor(workers) as ex:
                pending: deque = deque()
                for it in items:
                    pending.append(ex.submit(fn, it))
                    if len(pending) >= 2 * workers:
                        yield pending.popleft().result()
                        bar.update(1)
                while pending:
                    yield pending.popleft().result()
                    bar.update(1)
        finally:
            _exit()
    finally:
        bar.close()
