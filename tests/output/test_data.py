"""What the figures read: streamed scans equal whole-file computations."""

from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from socm.output import data
from socm.output.data import (
    Limits,
    read_texts,
    scan_pairs,
    shared_limits,
    socm_percentile,
    top_pairs,
)


def whole(run) -> dict:
    t = pq.read_table(run / "pairs.parquet").to_pydict()
    return {k: np.asarray(v) for k, v in t.items()}


def brute_top(cols: dict, k: int, cap: int | None) -> list[tuple[str, str]]:
    order = np.lexsort((np.arange(len(cols["socm"])), -cols["socm"]))
    seen: dict[str, int] = {}
    out = []
    for r in order:
        a, b = cols["text1_id"][r], cols["text2_id"][r]
        if cap is not None and (seen.get(a, 0) >= cap or seen.get(b, 0) >= cap):
            continue
        seen[a] = seen.get(a, 0) + 1
        seen[b] = seen.get(b, 0) + 1
        out.append((a, b))
        if len(out) == k:
            break
    return out


def test_scan_in_small_batches_equals_the_whole_file(runs, monkeypatch):
    run = runs[0]
    cols = whole(run)
    limits = shared_limits([run])
    assert limits.d_sigma >= cols["d_sigma"].max() and limits.d_mu >= cols["d_mu"].max()
    data._SCAN_CACHE.clear()
    monkeypatch.setattr(data, "BATCH_ROWS", 7)  # 91 pairs: 13 batches
    scan = scan_pairs(run, limits)
    n = len(cols["socm"])
    assert scan.n_pairs == n == scan.hist.sum() == scan.mu_hist.sum() == scan.socm_hist.sum()
    assert scan.n_d_sigma_over_1 == int((cols["d_sigma"] > 1).sum())
    assert scan.mean("socm") == pytest.approx(cols["socm"].mean(), rel=1e-12)
    h, _, _ = np.histogram2d(cols["d_sigma"], cols["d_mu"], bins=[scan.sigma_edges, scan.mu_edges])
    assert np.array_equal(h.astype(int), scan.hist)
    # every cell's representative is its highest-SOCM pair, and the counts add up
    assert scan.cells["count"].sum() == n
    g = scan.grid
    for c in range(len(scan.cells["row"])):
        in_cell = (
            np.clip((cols["d_mu"] / limits.d_mu * g).astype(int), 0, g - 1)
            == scan.cells["cell_mu"][c]
        ) & (
            np.clip((cols["d_sigma"] / limits.d_sigma * g).astype(int), 0, g - 1)
            == scan.cells["cell_sigma"][c]
        )
        assert scan.cells["socm"][c] == cols["socm"][in_cell].max()
        assert scan.cells["count"][c] == in_cell.sum()
    # per-text means
    means = scan.text_means()
    for tid in set(cols["text1_id"]) | set(cols["text2_id"]):
        sel = (cols["text1_id"] == tid) | (cols["text2_id"] == tid)
        assert means[tid]["n_pairs"] == sel.sum()
        assert means[tid]["mean_socm"] == pytest.approx(cols["socm"][sel].mean(), rel=1e-12)
    data._SCAN_CACHE.clear()


@pytest.mark.parametrize("cap", [None, 1, 2])
def test_top_pairs_cap_each_text_and_are_exact(runs, monkeypatch, cap):
    run = runs[0]
    cols = whole(run)
    data._SCAN_CACHE.clear()
    monkeypatch.setattr(data, "TOP_POOL", 3)  # forces the pool to grow
    got = top_pairs(run, 7, cap)
    assert [(p["text1_id"], p["text2_id"]) for p in got] == brute_top(cols, 7, cap)
    counts: dict[str, int] = {}
    for p in got:
        for t in (p["text1_id"], p["text2_id"]):
            counts[t] = counts.get(t, 0) + 1
        assert p["cosine"] == pytest.approx(1 - 2 * p["d_mu"])
    if cap:
        assert max(counts.values()) <= cap
    data._SCAN_CACHE.clear()


