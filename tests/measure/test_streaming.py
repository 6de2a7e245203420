"""Streamed scoring: intervals in every summary, per-text means, bounded pairs file (issue 11)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import run_config

import socm
import socm.measure.job as job
from socm.cli import main
from socm.measure import run_measure
from socm.runs import PairsFile


def texts(out):
    return [json.loads(x) for x in (out / "texts.jsonl").read_text().splitlines()]


def test_summary_has_intervals_and_texts_have_their_means(wiki_head, tmp_path):
    summary, out = run_measure(run_config(wiki_head, tmp_path, n_texts=12))
    for m in ("socm", "d_mu", "d_sigma"):
        lo, hi = summary[f"avg_{m}_ci95"]
        assert lo < summary[f"avg_{m}"] < hi
    assert summary["n_population"] == 11913 and "jackknife" in summary["ci_method"]
    pairs = pq.read_table(out / "pairs.parquet").to_pydict()
    for rec in texts(out):
        mine = [
            s
            for a, b, s in zip(pairs["text1_id"], pairs["text2_id"], pairs["socm"], strict=True)
            if rec["id"] in (a, b)
        ]
        assert rec["n_pairs"] == 11 and rec["mean_socm"] == pytest.approx(np.mean(mine), rel=1e-12)


def test_whole_corpus_with_all_pairs_has_zero_width(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text(
        "".join(f"Sentence number {k} is about {w}.\n" for k, w in enumerate("abcdefgh"))
    )
    summary, _ = run_measure(run_config(corpus, tmp_path, n_texts="all"))
    lo, hi = summary["avg_socm_ci95"]
    assert summary["n_texts"] == 8 and lo == hi == summary["avg_socm"]


def test_streamed_file_equals_sorted_file_and_no_pairs_file(wiki_head, tmp_path, monkeypatch):
    ref, out = run_measure(run_config(wiki_head, tmp_path, n_texts=30, out=str(tmp_path / "a")))
    monkeypatch.setattr(job, "SORTED_PAIRS_MAX", 10)  # tile order, several row groups
    monkeypatch.setattr(PairsFile, "ROW_GROUP", 100)
    got, out2 = run_measure(run_config(wiki_head, tmp_path, n_texts=30, out=str(tmp_path / "b")))
    a = pq.read_table(out / "pairs.parquet").to_pydict()
    f = pq.ParquetFile(out2 / "pairs.parquet")
    assert f.metadata.num_row_groups > 1
    b = f.read().to_pydict()
    key = lambda t: sorted(zip(t["text1_id"], t["text2_id"], t["socm"], strict=True))  # noqa: E731
    assert key(a) == key(b) and len(a["socm"]) == 435
    for k in ("avg_socm", "avg_socm_ci95", "socm_quantiles", "n_d_sigma_over_1"):
        assert got[k] == ref[k]
    quiet, out3 = run_measure(
        run_config(wiki_head, tmp_path, n_texts=30, out=str(tmp_path / "c"), no_pairs_file=True)
    )
    assert not (out3 / "pairs.parquet").exists() and quiet["avg_socm"] == ref["avg_socm"]
    assert texts(out3) == texts(out)


def test_sampled_and_listed_pairs(wiki_head, tmp_path):
    s, _ = run_measure(run_config(wiki_head, tmp_path, n_texts=40, max_pairs=100))
    assert s["n_pairs"] == 100 and s["pairs_possible"] == 780 and s["avg_socm_ci95"]
    pf = tmp_path / "p.tsv"
    pf.write_text("".join(f"{k}\t{k + 1}\n" for k in range(0, 40, 2)))
    full, _ = run_measure(
        run_config(wiki_head, tmp_path, pairs_file=str(pf), out=str(tmp_path / "l"))
    )
    assert full["avg_socm_ci95"][0] == full["avg_socm_ci95"][1]  # every listed pair: exact
    part, _ = run_measure(
        run_config(wiki_head, tmp_path, pairs_file=str(pf), max_pairs=10, out=str(tmp_path / "m"))
    )
    assert part["n_pairs"] == 10 and part["pairs_possible"] == 20
    assert (
        "listed pairs" in part["ci_method"] and part["avg_socm_ci95"][0] < part["avg_socm_ci95"][1]
    )


def test_table_shows_intervals_and_long_runs_are_announced(
    wiki_head, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(job, "ESTIMATE_PAIRS_MIN", 1)
    code = main(
        [
            "measure",
            "--corpus",
            str(wiki_head),
            "--n-texts",
            "10",
            "--out",
            str(tmp_path / "r"),
            "--cache-dir",
            str(tmp_path / "c"),
            "--quiet",
            "--device",
            "cpu",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0 and "(95% CI)" in out and " ± " in out
    assert "socm: scoring 45 pairs takes about" in err


def test_pair_result_summary_takes_the_design(rng):
    from conftest import random_tokens

    toks = [random_tokens(rng, 6, 8) for _ in range(10)]
    r = socm.pairwise(toks)
    whole = r.summary(n_population=10)
    sample = r.summary(n_population=1000)
    assert whole["avg_socm_ci95"][0] == whole["avg_socm_ci95"][1]
    assert sample["avg_socm_ci95"][0] < sample["avg_socm"] < sample["avg_socm_ci95"][1]
    assert whole["socm_q50"] == pytest.approx(np.quantile(r.socm, 0.5))
