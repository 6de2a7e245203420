"""socm compare and the MS MARCO loader (socm reproduce: test_reproduce.py)."""

from __future__ import annotations

import json

import pytest
from conftest import MODEL, run_config

from socm.analyses.compare import run_compare
from socm.cli import main
from socm.errors import SocmError
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
