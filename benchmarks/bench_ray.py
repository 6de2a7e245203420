"""Benchmark the Ray backend against the local backend: ``socm measure``, all pairs of 1,000
seed-0 sentences of wiki1m-head with all-MiniLM-L6-v2, on a two-node Ray cluster started on
this machine (``ray.cluster_utils.Cluster``, one CPU per node by default).

Both backends read the same warm token-embedding cache (filled by an untimed local run first),
so the encode stage is comparable: for Ray it is the actor pool's start-up (one process per
node that imports socm and builds its encoder) plus reading the cache and reducing the texts
to statistics; for local it is the same reading and reducing in this process. Prints the
encode and pair times of each backend, the cluster's start-up time, and the largest
difference between the two runs' pair values.

    HF_HUB_OFFLINE=1 python benchmarks/bench_ray.py [--n 1000] [--nodes 2] [--cpus-per-node 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import pyarrow.parquet as pq
from common import WIKI_HEAD

from socm.measure import DEFAULT_MODEL, MeasureConfig, run_measure

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def timed_run(cfg: MeasureConfig) -> tuple[dict, float, object]:
    """(summary, wall seconds, run folder) of one measure run."""
    t0 = time.perf_counter()
    summary, out = run_measure(cfg)
    return summary, time.perf_counter() - t0, out


def line(name: str, summary: dict, wall: float) -> str:
    t = summary["timings"]
    return (
        f"{name:<28} encode {t['encode_s']:7.2f} s   pairs {t['pairs_s']:7.2f} s   "
        f"total {wall:7.2f} s   ({t['n_cached']} cached, {t['n_encoded']} encoded)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--cpus-per-node", type=int, default=1)
    ap.add_argument("--corpus", default=str(WIKI_HEAD))
    args = ap.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    with tempfile.TemporaryDirectory() as tmp:
        base = dict(
            model=DEFAULT_MODEL,
            corpus=args.corpus,
            n_texts=args.n,
            device="cpu",
            cache_dir=f"{tmp}/cache",
            progress=False,
        )
        fill, fill_wall, _ = timed_run(MeasureConfig(**base, out=f"{tmp}/fill"))
        local, local_wall, local_out = timed_run(MeasureConfig(**base, out=f"{tmp}/local"))

        t0 = time.perf_counter()
        store = 200 << 20
        cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": args.cpus_per_node,
                "object_store_memory": store,
                "include_dashboard": False,
            },
        )
        try:
            for _ in range(args.nodes - 1):
                cluster.add_node(num_cpus=args.cpus_per_node, object_store_memory=store)
            cluster.wait_for_nodes()
            start_s = time.perf_counter() - t0
            cfg = MeasureConfig(
                **base, out=f"{tmp}/ray", backend="ray", ray_address=cluster.address
            )
            remote, ray_wall, ray_out = timed_run(cfg)
        finally:
            if ray.is_initialized():
                ray.shutdown()
            cluster.shutdown()

        a = pq.read_table(f"{local_out}/pairs.parquet").to_pydict()
        b = pq.read_table(f"{ray_out}/pairs.parquet").to_pydict()
        same_pairs = a["text1_id"] == b["text1_id"] and a["text2_id"] == b["text2_id"]
        diff = max(
            float(np.max(np.abs(np.subtract(a[c], b[c])))) for c in ("d_mu", "d_sigma", "socm")
        )

    n_pairs = local["n_pairs"]
    cpus = os.cpu_count()
    print(f"socm measure, {args.n} texts, {n_pairs:,} pairs, {DEFAULT_MODEL}, {cpus} CPU cores")
    print(line("local (cold cache, fill)", fill, fill_wall))
    print(line("local (warm cache)", local, local_wall))
    info = remote["backend"]
    name = f"ray ({info['nodes']} nodes x {args.cpus_per_node} CPU)"
    print(line(name, remote, ray_wall))
    print(
        f"ray: cluster start {start_s:.2f} s (not in the totals); {info['encode_actors']} "
        f"encode actors, {info['score_tasks']} scoring tasks"
    )
    rt, lt = remote["timings"], local["timings"]
    ratio = rt["pairs_s"] / max(lt["pairs_s"], 1e-9)
    print(
        f"overhead vs local: encode +{rt['encode_s'] - lt['encode_s']:.2f} s, "
        f"pairs x{ratio:.2f}, total +{ray_wall - local_wall:.2f} s"
    )
    print(
        f"same pairs: {same_pairs}; largest |difference| of d_mu, d_sigma, SOCM: {diff:.2e}; "
        f"avg SOCM local {local['avg_socm']:.8f}, ray {remote['avg_socm']:.8f}"
    )


if __name__ == "__main__":
    main()
