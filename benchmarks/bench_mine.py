"""Benchmark ``socm.core.mine.mine`` on a large synthetic corpus.

    python benchmarks/bench_mine.py [--n 50000] [--dim 384] [--neighbors 10] [--search auto]

Token counts are drawn like wiki1m sentences tokenised by all-MiniLM-L6-v2 (mean ~26, range
3-121): a lognormal with median 22, clipped to 3..121. Token embeddings (float32, as encoders
return them) sit around one shared offset, like real encoders': each text is the offset plus a
topic direction (500 topics, so neighbours are meaningful) plus its own shift, and its tokens
vary in a text-specific low-rank subspace drawn from a shared basis. Prints the wall time of
each stage (statistics, neighbours, scoring, ranking) and the peak RSS, which includes the
token lists. Targets at N = 50,000, D = 384: at most 3 min and 8 GB.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from socm.core.mine import mine


def token_counts(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.clip(rng.lognormal(np.log(22), 0.55, n).round(), 3, 121).astype(np.int64)


def make_texts(counts: np.ndarray, dim: int, seed: int = 0) -> list[np.ndarray]:
    """float32 token matrices: offset + topic + text shift + low-rank token variation."""
    rng = np.random.default_rng(seed)
    offset = np.linspace(0.5, 1.5, dim, dtype=np.float32)
    topics = rng.standard_normal((500, dim), dtype=np.float32) * 0.25
    basis = rng.standard_normal((256, dim), dtype=np.float32)
    basis /= np.linalg.norm(basis, axis=1, keepdims=True)
    topic = rng.integers(0, len(topics), size=len(counts))
    out = []
    for t, n in enumerate(counts.tolist()):
        rank = int(rng.integers(4, 33))
        sub = basis[rng.choice(len(basis), size=rank, replace=False)]
        scale = np.float32(rng.uniform(3.0, 12.0) / np.sqrt(rank))
        center = offset + topics[topic[t]] + 0.1 * rng.standard_normal(dim, dtype=np.float32)
        z = rng.standard_normal((n, rank), dtype=np.float32) * scale
        out.append(center + z @ sub)
    return out


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--neighbors", type=int, default=10)
    ap.add_argument("--search", default="auto", choices=["auto", "exact", "faiss", "hnsw"])
    ap.add_argument("--numerics", default="exact", choices=["exact", "paper"])
    ap.add_argument("--device", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    counts = token_counts(args.n, rng)
    t0 = time.perf_counter()
    texts = make_texts(counts, args.dim, args.seed)
    gen = time.perf_counter() - t0
    token_gb = sum(x.nbytes for x in texts) / 1e9
    print(
        f"N={args.n:,} texts, D={args.dim}, tokens mean {counts.mean():.1f} min {counts.min()} "
        f"max {counts.max()} ({counts.sum():,} tokens, {token_gb:.2f} GB float32, generated in "
        f"{gen:.1f} s); neighbors={args.neighbors}, search={args.search}, "
        f"numerics={args.numerics}; torch threads {torch.get_num_threads()}"
    )
    print(f"RSS before mine: {rss_mb():,.0f} MB", flush=True)

    t0 = time.perf_counter()
    res = mine(
        texts,
        neighbors=args.neighbors,
        search=args.search,
        numerics=args.numerics,
        device=args.device,
    )
    wall = time.perf_counter() - t0
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux
    tm = res.timings
    print(
        f"mine: {wall:.1f} s total = stats {tm['stats']:.1f} s + neighbours "
        f"{tm['neighbors']:.1f} s + scoring {tm['scoring']:.1f} s + ranking "
        f"{tm['ranking']:.1f} s; {res.n_candidates:,} candidate pairs "
        f"({res.n_candidates / tm['scoring']:,.0f} pairs/s scored)"
    )
    print(f"neighbour search: {res.neighbor_info}")
    print(f"peak RSS {peak_gb:.2f} GiB (token lists included); targets: <= 180 s, <= 8 GB")
    print(
        f"SOCM over candidates: max {res.socm.max():.4f}, median {np.median(res.socm):.4f}; "
        f"cosine median {np.median(res.cosine):.4f}; relative d_Sigma median "
        f"{np.median(res.relative_d_sigma):.4f}"
    )
    for p in range(3):
        print(
            f"  #{p + 1}: ({res.i[p]}, {res.j[p]}) cos {res.cosine[p]:.4f} "
            f"d_Sigma {res.d_sigma[p]:.4f} rel {res.relative_d_sigma[p]:.3f} "
            f"SOCM {res.socm[p]:.4f}"
        )


if __name__ == "__main__":
    main()
