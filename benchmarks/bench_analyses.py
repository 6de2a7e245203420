"""Time ``socm layers`` and ``socm mechanism`` and print their per-layer figures.

    HF_HUB_OFFLINE=1 python benchmarks/bench_analyses.py [--model M] [--n 1000]

Runs on N seed-0 sentences of wiki1m-head: layers with a cold cache, measure, layers again
(served by the cache measure filled), then mechanism.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import WIKI_HEAD

from socm.analyses.layers import format_layer_table, run_layers
from socm.analyses.mechanism import format_mechanism_table, run_mechanism
from socm.measure import DEFAULT_MODEL, MeasureConfig, run_measure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--corpus", default=str(WIKI_HEAD))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = MeasureConfig(
            model=args.model,
            corpus=args.corpus,
            n_texts=args.n,
            cache_dir=f"{tmp}/cache",
            out=f"{tmp}/run",
            progress=False,
            device="cpu",
        )
        t0 = time.perf_counter()
        layers, _ = run_layers(cfg)
        cold = time.perf_counter() - t0
        cfg2 = MeasureConfig(**{**cfg.__dict__, "cache_dir": f"{tmp}/cache2"})
        summary, _ = run_measure(cfg2)
        t0 = time.perf_counter()
        run_layers(cfg2)
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        mech, _ = run_mechanism(cfg)
        mech_s = time.perf_counter() - t0
    print(f"model {args.model}, {args.n} texts of {Path(args.corpus).name}")
    print(
        f"socm layers: {cold:.1f} s cold, {warm:.1f} s after socm measure (cache); "
        f"socm mechanism: {mech_s:.1f} s; measure avg SOCM {summary['avg_socm']:.5f}"
    )
    print(format_layer_table(layers))
    print(format_mechanism_table(mech))


if __name__ == "__main__":
    main()
