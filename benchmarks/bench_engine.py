"""Benchmark the pair engine: all C(N, 2) pairs of N texts with realistic token counts.

Prints wall time, pairs/s and peak RSS for the fast engine, and the per-pair time of the
textbook D x D route (socm.core.reference) on a sample of pairs, with the speed ratio.

    python benchmarks/bench_engine.py [--n 1000] [--dims 384 768] [--numerics exact]
    python benchmarks/bench_engine.py --tokens 16 32 64 128 256 512 [--before DIR]

``--breakdown N``: where the time of a pair goes at N tokens (one thread): the whole engine,
and alone the cross-Gram products, the Gram matrices (dsyrk), the eigenvalues (dsyevr) and the
SVD fallback at the share of pairs that take it; the rest is scheduling and memory traffic.

``--tokens``: µs per pair at texts of exactly that many tokens (D = 384), all pairs and listed
pairs, each in a fresh process; with ``--before DIR`` (the ``src`` folder of another checkout,
e.g. the commit before an engine change: ``git worktree add /tmp/before <commit>``) the same
runs with that engine, alternating between the two, and the speed ratio (best of ``--repeat``).

Token counts: by default those of 1,000 seed-0 sentences of wiki1m-head tokenised by
all-MiniLM-L6-v2 (mean ~26, range 3-121) when the shared data and packaged model exist, else
a lognormal draw with mean ~26 clipped to 3..128. Embeddings are random anisotropic vectors
around a shared mean, like real encoders' (the engine's cost depends on n and D only).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import WIKI_HEAD

import socm
from socm.core.reference import textbook_d_sigma


def token_counts(n: int, seed: int = 0) -> np.ndarray:
    try:
        from transformers import AutoTokenizer

        from socm.encode import resolve_model

        lines = [s.strip() for s in WIKI_HEAD.read_text(encoding="utf-8").splitlines() if s.strip()]
        random.seed(seed)
        texts = random.sample(lines, n)
        tok = AutoTokenizer.from_pretrained(
            resolve_model("sentence-transformers/all-MiniLM-L6-v2").path
        )
        ids = tok(texts, truncation=True, max_length=128)["input_ids"]
        return np.array([len(x) for x in ids])
    except Exception as exc:  # no shared data or packaged model: synthetic lengths
        print(f"(synthetic token counts: {exc.__class__.__name__})")
        rng = np.random.default_rng(seed)
        return np.clip(rng.lognormal(np.log(22), 0.55, n).round(), 3, 128).astype(int)


def make_texts(counts: np.ndarray, dim: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=dim) * 1.5
    scale = rng.uniform(0.2, 1.5, size=dim)
    return [(base + rng.normal(size=(int(k), dim)) * scale).astype(np.float32) for k in counts]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def one_dim(counts: np.ndarray, dim: int, numerics: str, sample: int, device: str | None) -> None:
    """Time the engine at one D (run in a fresh process so peak RSS is this run's own)."""
    texts = make_texts(counts, dim)
    n = len(counts)
    n_pairs = n * (n - 1) // 2
    base = current_rss_mb()
    t0 = time.perf_counter()
    res = socm.pairwise(texts, numerics=numerics, device=device)
    wall = time.perf_counter() - t0
    peak = peak_rss_mb()
    per_fast = wall / n_pairs
    rng = np.random.default_rng(1)
    idx = rng.integers(0, len(res), size=sample)
    t0 = time.perf_counter()
    err = 0.0
    for p in idx:
        ref = textbook_d_sigma(texts[res.i[p]], texts[res.j[p]])
        err = max(err, abs(ref - res.d_sigma[p]))
    per_slow = (time.perf_counter() - t0) / sample
    print(
        f"D={dim}: {n_pairs:,} pairs in {wall:.2f} s ({n_pairs / wall:,.0f} pairs/s), "
        f"peak RSS {peak:.0f} MB (process before the call {base:.0f} MB) | textbook "
        f"{per_slow * 1e3:.1f} ms/pair, ratio {per_slow / per_fast:,.0f}x | max |Δd_Σ| vs "
        f"textbook on {sample} pairs {err:.1e} | avg SOCM {res.socm.mean():.5f}",
        flush=True,
    )


#: Texts per length for ``--tokens``: all pairs take about 5-20 s here.
TOKEN_TEXTS = {16: 800, 32: 600, 64: 320, 96: 220, 128: 160, 256: 64, 512: 30}


def one_length(tokens: int, mode: str, numerics: str) -> None:
    """Child process: µs per pair at ``tokens`` tokens (``mode``: all or listed pairs)."""
    n = TOKEN_TEXTS.get(tokens, 100)
    texts = socm.core.stats.token_stats_many(make_texts(np.full(n, tokens), 384))
    pairs = None
    if mode == "listed":
        rng = np.random.default_rng(0)
        pairs = rng.integers(0, n, size=(min(20_000, n * (n - 1) // 2), 2))
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    socm.core.pairwise(texts[:8], numerics=numerics)  # warm-up
    t0 = time.perf_counter()
    res = socm.core.pairwise(texts, pairs=pairs, numerics=numerics)
    wall = time.perf_counter() - t0
    row = {"us": wall / len(res) * 1e6, "pairs": len(res), "socm": float(res.socm.sum())}
    print(json.dumps(row))


def breakdown(tokens: int, dim: int = 384) -> None:
    """``--breakdown``: µs per pair of the engine's parts at ``tokens`` tokens, one thread."""
    from scipy.linalg import blas, lapack

    from socm.core.metrics import CPU_EVR_MIN, fidelity_exact

    torch.set_num_threads(1)
    n = TOKEN_TEXTS.get(tokens, 100)
    stats = socm.core.stats.token_stats_many(make_texts(np.full(n, tokens), dim))
    socm.core.pairwise(stats[:8])  # warm-up
    t0 = time.perf_counter()
    res = socm.core.pairwise(stats)
    whole = (time.perf_counter() - t0) / len(res) * 1e6
    f = torch.from_numpy(np.concatenate([s.factor for s in stats]))
    r = stats[0].factor.shape[0]
    t0 = time.perf_counter()
    big = f @ f.T  # every pair's cross-Gram in one product (both orders: twice the pairs)
    gemm = (time.perf_counter() - t0) / (n * n) * 1e6
    blocks = [big[i * r : (i + 1) * r, j * r : (j + 1) * r].numpy() for i, j in
              zip(*np.triu_indices(n, 1), strict=True)][:2000]  # fmt: skip
    if r >= CPU_EVR_MIN:  # the engine's route on the CPU: dsyrk and dsyevr per matrix
        t0 = time.perf_counter()
        grams = [blas.dsyrk(1.0, np.ascontiguousarray(b), lower=1) for b in blocks]
        syrk = (time.perf_counter() - t0) / len(blocks) * 1e6
        t0 = time.perf_counter()
        for k in grams:
            lapack.dsyevr(k, compute_v=0, lower=1, overwrite_a=1)
        evr = (time.perf_counter() - t0) / len(blocks) * 1e6
        names = ("Gram (dsyrk)", "eigenvalues (dsyevr)")
    else:  # below it: one batched product and torch's batched eigvalsh
        stack = torch.from_numpy(np.stack(blocks))
        t0 = time.perf_counter()
        grams = stack @ stack.mT
        syrk = (time.perf_counter() - t0) / len(blocks) * 1e6
        t0 = time.perf_counter()
        torch.linalg.eigvalsh(grams)
        evr = (time.perf_counter() - t0) / len(blocks) * 1e6
        names = ("Gram (batched product)", "eigenvalues (batched eigvalsh)")
    m = torch.from_numpy(np.stack(blocks[:500]))
    t0 = time.perf_counter()
    fidelity_exact(m, atol=math.inf)  # never the SVD
    no_svd = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = fidelity_exact(m)  # the engine's accuracy target: the SVD where the bound asks
    fallback = max(0.0, time.perf_counter() - t0 - no_svd) / len(m) * 1e6
    exact = torch.linalg.svdvals(m).sum(-1)
    parts = {"cross-Gram GEMM": gemm, names[0]: syrk, names[1]: evr,
             "SVD fallback": fallback}  # fmt: skip
    rest = whole - sum(parts.values())
    print(f"{tokens} tokens (rank {r}), D = {dim}, one thread: {whole:.1f} µs per pair")
    for name, us in [*parts.items(), ("rest: scheduling, copies, Python", rest)]:
        print(f"  {name:<34} {us:8.1f} µs  {us / whole:6.1%}")
    print(f"  max |fast - SVD| fidelity on {len(m)} pairs: {float((fast - exact).abs().max()):.1e}")


def compare_lengths(args: argparse.Namespace) -> None:
    """``--tokens``: this engine (and ``--before``'s) at each length, alternating runs."""
    engines = {"now": str(Path(socm.__file__).parents[1])}
    if args.before:
        engines["before"] = args.before
    print(
        f"µs per pair (wall, best of {args.repeat}), D = 384, numerics {args.numerics}, torch "
        f"threads {torch.get_num_threads()}; engines: "
        + ", ".join(f"{k} = {v}" for k, v in engines.items())
    )
    for tokens in args.tokens:
        for mode in ("all", "listed"):
            best: dict[str, float] = {}
            sums = {}
            for _ in range(args.repeat):
                for name, src in engines.items():
                    cmd = [sys.executable, __file__, "--one-length", str(tokens), mode]
                    cmd += ["--numerics", args.numerics]
                    env = {**os.environ, "PYTHONPATH": src}
                    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
                    row = json.loads(out.stdout.strip().splitlines()[-1])
                    best[name] = min(best.get(name, math.inf), row["us"])
                    sums[name] = row["socm"]
            line = f"{tokens:>4} tokens, {mode:>6} pairs: now {best['now']:9.1f}"
            if "before" in best:
                diff = abs(sums["now"] - sums["before"])
                line += (
                    f"  before {best['before']:9.1f}  speed-up {best['before'] / best['now']:.2f}x"
                    f"  (|Δ sum of SOCM| {diff:.1e})"
                )
            print(line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--dims", type=int, nargs="+", default=[384, 768])
    ap.add_argument("--numerics", default="exact", choices=["exact", "paper"])
    ap.add_argument("--sample", type=int, default=20, help="pairs timed on the textbook route")
    ap.add_argument("--device", default=None)
    ap.add_argument("--counts-file", help=argparse.SUPPRESS)
    ap.add_argument("--tokens", type=int, nargs="+", help="µs per pair at these lengths")
    ap.add_argument("--before", help="src folder of the engine to compare with (--tokens)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per engine and length")
    ap.add_argument("--one-length", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--breakdown", type=int, help="where the time goes at this many tokens")
    args = ap.parse_args()
    if args.breakdown:
        breakdown(args.breakdown)
        return
    if args.one_length:
        one_length(int(args.one_length[0]), args.one_length[1], args.numerics)
        return
    if args.tokens:
        compare_lengths(args)
        return
    if args.counts_file:  # child process: one dimension
        one_dim(np.load(args.counts_file), args.dims[0], args.numerics, args.sample, args.device)
        return
    counts = token_counts(args.n)
    print(
        f"N={args.n} texts, tokens mean {counts.mean():.1f} min {counts.min()} max {counts.max()}"
        f"; numerics={args.numerics}; torch threads {torch.get_num_threads()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/counts.npy"
        np.save(path, counts)
        for dim in args.dims:
            cmd = [
                sys.executable,
                __file__,
                "--counts-file",
                path,
                "--dims",
                str(dim),
                "--numerics",
                args.numerics,
                "--sample",
                str(args.sample),
            ]
            if args.device:
                cmd += ["--device", args.device]
            subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
