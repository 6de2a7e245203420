"""Benchmark ``socm measure`` on 1,000 seed-0 sentences of wiki1m-head with all-MiniLM-L6-v2.

Prints: encode time of the measure job vs a bare ``model(**batch)`` loop over the same
length-sorted batches (and over unsorted batches), pair time, total wall time, peak RSS, and the
wall time of a rerun served from the cache. One untimed bare loop runs first, so that every timed
run sees a warm process (the first forward passes of a process pay one-off start-up costs).

    HF_HUB_OFFLINE=1 python benchmarks/bench_measure.py [--n 1000] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

import torch
from common import WIKI_HEAD

from socm.encode import Encoder
from socm.inputs.corpus import load_corpus, sample
from socm.measure import DEFAULT_MODEL, MeasureConfig, run_measure


def bare_loop(enc: Encoder, texts: list[str], sort: bool) -> float:
    """Seconds for model(**batch) over the batches (tokenisation and padding not timed)."""
    tok = enc.tokenizer(texts, truncation=True, max_length=enc.max_length)
    order = list(range(len(texts)))
    if sort:
        order.sort(key=lambda k: -len(tok["input_ids"][k]))
    batches = []
    for s in range(0, len(order), enc.batch_size):
        feats = [{k: tok[k][i] for k in tok} for i in order[s : s + enc.batch_size]]
        batches.append(enc.tokenizer.pad(feats, return_tensors="pt"))
    model = enc.model
    t0 = time.perf_counter()
    with torch.inference_mode():
        for b in batches:
            model(**b)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--corpus", default=str(WIKI_HEAD))
    args = ap.parse_args()
    texts = sample(load_corpus(args.corpus), args.n, 0).texts
    enc = Encoder(DEFAULT_MODEL, cache_dir=None, device="cpu", batch_size=args.batch_size)
    bare_loop(enc, texts, sort=True)  # warm-up: both timed runs below see a warm process
    with tempfile.TemporaryDirectory() as tmp:
        cfg = MeasureConfig(
            corpus=args.corpus,
            n_texts=args.n,
            batch_size=args.batch_size,
            cache_dir=f"{tmp}/cache",
            out=f"{tmp}/run",
            progress=False,
            device="cpu",
        )
        t0 = time.perf_counter()
        summary, _ = run_measure(cfg)
        wall = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        again, _ = run_measure(cfg)
        rerun = time.perf_counter() - t0
    bare_sorted = bare_loop(enc, texts, sort=True)
    bare_unsorted = bare_loop(enc, texts, sort=False)
    t = summary["timings"]
    print(
        f"model {summary['model']} ({summary['model_source']}), {summary['n_texts']} texts, "
        f"{summary['n_pairs']:,} pairs, torch threads {torch.get_num_threads()}"
    )
    enc_s = t["encode_s"] - t["model_load_s"]
    print(
        f"encode (measure job: tokenisation, batches, cache writes): {enc_s:.2f} s "
        f"(+ model load {t['model_load_s']:.2f} s)"
    )
    print(
        f"bare model(**batch) loop, same length-sorted batches:      {bare_sorted:.2f} s "
        f"-> overhead {100 * (enc_s / bare_sorted - 1):+.1f}%"
    )
    print(f"bare model(**batch) loop, unsorted batches:                {bare_unsorted:.2f} s")
    print(
        f"pairs (stats + engine): {t['pairs_s']:.2f} s; total wall {wall:.2f} s "
        f"(in-job total {t['total_s']:.2f} s); peak RSS {rss:.0f} MB"
    )
    print(
        f"cache-hit rerun: {rerun:.2f} s wall ({again['timings']['n_cached']} texts from "
        f"cache, encode {again['timings']['encode_s']:.2f} s); avg SOCM {summary['avg_socm']:.5f}"
    )


if __name__ == "__main__":
    main()
