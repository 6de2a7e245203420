"""Peak memory and time of ``socm measure`` over all pairs of many texts (issue 11).

Each size runs in a fresh process (peak RSS = the whole process, model included):

    HF_HUB_OFFLINE=1 python benchmarks/bench_scale.py --n 5000 [--corpus PATH|wikipedia]
    HF_HUB_OFFLINE=1 python benchmarks/bench_scale.py --n 20000 --corpus wikipedia \\
        --no-pairs-file --stop-after 600

``--stop-after S`` stops the pair scoring after S seconds (the memory is flat once the factor
bank is built, so the peak is reached early) and prints the share of pairs done and the
extrapolated total. RSS is sampled every second during the run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time

from common import WIKI_HEAD


def child(args: argparse.Namespace) -> None:
    import socm.backends.local as local
    from socm.measure import MeasureConfig, run_measure

    samples: list[tuple[float, float]] = []
    t0 = time.perf_counter()

    def watch() -> None:
        while True:
            with open("/proc/self/status") as f:
                rss = next(int(x.split()[1]) for x in f if x.startswith("VmRSS"))
            samples.append((time.perf_counter() - t0, rss / 1024))
            time.sleep(1)

    threading.Thread(target=watch, daemon=True).start()
    if args.stop_after:
        original = local.iter_pairwise

        def limited(*a, **k):
            start = time.perf_counter()
            for tile in original(*a, **k):
                yield tile
                if time.perf_counter() - start > args.stop_after:
                    return

        local.iter_pairwise = limited
    with tempfile.TemporaryDirectory() as tmp:
        cfg = MeasureConfig(
            corpus=args.corpus,
            n_texts=args.n,
            out=f"{tmp}/run",
            cache_dir=args.cache_dir or f"{tmp}/cache",
            device="cpu",
            progress=False,
            no_pairs_file=args.no_pairs_file,
        )
        summary, out = run_measure(cfg)
        size = sum(p.stat().st_size for p in out.iterdir())
    total_pairs = args.n * (args.n - 1) // 2
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = summary["timings"]
    done = summary["n_pairs"] / total_pairs
    print(
        json.dumps(
            {
                "n_texts": args.n,
                "pairs_scored": summary["n_pairs"],
                "pairs_total": total_pairs,
                "share_done": round(done, 4),
                "encode_s": t["encode_s"],
                "pairs_s": t["pairs_s"],
                "pairs_per_s": round(summary["n_pairs"] / max(t["pairs_s"], 1e-9)),
                "pairs_s_extrapolated": round(t["pairs_s"] / done, 1),
                "total_s": t["total_s"],
                "peak_rss_mb": round(peak),
                "rss_mb_by_minute": [round(r) for s, r in samples if int(s) % 60 == 0],
                "run_folder_mb": round(size / 2**20, 1),
                "avg_socm": summary["avg_socm"],
                "avg_socm_ci95": summary["avg_socm_ci95"],
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[5000])
    ap.add_argument("--corpus", default=str(WIKI_HEAD))
    ap.add_argument("--cache-dir")
    ap.add_argument("--no-pairs-file", action="store_true")
    ap.add_argument("--stop-after", type=float, default=0)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.n = args.n[0]
        child(args)
        return
    for n in args.n:
        cmd = [sys.executable, __file__, "--child", "--n", str(n), "--corpus", args.corpus]
        if args.cache_dir:
            cmd += ["--cache-dir", args.cache_dir]
        if args.no_pairs_file:
            cmd.append("--no-pairs-file")
        if args.stop_after:
            cmd += ["--stop-after", str(args.stop_after)]
        print(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
