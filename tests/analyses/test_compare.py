"""socm compare and the MS MARCO loader (socm reproduce: test_reproduce.py)."""

from __future__ import annotations

import json

import pytest
from conftest import MODEL, run_config

from socm.analyses.compare import run_compare
from socm.cli import main
from socm.errors import SocmError, SocmWarning
from socm.inputs.msmarco import load_msmarco
from socm.measure import run_measure


def base(wiki_head, tmp_path, **kw):
    return run_config(wiki_head, tmp_path, **{"n_texts": 8, **kw})


def test_compare_writes_tables_and_reuses_runs(wiki_head, tmp_path, capsys):
    out = tmp_path / "cmp"
    # the same weights under two names: a backbone and a "fine-tuned" model
    other = "all-MiniLM-L6-v2"
    records = run_compare([MODEL, other], base(wiki_head, tmp_path), out, backbone=MODEL)
    assert [r["model"] for r in records] == [MODEL, other]
    assert records[0]["delta_vs_backbone"] == 0.0
    assert records[1]["delta_vs_backbone"] == pytest.approx(0.0, abs=1e-12)
    data = json.loads((out / "compare.json").read_text())
    assert {"model", "avg_socm", "delta_vs_backbone"} <= set(data[0])
    assert (
        (out / "compare.md").read_text().startswith("| model | avg SOCM (95% CI) | Δ vs backbone")
    )
    # the same weights under two names: a paired Δ of exactly 0, inside the noise
    assert records[1]["delta_ci95"] == [0.0, 0.0] and records[1]["delta_outside_noise"] is False
    assert (out / "compare.csv").read_text().splitlines()[0].startswith("model,backbone,avg_socm")
    again = run_compare([MODEL, other], base(wiki_head, tmp_path), out, backbone=MODEL)
    assert all(r["reused"] for r in again)
    code = main(
        [
            "compare",
            "--model",
            MODEL,
            "--family",
            f"{MODEL}={other}",
            "--corpus",
            str(wiki_head),
            "--n-texts",
            "8",
            "--cache-dir",
            str(tmp_path / "c"),
            "--out",
            str(out),
            "--quiet",
            "--device",
            "cpu",
            "--json",
        ]
    )
    # other texts (8 instead of the base's) into the same folders: refused, not mixed
    assert code == 1 and "--overwrite" in capsys.readouterr().err
    code = main(
        [
            "compare",
            "--model",
            MODEL,
            "--family",
            f"{MODEL}={other}",
            "--corpus",
            str(wiki_head),
            "--n-texts",
            "8",
            "--cache-dir",
            str(tmp_path / "c"),
            "--out",
            str(out),
            "--overwrite",
            "--quiet",
            "--device",
            "cpu",
            "--json",
        ]
    )
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed[1]["backbone"] == MODEL
    assert main(["compare", "--family", "nonsense", "--out", str(out)]) == 1
    assert "BACKBONE=FT1,FT2" in capsys.readouterr().err


def test_msmarco_loader_and_scoring(shared_data, tmp_path):
    folder = shared_data / "msmarco-trec-dl-2019"
    corpus, pairs, labels = load_msmarco(folder)
    assert corpus.info["queries"] == 43 and labels.count("relevant") == 4102
    assert labels.count("nonrelevant") == 43 * 100
    assert all(corpus.ids[q].startswith("q") and corpus.ids[p].startswith("p") for q, p in pairs)
    small, spairs, slabels = load_msmarco(folder, max_queries=2, negatives_per_query=5)
    summary, _out = run_measure(
        base(folder, tmp_path, out=str(tmp_path / "m")), corpus=small, pairs=spairs, labels=slabels
    )
    assert set(summary["by_label"]) == {"relevant", "nonrelevant"}
    assert summary["by_label"]["nonrelevant"]["n_pairs"] == 10
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "collection.tsv").write_text("1\tp\n")
    (bad / "queries.tsv").write_text("7\tq\n")
    (bad / "qrels.txt").write_text("7 0 2 1\n")
    with pytest.raises(SocmError, match="passage 2 is not in the files"):
        load_msmarco(bad)


def test_paired_delta_is_tighter_than_independent_intervals(wiki_head, tmp_path):
    from socm.analyses.compare import paired_delta

    a, run_a = run_measure(run_config(wiki_head, tmp_path, n_texts=40, out=str(tmp_path / "a")))
    b, run_b = run_measure(
        run_config(wiki_head, tmp_path, n_texts=40, layer=3, out=str(tmp_path / "b"))
    )
    d = paired_delta(run_a, run_b)
    assert d["delta"] == pytest.approx(b["avg_socm"] - a["avg_socm"], abs=1e-12)
    paired = d["ci"][1] - d["ci"][0]
    independent = 2 * 1.96 * (a["avg_socm_se"] ** 2 + b["avg_socm_se"] ** 2) ** 0.5
    assert 0 < paired < independent
    assert d["outside_noise"] == (not d["ci"][0] <= 0 <= d["ci"][1])


