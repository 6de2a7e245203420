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


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def refused(argv, capsys, *fragments):
    """The CLI refuses ``argv``: exit 1, one stderr line, naming every fragment."""
    code, out, err = run(argv, capsys)
    assert code == 1 and out == ""
    assert err.startswith("socm: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def summary_run(folder, model, avg_socm, spread=1.0):
    """A run folder holding only a minimal summary.json (enough for correlate)."""
    folder.mkdir(parents=True)
    summary = {
        "model": model,
        "corpus": "wiki",
        "n_texts": 10,
        "n_pairs": 45,
        "numerics": "exact",
        "avg_socm": avg_socm,
        "avg_d_mu": 0.5,
        "avg_d_sigma": 0.5,
        "avg_normalized_spread": spread,
    }
    # json.dumps writes float("nan") as NaN, which json.loads (and socm) reads back
    (folder / "summary.json").write_text(json.dumps(summary))
    return str(folder)


SCORES = "model,score\norg/a,0.1\norg/b,0.5\norg/c,0.9\n"


def test_duplicate_models_are_refused(tmp_path, capsys):
    scores = tmp_path / "scores.csv"
    scores.write_text(SCORES)
    same = [summary_run(tmp_path / f"r{k}", "org/a", 0.1 * (k + 1)) for k in range(3)]
    err = refused(["correlate", *same, "--scores", str(scores)], capsys, "org/a", "more than once")
    assert all(f"{r}/summary.json" in err for r in same)
    collapse = tmp_path / "collapse.csv"
    collapse.write_text("model,avg_socm\norg/a,0.1\norg/b,0.2\norg/c,0.3\nORG/A,0.4\n")
    refused(
        ["correlate", "--collapse-csv", str(collapse), "--scores", str(scores)],
        capsys,
        f"{collapse}: model listed more than once: org/a (lines 2, 5)",
    )
    collapse.write_text("model,avg_socm\norg/a,0.1\norg/b,0.2\norg/c,0.3\n")
    scores.write_text(SCORES + "org/b,0.7\n")
    refused(
        ["correlate", "--collapse-csv", str(collapse), "--scores", str(scores)],
        capsys,
        "org/b (lines 3, 5)",
    )
    # a run and a CSV row of one model are duplicates too
    run_a = summary_run(tmp_path / "ra", "org/a", 0.1)
    scores.write_text(SCORES)
    refused(
        ["correlate", run_a, "--collapse-csv", str(collapse), "--scores", str(scores)],
        capsys,
        "org/a",
        f"{collapse} line 2",
    )


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "NaN"])
def test_non_finite_values_are_refused(tmp_path, capsys, bad):
    scores = tmp_path / "scores.csv"
    collapse = tmp_path / "collapse.csv"
    collapse.write_text(f"model,avg_socm\norg/a,0.1\norg/b,{bad}\norg/c,0.3\n")
    scores.write_text(SCORES)
    refused(
        ["correlate", "--collapse-csv", str(collapse), "--scores", str(scores)],
        capsys,
        f"{collapse}: line 3 (model org/b): avg_socm is '{bad}', not a finite number",
    )
    collapse.write_text("model,avg_socm,avg_normalized_spread\norg/a,0.1,1\norg/b,0.2,1\n")
    with collapse.open("a") as f:
        f.write(f"org/c,0.3,{bad}\n")
    refused(
        ["correlate", "--collapse-csv", str(collapse), "--scores", str(scores)],
        capsys,
        "line 4 (model org/c): avg_normalized_spread",
    )
    collapse.write_text("model,avg_socm\norg/a,0.1\norg/b,0.2\norg/c,0.3\n")
    scores.write_text(f"model,score\norg/a,0.1\norg/b,{bad}\norg/c,0.9\n")
    refused(
        ["correlate", "--collapse-csv", str(collapse), "--scores", str(scores)],
        capsys,
        f"{scores}: line 3 (model org/b): score",
    )
    scores.write_text(SCORES)
    runs = [
        summary_run(tmp_path / "r1", "org/a", 0.1),
        summary_run(tmp_path / "r2", "org/b", float(bad)),
        summary_run(tmp_path / "r3", "org/c", 0.3),
    ]
    refused(
        ["correlate", *runs, "--scores", str(scores)],
        capsys,
        f"{runs[1]}/summary.json: not a socm summary (wrong type or value of avg_socm: ",
    )
    # the library refuses non-finite values handed to it directly as well
    rows = [{"model": m, "avg_socm": x} for m, x in (("a", 0.1), ("b", 0.2), ("c", 0.3))]
    with pytest.raises(SocmError, match="model c.*not a finite number"):
        correlate(rows, {"a": 0.1, "b": 0.5, "c": float(bad)}, "STS-B Spearman")


