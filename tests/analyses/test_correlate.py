"""socm correlate: the paper's correlation from the shipped table, joins, STS-B evaluation."""

from __future__ import annotations

import json

import pytest
from conftest import MODEL

from socm.analyses.correlate import (
    correlate,
    read_scores_csv,
    read_stsb,
    sts_spearman,
)
from socm.cli import main
from socm.encode import Encoder
from socm.errors import SocmError
from socm.inputs.paper_table import load_paper_table, paper_rows

PUBLISHED = {  # the figures, typed in independently of the data file
    "google-bert/bert-base-uncased": (0.413, 0.39616, 0.49133, 0.48048),
    "h-tomo/unsup-simcse-bert-base-uncased-mean": (0.502, 0.19302, 0.26894, 0.25652),
    "intfloat/e5-base-v2": (0.618, 0.02878, 0.04257, 0.03594),
    "thenlper/gte-base": (0.635, 0.01752, 0.02483, 0.01688),
    "microsoft/MiniLM-L12-H384-uncased": (0.330, 0.24162, 0.28894, 0.33972),
    "sentence-transformers/all-MiniLM-L12-v2": (0.596, 0.31282, 0.34751, 0.32983),
    "intfloat/e5-small-v2": (0.603, 0.09889, 0.08544, 0.08665),
    "thenlper/gte-small": (0.629, 0.05479, 0.05505, 0.04807),
    "microsoft/mpnet-base": (0.383, 0.11660, 0.10582, 0.12887),
    "sentence-transformers/all-mpnet-base-v2": (0.606, 0.10029, 0.09439, 0.09291),
    "nomic-ai/nomic-bert-2048": (0.295, 0.13907, 0.10976, 0.13080),
    "nomic-ai/nomic-embed-text-v1.5": (0.633, 0.12158, 0.13295, 0.10377),
}


def test_shipped_table_matches_the_paper():
    table = load_paper_table()
    got = {
        m["model"]: (
            m["mteb_eng_v2"],
            m["avg_socm"]["wikipedia"],
            m["avg_socm"]["msmarco"],
            m["avg_socm"]["hard_negatives"],
        )
        for m in table["models"]
    }
    assert got == PUBLISHED
    assert any("0.005" in note for note in table["notes"])
    assert {m["model"] for m in table["models"] if m["trust_remote_code"]} == {
        "nomic-ai/nomic-bert-2048",
        "nomic-ai/nomic-embed-text-v1.5",
    }


def test_reproduces_the_papers_correlation(capsys):
    rows, scores = paper_rows()
    res = correlate(rows, scores, "MTEB")
    assert res["n_models"] == 12
    assert res["socm"]["spearman_rho"] == pytest.approx(-0.678, abs=5e-4)
    assert res["socm"]["p_value"] == pytest.approx(0.015, abs=1e-3)
    assert main(["correlate", "--paper-table", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["socm"]["spearman_rho"] == pytest.approx(-0.678, abs=5e-4)
    assert out["socm"]["p_value"] == pytest.approx(0.0153, abs=1e-4)


def test_join_by_short_name_and_errors(tmp_path):
    rows = [
        {"model": "org/a", "avg_socm": 0.3, "avg_normalized_spread": 2.0},
        {"model": "b", "avg_socm": 0.1, "avg_normalized_spread": 1.0},
        {"model": "c", "avg_socm": 0.2, "avg_normalized_spread": 1.5},
        {"model": "d", "avg_socm": 0.9, "avg_normalized_spread": 1.5},
    ]
    f = tmp_path / "s.csv"
    f.write_text("model,score\nA,0.1\nother/b,0.9\nc,0.5\n")
    res = correlate(rows, read_scores_csv(f), "x")
    assert res["n_models"] == 3 and res["unmatched"] == ["d"]
    assert res["socm"]["spearman_rho"] == pytest.approx(-1.0)
    assert res["normalized_spread"]["spearman_rho"] == pytest.approx(-1.0)
    with pytest.raises(SocmError, match="at least 3 models"):
        correlate(rows[:2], read_scores_csv(f), "x")
    f.write_text("name,score\n")
    with pytest.raises(SocmError, match="missing column"):
        read_scores_csv(f)


def test_stsb_evaluator(shared_data, tmp_path):
    path = shared_data / "stsb" / "sts-test.csv"
    s1, s2, gold = read_stsb(path)
    assert len(s1) == len(s2) == len(gold) == 1379 and 0 <= gold.min() and gold.max() <= 5
    small = tmp_path / "sts-small.csv"
    small.write_text("\n".join(path.read_text(encoding="utf-8").splitlines()[:200]) + "\n")
    rho = sts_spearman(Encoder(MODEL, cache_dir=tmp_path / "c", device="cpu"), small)
    assert 0.7 < rho < 0.95  # all-MiniLM-L6-v2 is a strong STS model
    bad = tmp_path / "bad.csv"
    bad.write_text("only\tthree\tcolumns\n")
    with pytest.raises(SocmError, match="line 1 is not an STS-B row"):
        read_stsb(bad)