def _in_memory_delta(run_a, run_b):
    """The paired Δ the slow way: both runs' pairs in memory, matched by a stable sort."""
    import numpy as np
    import pyarrow.parquet as pq

    from socm.core.uncertainty import PairSums
    from socm.measure.rundir import pairs_dataset

    ids = [json.loads(x)["id"] for x in (run_b / "texts.jsonl").read_text().splitlines()]
    index = {t: k for k, t in enumerate(ids)}
    n = len(ids)
    keyed = []
    for run in (run_a, run_b):
        path = run / "pairs.parquet"
        t = (pairs_dataset(path).to_table() if path.is_dir() else pq.read_table(path)).to_pydict()
        i = np.array([index[x] for x in t["text1_id"]])
        j = np.array([index[x] for x in t["text2_id"]])
        key = np.minimum(i, j) * n + np.maximum(i, j)
        order = np.argsort(key, kind="stable")
        keyed.append((key[order], np.asarray(t["socm"])[order]))
    (ka, ha), (kb, hb) = keyed
    assert np.array_equal(ka, kb)
    sums = PairSums(n, ("diff",))
    sums.update(ka // n, ka % n, {"diff": hb - ha})
    return sums


@pytest.mark.parametrize("listed", [False, True])
def test_paired_delta_joins_on_disk_like_in_memory(wiki_head, tmp_path, monkeypatch, listed):
    """Many small buckets, one run's pairs as a shuffled folder of parts, and (listed) a pair
    listed in both orientations and twice under the paper numerics: the same Δ and interval as
    matching the pairs in memory."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    import socm.analyses.compare as compare

    kw = {"n_texts": 12}
    if listed:
        pf = tmp_path / "pairs.tsv"
        pf.write_text("0\t5\n5\t0\n17\t3\n3\t17\n0\t5\n9\t4\n4\t30\n30\t9\n")
        kw = {"n_texts": None, "pairs_file": str(pf), "numerics": "paper"}
    runs = []
    for out, layer in (("a", None), ("b", 3)):
        cfg = run_config(wiki_head, tmp_path, layer=layer, out=str(tmp_path / out), **kw)
        if listed:  # pairs listed twice, on purpose
            with pytest.warns(SocmWarning, match="listed more than once"):
                runs.append(run_measure(cfg)[1])
        else:
            runs.append(run_measure(cfg)[1])
    run_a, run_b = runs
    ref = _in_memory_delta(run_a, run_b)
    table = pq.read_table(run_b / "pairs.parquet")
    if not listed:  # all pairs in any order: a folder of parts in another order
        (run_b / "pairs.parquet").unlink()
        (run_b / "pairs.parquet").mkdir()
        perm = np.random.default_rng(0).permutation(table.num_rows)
        for k, part in enumerate(np.array_split(perm, 5)):
            pq.write_table(table.take(part), run_b / "pairs.parquet" / f"part-{k:06d}.parquet")
    monkeypatch.setattr(compare, "JOIN_BUCKET_PAIRS", 4)  # many buckets
    got = compare.paired_delta(run_a, run_b)
    assert got["delta"] == pytest.approx(ref.mean("diff"), abs=1e-15)
    summary = json.loads((run_b / "summary.json").read_text())
    if listed:
        expect = ref.sample_ci("diff", int(summary["pairs_possible"]))
    else:
        expect = ref.ci("diff", summary.get("n_population"), summary.get("pairs_possible"))
    np.testing.assert_allclose(got["ci"], expect["ci"], rtol=1e-12)
    # a run over other texts, or other pairs, gets no interval and says why
    other = tmp_path / "c"
    other.mkdir()
    for name in ("summary.json", "texts.jsonl"):
        (other / name).write_text((run_b / name).read_text())
    renamed = table.set_column(0, "text1_id", pa.array(["zz"] * table.num_rows))
    pq.write_table(renamed, other / "pairs.parquet")
    assert "different texts" in compare.paired_delta(run_a, other)["note"]
    pq.write_table(table.slice(1), other / "pairs.parquet")
    with pytest.raises(SocmError, match="the run folder is damaged"):  # not what summary says
        compare.paired_delta(run_a, other)
    fewer = {**summary, "n_pairs": summary["n_pairs"] - 1}
    (other / "summary.json").write_text(json.dumps(fewer))
    assert "different pairs" in compare.paired_delta(run_a, other)["note"]
