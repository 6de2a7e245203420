"""The Ray backend on a real two-node Ray cluster on this machine: results equal the local
backend's (a measure run and a mine run through the command line; listed pairs, in order), a
worker killed mid-run is retried by Ray, and failures are one-line errors.

The cluster (a head and one more node, one CPU each) is started once for the module and shut
down at its end; every run connects to it by address like ``socm measure --ray-address``.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import random_tokens, run_config

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'socm[ray]')")
pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'socm[ray]')")

import socm.backends.ray as ray_backend  # noqa: E402 - after the skip
import socm.backends.ray.scoring as ray_scoring  # noqa: E402
from socm.analyses.mine import read_mine_run, run_mine  # noqa: E402
from socm.backends import get_backend  # noqa: E402
from socm.backends.ray import EncodeActor  # noqa: E402
from socm.cli import main  # noqa: E402
from socm.core.pairs import ScoreOptions, pairwise  # noqa: E402
from socm.core.stats import token_stats  # noqa: E402
from socm.errors import SocmError  # noqa: E402
from socm.measure import run_measure  # noqa: E402
from socm.measure.rundir import pairs_dataset  # noqa: E402

N_TEXTS = 30
N_MINE = 60
STORE = 100 << 20  # object store per node (the minimum Ray accepts is about 75 MB)


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": STORE, "include_dashboard": False},
    )
    try:
        c.add_node(num_cpus=1, object_store_memory=STORE)
        c.wait_for_nodes()
        yield c.address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


@pytest.fixture(scope="module")
def shared(wiki_head, tmp_path_factory):
    """A folder with ``head30.txt`` and ``head60.txt``: the wiki1m head's first lines."""
    folder = tmp_path_factory.mktemp("ray-shared")
    lines = wiki_head.read_text(encoding="utf-8").splitlines()
    for n in (N_TEXTS, N_MINE):
        (folder / f"head{n}.txt").write_text("\n".join(lines[:n]) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def small_tiles(monkeypatch):
    """Blocks of 8 texts and chunks of 100 listed pairs: several tiles even for 30 texts."""
    monkeypatch.setattr(ray_scoring, "MIN_BLOCK_TEXTS", 8)
    monkeypatch.setattr(ray_scoring, "SCORE_BLOCK_TEXTS", 8)
    monkeypatch.setattr(ray_scoring, "MIN_LISTED_CHUNK", 100)


def pairs_table(run, by_pair: bool = False) -> dict:
    """A run's pairs (a file, or a Ray run's folder of parts), optionally sorted by pair."""
    table = pairs_dataset(run / "pairs.parquet").to_table().to_pydict()
    if by_pair:
        order = sorted(
            range(len(table["socm"])), key=lambda k: (table["text1_id"][k], table["text2_id"][k])
        )
        table = {c: [v[k] for k in order] for c, v in table.items()}
    return table


def assert_same_run(local: tuple, remote: tuple, by_pair: bool = False) -> None:
    """Same pairs (in the same order, or the same set with ``by_pair``), each pair within
    1e-5, the summary's averages and intervals within 1e-6, the same quantiles."""
    (s1, o1), (s2, o2) = local, remote
    a, b = pairs_table(o1, by_pair), pairs_table(o2, by_pair)
    assert a["text1_id"] == b["text1_id"] and a["text2_id"] == b["text2_id"]
    assert a.get("label") == b.get("label")
    for col in ("d_mu", "d_sigma", "socm"):
        np.testing.assert_allclose(a[col], b[col], rtol=0, atol=1e-5)
    assert s1["n_pairs"] == s2["n_pairs"]
    assert s1["n_d_sigma_over_1"] == s2["n_d_sigma_over_1"]
    assert s1["socm_quantiles_exact"] == s2["socm_quantiles_exact"]
    for key in ("avg_socm", "avg_d_mu", "avg_d_sigma", "avg_normalized_spread"):
        assert s2[key] == pytest.approx(s1[key], abs=1e-6), key
    for q, value in s1["socm_quantiles"].items():
        assert s2["socm_quantiles"][q] == pytest.approx(value, abs=1e-6), q
    for key in ("avg_socm_ci95", "avg_d_mu_ci95"):
        if s1.get(key) is not None:
            np.testing.assert_allclose(s2[key], s1[key], rtol=0, atol=1e-6, err_msg=key)


def test_measure_on_ray_equals_local_and_survives_a_killed_worker(
    cluster, shared, tmp_path, small_tiles, monkeypatch, capsys
):
    corpus = shared / "head30.txt"
    local_cache = str(tmp_path / "local-cache")
    local = run_measure(
        run_config(corpus, tmp_path, n_texts="all", cache_dir=local_cache, out=str(tmp_path / "a"))
    )
    marker = tmp_path / "crashed-once"
    monkeypatch.setenv(ray_backend.FAULT_ENV, f"once:{marker}")
    ray_cache = str(tmp_path / "ray-cache")  # cold: the actors encode and fill it
    args = ["measure", "--corpus", str(corpus), "--n-texts", "all", "--device", "cpu"]
    args += ["--cache-dir", ray_cache, "--out", str(tmp_path / "ray"), "--quiet", "--json"]
    assert main([*args, "--backend", "ray", "--backend-address", cluster]) == 0
    summary = json.loads(capsys.readouterr().out)  # stdout holds only the JSON
    assert marker.exists()  # a worker died on its first scoring task; Ray retried the task
    remote = (summary, tmp_path / "ray")
    assert_same_run(local, remote, by_pair=True)
    parts = sorted(p.name for p in (tmp_path / "ray" / "pairs.parquet").iterdir())
    assert parts == [f"part-{k:06d}.parquet" for k in range(10)]  # one per task, no stray
    assert summary["n_pairs"] == N_TEXTS * (N_TEXTS - 1) // 2
    assert summary["timings"]["n_encoded"] == N_TEXTS
    assert summary["backend"]["nodes"] == 2 and summary["backend"]["encode_actors"] == 2
    assert summary["backend"]["score_tasks"] == 10  # 4 blocks of <= 8 texts: 4 + 6 tiles
    assert summary["config"]["backend"] == "ray"
    texts = [json.loads(x) for x in (remote[1] / "texts.jsonl").read_text().splitlines()]
    ref = [json.loads(x) for x in (local[1] / "texts.jsonl").read_text().splitlines()]
    assert [t["id"] for t in texts] == [t["id"] for t in ref]  # corpus order
    assert [t["n_tokens"] for t in texts] == [t["n_tokens"] for t in ref]
    # the cache the actors wrote serves a local rerun: nothing is encoded again
    again = run_measure(
        run_config(corpus, tmp_path, n_texts="all", cache_dir=ray_cache, out=str(tmp_path / "b"))
    )
    assert again[0]["timings"]["n_encoded"] == 0
    assert_same_run(again, remote, by_pair=True)


def test_windows_on_ray_equal_local(cluster, shared, tmp_path, small_tiles):
    """--long-texts window with a 16-token limit: most texts run in several windows, on the
    cluster's actors as here."""
    base = run_config(
        shared / "head30.txt", tmp_path, n_texts="all", max_length=16, long_texts="window"
    )
    local = run_measure(replace(base, out=str(tmp_path / "a")))
    remote = run_measure(
        replace(base, out=str(tmp_path / "ray"), backend="ray", backend_address=cluster)
    )
    assert_same_run(local, remote, by_pair=True)
    rows = [
        [json.loads(x) for x in (run / "texts.jsonl").read_text().splitlines()]
        for run in (local[1], remote[1])
    ]
    assert [r["n_windows"] for r in rows[0]] == [r["n_windows"] for r in rows[1]]
    assert [r["n_tokens"] for r in rows[0]] == [r["n_tokens"] for r in rows[1]]
    assert local[0]["n_windowed"] == remote[0]["n_windowed"] > N_TEXTS // 2


def test_mine_on_ray_equals_local(cluster, shared, tmp_path, small_tiles, capsys):
    """``socm mine --backend ray``: the same candidates, ranking and values as a local run.

    Both read one warm cache (a cold one would let float32 batch noise flip near-tied
    neighbours), so the actors only read and reduce; the candidates are scored as listed
    pairs in several Ray tasks (chunks of 100 pairs)."""
    corpus, cache = shared / f"head{N_MINE}.txt", str(tmp_path / "cache")
    opts = {"neighbors": 5, "top_k": None, "rank_by": "relative_d_sigma", "max_per_text": None}
    local_cfg = run_config(corpus, tmp_path, cache_dir=cache, out=str(tmp_path / "local"))
    local, local_out = run_mine(local_cfg, **opts)
    args = ["mine", "--corpus", str(corpus), "--device", "cpu", "--cache-dir", cache, "--quiet"]
    args += ["--out", str(tmp_path / "ray"), "--neighbors", "5", "--top-k", "all", "--json"]
    args += ["--rank-by", "relative_d_sigma", "--backend", "ray", "--backend-address", cluster]
    assert main(args) == 0
    remote = json.loads(capsys.readouterr().out)  # stdout holds only the JSON
    # every searched text from the cache (the fragments of the 60 lines are left out)
    n = local["n_texts"]
    assert n + local["n_fragments_excluded"] + local["n_duplicates_excluded"] == N_MINE
    assert remote["timings"]["n_encoded"] == 0 and remote["timings"]["n_cached"] == n
    info = remote["backend"]
    assert info["name"] == "ray" and info["nodes"] == 2 and info["encode_actors"] == 2
    assert info["score_tasks"] == -(-local["n_candidates"] // 100) > 1
    assert local["backend"] == {"name": "local"} and remote["config"]["backend"] == "ray"
    assert remote["n_candidates"] == local["n_candidates"] and remote["n_kept"] == local["n_kept"]
    _, cand_a, texts_a = read_mine_run(local_out)
    _, cand_b, texts_b = read_mine_run(tmp_path / "ray")
    a, b = cand_a.to_pydict(), cand_b.to_pydict()
    for col in ("text1_id", "text2_id", "rank"):  # the same pairs in the same ranking
        assert a[col] == b[col], col
    for col in ("cosine", "d_mu", "d_sigma", "socm", "relative_d_sigma"):
        np.testing.assert_allclose(b[col], a[col], rtol=0, atol=1e-5, err_msg=col)
    ta, tb = texts_a.to_pydict(), texts_b.to_pydict()
    for col in ("id", "n_tokens", "truncated", "n_candidates", "n_mined"):
        assert ta[col] == tb[col], col
    for col in ("normalized_spread", "neighbor_mean_cosine", "neighbor_mean_relative_d_sigma"):
        np.testing.assert_allclose(tb[col], ta[col], rtol=0, atol=1e-5, err_msg=col)


def test_listed_pairs_in_order_then_a_task_failing_after_its_retries(
    cluster, small_tiles, monkeypatch
):
    rng = np.random.default_rng(1)
    tokens = [random_tokens(rng, int(rng.integers(2, 12)), 16) for _ in range(40)]
    pairs = rng.integers(0, 40, (300, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]  # both orientations, some listed twice
    ref = pairwise(tokens, pairs, numerics="paper")  # asymmetric: the order matters
    ids = [f"t{k}" for k in range(40)]
    with get_backend("ray", cluster) as backend:
        stats = [token_stats(t) for t in tokens]
        tiles = list(backend.score(stats, pairs, ScoreOptions("paper", "cpu", ids=ids)))
        assert len(tiles) == 3 and all(s is None for s in stats)  # consumed into the store
        for f in ("i", "j", "d_mu", "d_sigma", "socm"):
            got = np.concatenate([getattr(t, f) for t in tiles])
            np.testing.assert_allclose(got, getattr(ref, f), rtol=0, atol=1e-12)
        monkeypatch.setattr(ray_scoring, "MAX_RETRIES", 0)
        monkeypatch.setenv(ray_backend.FAULT_ENV, "crash")
        stats = [token_stats(t) for t in tokens]
        with pytest.raises(SocmError) as info:
            list(backend.score(stats, None, ScoreOptions("exact", "cpu", ids=ids)))
    msg = str(info.value)
    assert "\n" not in msg and "after 0 retries" in msg
    assert "pair scoring failed on tile (0, 0)" in msg and "texts 0-7 ('t0' ... 't7')" in msg
    assert not ray.is_initialized()  # the backend disconnected; the cluster is still up


def test_an_encode_actor_reports_user_errors_instead_of_raising(tmp_path):
    """Raised in its constructor, an error would make Ray Data restart the actor forever."""
    cfg = run_config("c.txt", tmp_path, model=str(tmp_path / "no-such-model"))
    actor = EncodeActor(cfg.encoder_spec(), "cpu")
    batch = {"pos": np.arange(2), "text": np.array(["a", "b"]), "id": np.array(["x", "y"])}
    out = actor(batch)
    assert out["pos"].tolist() == [0, 1] and len(out["error"]) == 2
    assert out["error"][0].startswith("SocmError: ") and "no-such-model" in out["error"][0]


def test_an_unreachable_address_is_one_line(tmp_path, wiki_head, capsys):
    cfg = run_config(wiki_head, tmp_path, n_texts=4, backend="ray", backend_address="127.0.0.1:1")
    with pytest.raises(SocmError, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:1"):
        run_measure(cfg)
    assert not (tmp_path / "run").exists()
    args = ["measure", "--corpus", str(wiki_head), "--n-texts", "4", "--quiet"]
    args += ["--out", str(tmp_path / "r"), "--backend", "ray", "--ray-address", "127.0.0.1:1"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("socm: ") and "cannot reach the Ray cluster" in err
    assert len(err.splitlines()) == 1


def test_statistics_stay_in_the_object_store(cluster, shared, tmp_path, small_tiles):
    """encode_stats on Ray hands back references to blocks of statistics, not the statistics:
    only traces and ranks are here, and the means come when asked, equal to a local run's."""
    from socm.backends import LocalBackend
    from socm.backends.ray import RemoteStats
    from socm.measure.select import prepare

    cfg = run_config(shared / f"head{N_TEXTS}.txt", tmp_path, n_texts="all")
    job = prepare(cfg, "measure", device="cpu")
    local, _ = LocalBackend().encode_stats(job.encoder.spec, job.texts, encoder=job.encoder)
    with get_backend("ray", cluster) as backend:
        held, encoded = backend.encode_stats(job.encoder.spec, job.texts)
        assert isinstance(held, RemoteStats) and len(held) == N_TEXTS
        assert held.n_blocks > 1 and held.starts[-1] == N_TEXTS
        assert not any(
            isinstance(v, (list, tuple)) and v and hasattr(v[0], "factor")
            for v in vars(held).values()
        )
        assert held.ranks.tolist() == local.ranks.tolist()
        np.testing.assert_allclose(held.traces, local.traces, rtol=0, atol=1e-9)
        np.testing.assert_allclose(held.means(), local.means(), rtol=0, atol=1e-9)
        assert encoded.n_tokens == [s.n_tokens for s in local.items]
        tiles = list(backend.score(held, None, ScoreOptions("exact", "cpu")))
    assert sum(len(t) for t in tiles) == N_TEXTS * (N_TEXTS - 1) // 2


def test_a_listed_chunk_receives_only_its_texts(cluster, small_tiles):
    rng = np.random.default_rng(2)
    tokens = [random_tokens(rng, int(rng.integers(2, 12)), 16) for _ in range(40)]
    pairs = np.array([[0, 39], [38, 1], [0, 1], [39, 38]])
    ref = pairwise(tokens, pairs, numerics="paper")
    with get_backend("ray", cluster) as backend:
        stats = [token_stats(t) for t in tokens]  # blocks of 8 texts in the store
        tiles = list(backend.score(stats, pairs, ScoreOptions("paper", "cpu")))
        assert backend.chunk_texts == 4  # texts 0, 1, 38, 39: not their two blocks (16 texts)
    assert len(tiles) == 1
    for f in ("i", "j", "d_mu", "d_sigma", "socm"):
        np.testing.assert_allclose(getattr(tiles[0], f), getattr(ref, f), rtol=0, atol=1e-12)


def test_mine_in_python_on_ray(cluster, small_tiles, monkeypatch):
    """``socm.mine(..., backend="ray")`` (the cluster of RAY_ADDRESS) and with a started
    backend: the same pairs and scores as in this process."""
    from socm import mine

    rng = np.random.default_rng(3)
    tokens = [random_tokens(rng, int(rng.integers(3, 20)), 16, rank=6) for _ in range(50)]
    ref = mine(tokens, neighbors=4, device="cpu")
    monkeypatch.setenv("RAY_ADDRESS", cluster)
    got = mine(tokens, neighbors=4, device="cpu", backend="ray")
    assert not ray.is_initialized()  # mine connected and disconnected
    with get_backend("ray", cluster) as backend:
        again = mine(tokens, neighbors=4, device="cpu", backend=backend)
        assert backend.score_tasks > 1
        # statistics beyond the memory budget: read from the store a block at a time
        stored = mine(tokens, neighbors=4, device="cpu", backend=backend, memory_budget=1)
    for res in (got, again, stored):
        assert res.i.tolist() == ref.i.tolist() and res.j.tolist() == ref.j.tolist()
        for f in ("d_mu", "d_sigma", "socm", "relative_d_sigma"):
            np.testing.assert_allclose(getattr(res, f), getattr(ref, f), rtol=0, atol=1e-12)


def test_listed_pairs_with_labels_written_by_the_tasks(cluster, shared, tmp_path, small_tiles):
    """A pairs file on Ray: the parts hold the listed pairs in the given order with their
    labels, and the per-label sums and intervals merged from the tasks equal a local run's."""
    corpus = shared / f"head{N_TEXTS}.txt"
    rng = np.random.default_rng(4)
    i, j = np.triu_indices(N_TEXTS, 1)
    pick = rng.permutation(len(i))[:260]
    flip = rng.random(260) < 0.5  # either text first (the paper numerics are asymmetric)
    rows = [
        (int(j[p]), int(i[p])) if f else (int(i[p]), int(j[p]))
        for p, f in zip(pick, flip, strict=True)
    ]
    ids = [str(k) for k in range(N_TEXTS)]  # a .txt corpus: line numbers are the ids
    lines = [f"{ids[a]}\t{ids[b]}\t{'pos' if k % 3 else 'neg'}" for k, (a, b) in enumerate(rows)]
    pf = tmp_path / "pairs.tsv"
    pf.write_text("\n".join(lines) + "\n")
    cache = str(tmp_path / "cache")
    kw = {"n_texts": None, "pairs_file": str(pf), "cache_dir": cache}
    local = run_measure(run_config(corpus, tmp_path, out=str(tmp_path / "a"), **kw))
    remote = run_measure(
        run_config(
            corpus, tmp_path, out=str(tmp_path / "b"), backend="ray", backend_address=cluster, **kw
        )
    )
    assert_same_run(local, remote)  # the given order, labels included
    assert remote[0]["backend"]["score_tasks"] == 3  # chunks of 100 listed pairs
    for name, got in remote[0]["by_label"].items():
        ref = local[0]["by_label"][name]
        assert got["n_pairs"] == ref["n_pairs"]
        assert got["avg_socm"] == pytest.approx(ref["avg_socm"], abs=1e-6)
    # a rerun into the same folder locally: the single file replaces the folder of parts
    again = run_measure(run_config(corpus, tmp_path, out=str(tmp_path / "b"), overwrite=True, **kw))
    assert (again[1] / "pairs.parquet").is_file()
    assert_same_run(local, again)


def test_a_registered_pair_column_on_ray(cluster, shared, tmp_path, small_tiles, cosine_column):
    """The workers compute the driver's pair columns (the schema travels with each task): a
    column registered only in this process is in every part and in the merged summary."""
    corpus = shared / f"head{N_TEXTS}.txt"
    kw = {"n_texts": "all", "cache_dir": str(tmp_path / "cache")}
    local = run_measure(run_config(corpus, tmp_path, out=str(tmp_path / "a"), **kw))
    remote = run_measure(
        run_config(
            corpus, tmp_path, out=str(tmp_path / "b"), backend="ray", backend_address=cluster, **kw
        )
    )
    a, b = pairs_table(local[1], by_pair=True), pairs_table(remote[1], by_pair=True)
    assert "cosine" in b and len(b["cosine"]) == N_TEXTS * (N_TEXTS - 1) // 2
    np.testing.assert_allclose(b["cosine"], a["cosine"], rtol=0, atol=1e-12)
    assert remote[0]["avg_cosine"] == pytest.approx(local[0]["avg_cosine"], abs=1e-12)
    np.testing.assert_allclose(remote[0]["avg_cosine_ci95"], local[0]["avg_cosine_ci95"], atol=1e-9)
