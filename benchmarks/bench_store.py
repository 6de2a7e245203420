"""Mining a synthetic corpus larger than memory: peak RSS, store size and time per stage.

    python benchmarks/bench_store.py --n 100000                # one run
    python benchmarks/bench_store.py --sweep 20000 100000      # each N in its own process
    python benchmarks/bench_store.py --n 1000000 --store-dtype float32
    python benchmarks/bench_store.py --n 50000 --median-tokens 90   # passages of ~100 tokens

Texts are generated lazily, one seed per text (``Lazy``: ``len()`` and ``__getitem__``, like a
user's reader), as in ``bench_mine.py``: float32 tokens around a shared offset, a topic
direction (500 topics) and a text shift, varying in a text-specific low-rank subspace; token
counts lognormal (median 22, about 26 on average like wiki1m sentences under all-MiniLM-L6-v2).
``socm.mine(texts, store=..., memory_budget=...)`` reads each text once and keeps only the unit
means in memory; the covariance factors go to a statistics store (removed afterwards). Prints
the time of each stage, the peak RSS of the whole process (``ru_maxrss``), the store's size on
disk, the size the statistics would take in memory, and the search's recall when approximate.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import socm
from socm.store import stats_nbytes


class Lazy:
    """``n`` synthetic texts, each made on demand from its own seed."""

    def __init__(self, n: int, dim: int = 384, median: float = 22.0, seed: int = 0) -> None:
        self.n, self.dim, self.seed = n, dim, seed
        rng = np.random.default_rng(seed)
        self.counts = np.clip(rng.lognormal(np.log(median), 0.55, n).round(), 3, 512)
        self.counts = self.counts.astype(np.int64)
        self.offset = np.linspace(0.5, 1.5, dim, dtype=np.float32)
        self.topics = rng.standard_normal((500, dim), dtype=np.float32) * 0.25
        basis = rng.standard_normal((256, dim), dtype=np.float32)
        self.basis = basis / np.linalg.norm(basis, axis=1, keepdims=True)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, t: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, int(t)))
        rank = int(rng.integers(4, 33))
        sub = self.basis[rng.choice(len(self.basis), size=rank, replace=False)]
        scale = np.float32(rng.uniform(3.0, 12.0) / np.sqrt(rank))
        topic = self.topics[int(rng.integers(0, len(self.topics)))]
        center = self.offset + topic + 0.1 * rng.standard_normal(self.dim, dtype=np.float32)
        z = rng.standard_normal((int(self.counts[t]), rank), dtype=np.float32) * scale
        return center + z @ sub


def peak_rss_gb() -> float:
    """Peak RSS of this process in GB (10^9 bytes, as every size printed here)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # KiB on Linux


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def one(args: argparse.Namespace) -> dict:
    texts = Lazy(args.n, args.dim, args.median_tokens, args.seed)
    in_memory = stats_nbytes(texts.counts, args.dim)
    store = Path(tempfile.mkdtemp(prefix="socm-bench-store-", dir=args.tmp))
    t0 = time.perf_counter()
    try:
        res = socm.mine(
            texts,
            neighbors=args.neighbors,
            search=args.search,
            store=store,
            store_dtype=args.store_dtype,
            progress=args.progress,
        )
        wall = time.perf_counter() - t0
        size = folder_bytes(store)
    finally:
        shutil.rmtree(store, ignore_errors=True)
    info = res.neighbor_info
    return {
        "n": args.n,
        "dim": args.dim,
        "tokens_mean": float(texts.counts.mean()),
        "store_dtype": args.store_dtype,
        "wall_s": round(wall, 1),
        "timings_s": {k: round(v, 1) for k, v in res.timings.items()},
        "n_candidates": res.n_candidates,
        # what the result itself holds for its pairs (every candidate is kept here)
        "result_pairs_gb": round(sum(a.nbytes for a in res.pairs().values()) / 1e9, 3),
        "search": info.get("method"),
        "recall": info.get("recall"),
        "auto": info.get("auto"),
        "peak_rss_gb": round(peak_rss_gb(), 3),
        "means_gb": round(8 * args.n * args.dim / 1e9, 3),
        "in_memory_stats_gb": round(in_memory / 1e9, 2),
        "store_gb": round(size / 1e9, 2),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--sweep", type=int, nargs="+", help="run each N in its own process")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--median-tokens", type=float, default=22.0)
    ap.add_argument("--neighbors", type=int, default=10)
    ap.add_argument("--search", default="auto")
    ap.add_argument("--store-dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tmp", default=None, help="folder of the temporary store")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--json", action="store_true", help="one JSON line (for --sweep)")
    args = ap.parse_args()
    if args.sweep:
        rows = []
        for n in args.sweep:
            cmd = [sys.executable, __file__, "--json", "--n", str(n)]
            for flag in ("dim", "median_tokens", "neighbors", "search", "store_dtype", "seed"):
                cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
            if args.tmp:
                cmd += ["--tmp", args.tmp]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
        a, b = rows[0], rows[-1]
        grow = b["peak_rss_gb"] - a["peak_rss_gb"]
        means = b["means_gb"] - a["means_gb"]
        pairs = b["result_pairs_gb"] - a["result_pairs_gb"]
        print(
            f"peak RSS {a['peak_rss_gb']:.2f} GB at N = {a['n']:,}, {b['peak_rss_gb']:.2f} GB at "
            f"N = {b['n']:,}: grew {grow:.2f} GB against {means:.2f} GB of unit means "
            f"(target: at most {1.25 * means:.2f} GB); the result's pair arrays grew "
            f"{pairs:.2f} GB ({b['n_candidates'] - a['n_candidates']:,} more candidate pairs)"
        )
        return
    row = one(args)
    if args.json:
        print(json.dumps(row))
        return
    for key, value in row.items():
        print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
