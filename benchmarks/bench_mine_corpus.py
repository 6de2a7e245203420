"""Benchmark ``socm mine`` over every sentence of the offline Wikipedia corpus.

    HF_HUB_OFFLINE=1 python benchmarks/bench_mine_corpus.py [--corpus wikipedia]
        [--neighbors 10] [--rank-by relative_d_sigma] [--batch-size 128] [--cache-dir DIR]

1. ``run_mine`` with all-MiniLM-L6-v2 on a fresh float32 cache (everything is encoded):
   wall time per stage (model load, encode, statistics, neighbours, scoring, ranking, writing)
   and the peak RSS of the process (which also holds the corpus).
2. The cache on disk: entries, files and bytes of the float32 cache, and of a float16 cache
   filled from it (``EmbeddingCache.put_many`` of the rounded entries: exactly what
   ``--cache-dtype float16`` stores), against the one file per text of the old format.
3. ``run_mine`` again with ``cache_dtype="float16"`` (every text from the float16 cache, no
   encoding): the time of a fully cached run, and the effect of float16 storage at scale: how
   many candidate pairs and top pairs agree, and the largest change of each column over the
   candidates both runs share.

Targets (issue 12): encode + neighbours + scoring of the 36,441 sentences in at most 10 min on
the 2-core CPU. The encoder dominates; other processes on the machine slow it.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from socm.analyses.mine import read_mine_run, run_mine
from socm.encode import Encoder, text_key
from socm.measure import DEFAULT_MODEL, MeasureConfig

COLUMNS = ("cosine", "d_mu", "d_sigma", "socm", "relative_d_sigma")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def fill_float16(root: Path, texts: list[str], batch_size: int) -> tuple[Encoder, Encoder, float]:
    """Copy the float32 cache into a float16 one; (float32 encoder, float16 encoder, seconds)."""
    e32 = Encoder(DEFAULT_MODEL, cache_dir=root, device="cpu", batch_size=batch_size)
    e16 = Encoder(
        DEFAULT_MODEL, cache_dir=root, device="cpu", batch_size=batch_size, cache_dtype="float16"
    )
    t0 = time.perf_counter()
    keys = [text_key(t) for t in texts]
    for s in range(0, len(keys), 4096):
        block = keys[s : s + 4096]
        arrays = e32.cache.get_many(block)
        e16.cache.put_many(
            [(k, a.astype(np.float16), "<f2") for k, a in zip(block, arrays, strict=True)]
        )
    return e32, e16, time.perf_counter() - t0


def show_timings(label: str, summary: dict) -> None:
    t = summary["timings"]
    core = t["encode_s"] + t["model_load_s"] + t["stats_s"] + t["neighbors_s"] + t["scoring_s"]
    print(
        f"{label}: model load {t['model_load_s']:.1f} s, encode {t['encode_s']:.1f} s "
        f"({t['n_encoded']:,} encoded, {t['n_cached']:,} cached), statistics {t['stats_s']:.1f} s, "
        f"neighbours {t['neighbors_s']:.1f} s, scoring {t['scoring_s']:.1f} s, ranking "
        f"{t['ranking_s']:.1f} s, writing {t['write_s']:.1f} s; encode+neighbours+scoring "
        f"{core:.1f} s ({core / 60:.1f} min), total {t['total_s']:.1f} s "
        f"({t['total_s'] / 60:.1f} min)",
        flush=True,
    )


def compare(run32: Path, run16: Path, rank_by: str, top: int = 100) -> None:
    """float16 vs float32 runs: shared candidates, top-list agreement, largest changes."""
    _, a, _ = read_mine_run(run32)
    _, b, _ = read_mine_run(run16)
    ka = list(zip(a["text1_id"].to_pylist(), a["text2_id"].to_pylist(), strict=True))
    kb = list(zip(b["text1_id"].to_pylist(), b["text2_id"].to_pylist(), strict=True))
    pos_b = {k: r for r, k in enumerate(kb)}
    shared = [(r, pos_b[k]) for r, k in enumerate(ka) if k in pos_b]
    ra = np.array([r for r, _ in shared])
    rb = np.array([r for _, r in shared])
    print(
        f"float16 vs float32: {len(ka):,} / {len(kb):,} candidate pairs, {len(shared):,} shared "
        f"({len(set(ka) ^ set(kb)):,} in one run only); top {top} by {rank_by}: "
        f"{len(set(ka[:top]) & set(kb[:top]))} pairs in both, same order: {ka[:top] == kb[:top]}"
    )
    for col in COLUMNS:
        d = np.abs(np.asarray(a[col])[ra] - np.asarray(b[col])[rb])
        print(f"  {col:>16}: max |float16 - float32| {d.max():.2e}, mean {d.mean():.2e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="wikipedia")
    ap.add_argument("--n-texts", default="all")
    ap.add_argument("--neighbors", type=int, default=10)
    ap.add_argument("--top-k", type=int, default=None, help="None: keep every candidate")
    ap.add_argument("--rank-by", default="relative_d_sigma")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--cache-dir", help="cache root (None: a fresh temporary folder)")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args()
    n_texts = args.n_texts if args.n_texts == "all" else int(args.n_texts)

    with tempfile.TemporaryDirectory(prefix="bench-mine-") as tmp:
        root = Path(args.cache_dir or f"{tmp}/cache")
        base = MeasureConfig(
            corpus=args.corpus,
            n_texts=n_texts,
            batch_size=args.batch_size,
            device="cpu",
            cache_dir=str(root),
            progress=args.progress,
        )
        opts = dict(neighbors=args.neighbors, top_k=args.top_k, rank_by=args.rank_by)
        print(
            f"socm mine: {DEFAULT_MODEL}, corpus {args.corpus}, n_texts {args.n_texts}, "
            f"neighbors {args.neighbors}, rank_by {args.rank_by}, batch size {args.batch_size}, "
            f"torch threads {torch.get_num_threads()}",
            flush=True,
        )
        s32, run32 = run_mine(MeasureConfig(**{**vars(base), "out": f"{tmp}/run32"}), **opts)
        peak_first = peak_rss_gb()
        print(
            f"{s32['n_texts']:,} texts, {s32['n_candidates']:,} candidate pairs "
            f"({s32['neighbor_info']['method']} search, {s32['neighbor_info'].get('block_dtype')} "
            f"blocks), {s32['n_truncated']} truncated"
        )
        show_timings("float32 run (fresh cache)", s32)
        print(f"peak RSS after the first run: {peak_first:.2f} GB", flush=True)
        for p in s32["top_pairs"][:5]:
            print(
                f"  #{p['rank']} cos {p['cosine']:.3f} rel_d_sigma {p['relative_d_sigma']:.3f} "
                f"SOCM {p['socm']:.3f}: {p['text1'][:70]!r} | {p['text2'][:70]!r}"
            )

        texts = pq.read_table(run32 / "texts.parquet", columns=["text"])["text"].to_pylist()
        e32, e16, fill_s = fill_float16(root, texts, args.batch_size)
        u32, u16, prof = e32.cache.usage(), e16.cache.usage(), e32.profile_cache.usage()
        print(
            f"cache float32: {u32.n_entries:,} entries in {u32.n_files} files, "
            f"{u32.n_bytes / 1e9:.3f} GB; float16: {u16.n_entries:,} entries in {u16.n_files} "
            f"files, {u16.n_bytes / 1e9:.3f} GB ({u16.n_bytes / u32.n_bytes:.1%}; filled from "
            f"float32 in {fill_s:.1f} s); per-layer profiles: {prof.n_files} files, "
            f"{prof.n_bytes / 1e6:.1f} MB (the old format: one file per text and kind, "
            f"{u32.n_entries + prof.n_entries:,} files)",
            flush=True,
        )
        s16, run16 = run_mine(
            MeasureConfig(**{**vars(base), "out": f"{tmp}/run16"}), **opts, cache_dtype="float16"
        )
        show_timings("float16 run (every text cached)", s16)
        compare(run32, run16, args.rank_by)
        print(f"peak RSS of the process: {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
