"""Benchmark the Ray backend against the local backend: ``socm measure``, all pairs of 1,000
seed-0 sentences of wiki1m-head with all-MiniLM-L6-v2, on a two-node Ray cluster started on
this machine (``ray.cluster_utils.Cluster``, one CPU per node by default).

With ``--mine``: ``socm mine`` instead, over the first ``--n`` lines of wiki1m-head (10
neighbours, every candidate kept), the candidates scored as listed pairs by Ray tasks.

Both backends read the same warm token-embedding cache (filled by an untimed local run first),
so the encode stage is comparable: for Ray it is the actor pool's start-up (one process per
node that imports socm and builds its encoder) plus reading the cache and reducing the texts
to statistics; for local it is the same reading and reducing in this process. Prints the
stage times of each backend, the cluster's start-up time, and the largest difference between
the two runs' values (measure: pairs; mine: candidates, which must be the same pairs in the
same ranking).

    HF_HUB_OFFLINE=1 python benchmarks/bench_ray.py [--n 1000] [--nodes 2] [--cpus-per-node 1]
    HF_HUB_OFFLINE=1 python benchmarks/bench_ray.py --mine --n 10000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from common import WIKI_HEAD

from socm.analyses.mine import read_mine_run, run_mine
from socm.measure import DEFAULT_MODEL, MeasureConfig, run_measure
from socm.measure.rundir import pairs_dataset

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def timed_run(cfg: MeasureConfig) -> tuple[dict, float, object]:
    """(summary, wall seconds, run folder) of one measure run."""
    t0 = time.perf_counter()
    summary, out = run_measure(cfg)
    return summary, time.perf_counter() - t0, out


def by_pair(path: Path) -> dict:
    """A run's pairs (a file, or a Ray run's folder of parts in tile order), sorted by pair."""
    t = pairs_dataset(path).to_table().to_pydict()
    order = sorted(range(len(t["socm"])), key=lambda k: (t["text1_id"][k], t["text2_id"][k]))
    return {c: [v[k] for k in order] for c, v in t.items()}


def line(name: str, summary: dict, wall: float) -> str:
    t = summary["timings"]
    return (
        f"{name:<28} encode {t['encode_s']:7.2f} s   pairs {t['pairs_s']:7.2f} s   "
        f"total {wall:7.2f} s   ({t['n_cached']} cached, {t['n_encoded']} encoded)"
    )


@contextlib.contextmanager
def two_node_cluster(
    nodes: int, cpus_per_node: int, store_mb: int = 200
) -> Iterator[tuple[str, float]]:
    """A local Ray cluster of ``nodes`` nodes with ``store_mb`` of object store each:
    (address, start-up seconds); shut down after."""
    import ray
    from ray.cluster_utils import Cluster

    t0 = time.perf_counter()
    store = store_mb << 20
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": cpus_per_node,
            "object_store_memory": store,
            "include_dashboard": False,
        },
    )
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=cpus_per_node, object_store_memory=store)
        cluster.wait_for_nodes()
        yield cluster.address, time.perf_counter() - t0
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()


def bench_measure(args: argparse.Namespace) -> None:
    """All pairs of ``args.n`` sampled texts, local (cold, warm) and on the cluster."""
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
        cluster = two_node_cluster(args.nodes, args.cpus_per_node, args.store_mb)
        with cluster as (address, start_s):
            cfg = MeasureConfig(**base, out=f"{tmp}/ray", backend="ray", ray_address=address)
            remote, ray_wall, ray_out = timed_run(cfg)

        a, b = (by_pair(Path(out) / "pairs.parquet") for out in (local_out, ray_out))
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


def mine_line(name: str, summary: dict, wall: float) -> str:
    """One line of ``socm mine`` stage times."""
    t = summary["timings"]
    encode = t["encode_s"] + t["model_load_s"] + t["stats_s"]
    return (
        f"{name:<28} encode {encode:7.2f} s   neighbours {t['neighbors_s']:6.2f} s   "
        f"scoring {t['scoring_s']:7.2f} s   total {wall:7.2f} s   "
        f"({t['n_cached']} cached, {t['n_encoded']} encoded)"
    )


def bench_mine(args: argparse.Namespace) -> None:
    """``socm mine`` over the first ``args.n`` lines, local (cold, warm) and on the cluster."""
    opts = {"neighbors": args.neighbors, "top_k": None, "rank_by": "relative_d_sigma"}
    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(args.corpus).read_text(encoding="utf-8").splitlines()[: args.n]
        corpus = Path(tmp) / f"head{args.n}.txt"
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
        base = dict(
            model=DEFAULT_MODEL,
            corpus=str(corpus),
            n_texts="all",
            device="cpu",
            cache_dir=f"{tmp}/cache",
            progress=False,
            batch_size=args.batch_size,
        )

        def timed(cfg: MeasureConfig) -> tuple[dict, float, Path]:
            t0 = time.perf_counter()
            summary, out = run_mine(cfg, **opts)
            return summary, time.perf_counter() - t0, out

        fill, fill_wall, _ = timed(MeasureConfig(**base, out=f"{tmp}/fill"))
        local, local_wall, local_out = timed(MeasureConfig(**base, out=f"{tmp}/local"))
        cluster = two_node_cluster(args.nodes, args.cpus_per_node, args.store_mb)
        with cluster as (address, start_s):
            cfg = MeasureConfig(**base, out=f"{tmp}/ray", backend="ray", ray_address=address)
            remote, ray_wall, ray_out = timed(cfg)
        a = read_mine_run(local_out)[1].to_pydict()
        b = read_mine_run(ray_out)[1].to_pydict()
        same = all(a[c] == b[c] for c in ("text1_id", "text2_id", "rank"))
        cols = ("cosine", "d_mu", "d_sigma", "socm", "relative_d_sigma")
        diff = max(float(np.max(np.abs(np.subtract(a[c], b[c])))) for c in cols)

    cpus = os.cpu_count()
    print(
        f"socm mine, {local['n_texts']:,} texts, {args.neighbors} neighbours, "
        f"{local['n_candidates']:,} candidate pairs, {DEFAULT_MODEL}, {cpus} CPU cores"
    )
    print(mine_line("local (cold cache, fill)", fill, fill_wall))
    print(mine_line("local (warm cache)", local, local_wall))
    info = remote["backend"]
    print(mine_line(f"ray ({info['nodes']} nodes x {args.cpus_per_node} CPU)", remote, ray_wall))
    print(
        f"ray: cluster start {start_s:.2f} s (not in the totals); {info['encode_actors']} "
        f"encode actors, {info['score_tasks']} scoring tasks"
    )
    rt, lt = remote["timings"], local["timings"]
    print(
        f"overhead vs local: scoring x{rt['scoring_s'] / max(lt['scoring_s'], 1e-9):.2f}, "
        f"total +{ray_wall - local_wall:.2f} s"
    )
    print(
        f"same candidates in the same ranking: {same}; largest |difference| of cosine, d_mu, "
        f"d_sigma, SOCM, relative d_sigma: {diff:.2e}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--cpus-per-node", type=int, default=1)
    ap.add_argument("--corpus", default=str(WIKI_HEAD))
    ap.add_argument("--mine", action="store_true", help="socm mine instead of socm measure")
    ap.add_argument("--neighbors", type=int, default=10, help="--mine: neighbours per text")
    ap.add_argument("--batch-size", type=int, default=128, help="--mine: encoder batch size")
    ap.add_argument(
        "--store-mb",
        type=int,
        default=200,
        help="object store per node (MB); every text's statistics go there once",
    )
    args = ap.parse_args()
    if args.mine:
        bench_mine(args)
    else:
        bench_measure(args)


if __name__ == "__main__":
    main()