def test_constant_values_are_refused(tmp_path, capsys):
    scores = tmp_path / "scores.csv"
    collapse = tmp_path / "collapse.csv"
    scores.write_text(SCORES)
    collapse.write_text("model,avg_socm\norg/a,0.2\norg/b,0.2\norg/c,0.2\n")
    refused(
        ["correlate", "--collapse-csv", str(collapse), "--scores", str(scores)],
        capsys,
        "all 3 models have the same average SOCM (0.2)",
        "undefined",
    )
    collapse.write_text("model,avg_socm\norg/a,0.1\norg/b,0.2\norg/c,0.3\n")
    scores.write_text("model,score\norg/a,0.5\norg/b,0.5\norg/c,0.5\n")
    refused(
        ["correlate", "--collapse-csv", str(collapse), "--scores", str(scores)],
        capsys,
        "same score",
    )
    # a constant secondary column drops only its own correlation, with a note
    collapse.write_text(
        "model,avg_socm,avg_normalized_spread\norg/a,0.1,2\norg/b,0.2,2\norg/c,0.3,2\n"
    )
    scores.write_text(SCORES)
    code, out, err = run(
        ["correlate", "--collapse-csv", str(collapse), "--scores", str(scores)], capsys
    )
    assert code == 0 and err == "" and "nan" not in out
    assert "rho = +1.000" in out and "same avg_normalized_spread" in out


def test_csv_extra_columns_and_excel_bom(tmp_path, capsys):
    collapse = tmp_path / "collapse.csv"
    scores = tmp_path / "scores.csv"
    collapse.write_bytes(
        "\ufeffmodel,notes,avg_socm\r\norg/a,base model,0.3\r\norg/b,,0.1\r\norg/c,x,0.2\r\n"
        ",,\r\n".encode()
    )
    scores.write_bytes("\ufeffmodel,score,comment\norg/a,0.1,ok\norg/b,0.9,\nc,0.5,n/a\n".encode())
    code, out, _ = run(
        ["correlate", "--collapse-csv", str(collapse), "--scores", str(scores), "--json"], capsys
    )
    res = json.loads(out)
    assert code == 0 and res["n_models"] == 3
    assert res["socm"]["spearman_rho"] == pytest.approx(-1.0)
    collapse.write_text("model,avg_socm\norg/a,0.1\norg/b,abc\n")
    refused(
        ["correlate", "--collapse-csv", str(collapse), "--scores", str(scores)],
        capsys,
        "line 3 (model org/b): avg_socm is 'abc', not a number",
    )


def test_same_name_from_different_orgs_is_ambiguous(tmp_path, capsys):
    scores = tmp_path / "scores.csv"
    collapse = tmp_path / "collapse.csv"
    # two collapse rows share the name m and would both take the score of "m"
    collapse.write_text("model,avg_socm\norg1/m,0.1\norg2/m,0.2\nb,0.3\nc,0.4\n")
    scores.write_text("model,score\nm,0.1\nb,0.2\nc,0.3\n")
    refused(
        ["correlate", "--collapse-csv", str(collapse), "--scores", str(scores)],
        capsys,
        "ambiguous",
        "org1/m",
        "org2/m",
    )
    # a bare name facing two scored models of that name
    collapse.write_text("model,avg_socm\nm,0.1\nb,0.3\nc,0.4\n")
    scores.write_text("model,score\norg1/m,0.1\norg2/m,0.5\nb,0.2\nc,0.3\n")
    refused(
        ["correlate", "--collapse-csv", str(collapse), "--scores", str(scores)],
        capsys,
        "model m is ambiguous",
        "org1/m, org2/m",
    )
    # a hub id of another organisation is a different model, not a match
    collapse.write_text("model,avg_socm\norg1/m,0.1\nb,0.3\nc,0.4\n")
    scores.write_text("model,score\norg2/m,0.1\nb,0.2\nc,0.3\n")
    refused(
        ["correlate", "--collapse-csv", str(collapse), "--scores", str(scores)],
        capsys,
        "model org1/m is ambiguous: the scores name org2/m",
    )
    # full ids on both sides still join, as do bare names
    collapse.write_text("model,avg_socm\norg1/m,0.1\norg2/m,0.3\nb,0.2\n")
    scores.write_text("model,score\norg1/m,0.1\norg2/m,0.3\nB,0.2\n")
    code, out, _ = run(
        ["correlate", "--collapse-csv", str(collapse), "--scores", str(scores), "--json"], capsys
    )
    assert code == 0 and json.loads(out)["socm"]["spearman_rho"] == pytest.approx(1.0)