def test_per_text_means_from_texts_jsonl_when_present(runs, tmp_path):
    """texts.jsonl's mean_socm etc. are used when present; else computed from the pairs."""
    run = tmp_path / "run"
    shutil.copytree(runs[1], run)
    recs = [json.loads(x) for x in (run / "texts.jsonl").read_text("utf-8").splitlines()]
    fields = ("mean_socm", "mean_d_mu", "mean_d_sigma", "n_pairs")
    bare = [{k: v for k, v in r.items() if k not in fields} for r in recs]
    (run / "texts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in bare), "utf-8")
    computed = read_texts(run)
    assert computed.source == "pairs.parquet" and np.isfinite(computed.mean_socm).all()
    if all("mean_socm" in r for r in recs):  # the writer's means agree with the pairs'
        written = [r["mean_socm"] for r in recs]
        assert computed.mean_socm.tolist() == pytest.approx(written, rel=1e-9)
        assert computed.n_pairs.tolist() == [r["n_pairs"] for r in recs]
    for k, r in enumerate(bare):
        r.update(mean_socm=0.1 * k, mean_d_mu=0.2, mean_d_sigma=0.3, n_pairs=9)
    (run / "texts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in bare), "utf-8")
    given = read_texts(run)
    assert given.source == "texts.jsonl"
    assert given.mean_socm.tolist() == pytest.approx([0.1 * k for k in range(len(recs))])
    assert given.n_pairs.tolist() == [9] * len(recs)


def test_percentile_and_limits(runs):
    cols = whole(runs[0])
    top = float(cols["socm"].max())
    assert socm_percentile(runs[0], top + 1)["percentile"] == 100.0
    assert socm_percentile(runs[0], -1.0)["percentile"] == 0.0
    mid = socm_percentile(runs[0], float(np.median(cols["socm"])))
    assert 40 < mid["percentile"] < 60 and mid["n_pairs"] == len(cols["socm"])
    both = shared_limits(runs)
    assert both.d_sigma >= max(whole(r)["d_sigma"].max() for r in runs)
    assert Limits.of(0.62, 1.31, 0.9) == Limits(0.65, 1.35, 1.0)


def test_a_folder_of_parts_reads_like_the_file(runs, tmp_path):
    """A cluster run writes pairs.parquet as a folder of parts: every reader gives what it
    gives for the single file (the parts in part order)."""
    from socm.measure.rundir import pairs_dataset
    from socm.output.data import pair_column_max

    run = tmp_path / "parts"
    shutil.copytree(runs[0], run)
    table = pq.read_table(run / "pairs.parquet")
    (run / "pairs.parquet").unlink()
    (run / "pairs.parquet").mkdir()
    cuts = [0, 30, 31, table.num_rows]  # uneven parts, one of a single row
    for k, (a, b) in enumerate(itertools.pairwise(cuts)):
        pq.write_table(table.slice(a, b - a), run / "pairs.parquet" / f"part-{k:06d}.parquet")
    (run / "pairs.parquet" / ".part-000009.parquet.1.tmp").write_text("half a part")
    assert pairs_dataset(run / "pairs.parquet").to_table().equals(table)
    assert pair_column_max(run) == pair_column_max(runs[0])
    data._SCAN_CACHE.clear()
    limits = shared_limits([runs[0]])
    assert shared_limits([run]) == limits
    a, b = scan_pairs(runs[0], limits), scan_pairs(run, limits)
    assert a.n_pairs == b.n_pairs and np.array_equal(a.hist, b.hist)
    assert top_pairs(run, 5) == top_pairs(runs[0], 5)
    value = float(np.median(whole(runs[0])["socm"]))
    assert socm_percentile(run, value) == socm_percentile(runs[0], value)
    for part in (run / "pairs.parquet").glob("part-*"):
        part.unlink()
    with pytest.raises(Exception, match="without part-"):
        pairs_dataset(run / "pairs.parquet")
