"""The tile pool: results in order, thread counts restored across interleaved pools."""

from __future__ import annotations

import torch
from threadpoolctl import threadpool_info

from socm.core.pool import cpu_workers, run_all


def _blas_threads() -> list[int]:
    return [d["num_threads"] for d in threadpool_info()]


def test_results_in_order_and_counts_restored():
    before, blas = torch.get_num_threads(), _blas_threads()
    out = list(run_all(lambda x: x * x, list(range(50)), 4, False, "t"))
    assert out == [x * x for x in range(50)]
    assert torch.get_num_threads() == before
    assert _blas_threads() == blas


def test_interleaved_pools_keep_the_saved_count():
    torch.set_num_threads(3)
    try:
        seen = []

        def work(x):
            seen.append(torch.get_num_threads())
            return x

        a = run_all(work, list(range(10)), 2, False, "a")
        next(a)  # pool a is running: torch is single-threaded
        assert torch.get_num_threads() == 1
        assert cpu_workers(torch.device("cpu")) == 3  # the saved count, not the temporary one
        b = run_all(work, list(range(10)), 2, False, "b")
        next(b)
        list(a)  # a finishes first: b still runs single-threaded
        assert torch.get_num_threads() == 1
        list(b)
        assert torch.get_num_threads() == 3
        assert set(seen) == {1}
    finally:
        torch.set_num_threads(2)


def test_one_worker_leaves_threads_alone_and_closing_early_restores():
    torch.set_num_threads(2)
    inside = list(run_all(lambda _: torch.get_num_threads(), [0, 1], 1, False, "gpu"))
    assert inside == [2, 2]  # workers <= 1 (a GPU): the caller's thread, counts untouched
    one = list(run_all(lambda _: torch.get_num_threads(), [0], 8, False, "one"))
    assert one == [1]  # a pool of one item still runs single-threaded (same numbers)
    gen = run_all(lambda x: x, list(range(20)), 2, False, "c")
    next(gen)
    gen.close()
    assert torch.get_num_threads() == 2
    assert cpu_workers(torch.device("meta")) == 1
