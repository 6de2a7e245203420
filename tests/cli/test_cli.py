"""The command line: subcommand functions called directly, and the console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from socm.cli import build_parser, main


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_measure_prints_table_and_json(wiki_head, tmp_path, capsys):
    args = [
        "measure",
        "--corpus",
        str(wiki_head),
        "--n-texts",
        "6",
        "--out",
        str(tmp_path / "r"),
        "--cache-dir",
        str(tmp_path / "c"),
        "--quiet",
        "--device",
        "cpu",
    ]
    code, out, _err = run(args, capsys)
    assert code == 0 and "avg SOCM" in out and "all 15 pairs" in out
    code, _, err = run([*args, "--json", "--numerics", "paper"], capsys)
    assert code == 1 and "holds a measure run with other settings" in err  # never mixed
    code, out, _ = run([*args, "--json", "--numerics", "paper", "--overwrite"], capsys)
    summary = json.loads(out)
    assert code == 0 and summary["numerics"] == "paper" and summary["n_pairs"] == 15
    assert (tmp_path / "r" / "pairs.parquet").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--corpus", "missing.txt"], "corpus file not found: missing.txt"),
        (["--model", "nobody/nothing"], "model 'nobody/nothing' could not be loaded"),
        (["--n-texts", "5000000"], "asked for 5000000 texts"),
        (["--pairs", "nope.tsv"], "pairs file not found"),
    ],
)
def test_user_errors_are_one_line(wiki_head, tmp_path, capsys, extra, message):
    args = [
        "measure",
        "--corpus",
        str(wiki_head),
        "--quiet",
        "--out",
        str(tmp_path / "r"),
        "--n-texts",
        "4",
        *extra,
    ]
    code, _out, err = run(args, capsys)
    assert code == 1
    assert err.startswith("socm: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_encoding_names_the_line(tmp_path, capsys):
    f = tmp_path / "c.txt"
    f.write_bytes(b"fine\nbad \xff byte\n")
    code, _, err = run(["measure", "--corpus", str(f), "--quiet"], capsys)
    assert code == 1 and "line 2" in err


def test_parser_defaults_match_the_paper():
    args = build_parser().parse_args(["measure"])
    assert (args.n_texts, args.seed, args.numerics, args.layer) == (1000, 0, "exact", None)
    assert args.exclude_special_tokens is False and args.prefix == ""
    assert args.model == "sentence-transformers/all-MiniLM-L6-v2"


def test_console_script(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    ok = subprocess.run(
        [sys.executable, "-m", "socm", "--version"], capture_output=True, text=True, env=env
    )
    assert ok.returncode == 0 and ok.stdout.startswith("socm ")
    bad = subprocess.run(
        [sys.executable, "-m", "socm", "measure", "--corpus", str(tmp_path / "x.txt")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        f"socm: error: corpus file not found: "
        f"{tmp_path / 'x.txt'} (or use a built-in corpus: "
        "wikipedia, wiki1m)"
    ]


def test_layers_and_mechanism_contracts(wiki_head, tmp_path, capsys):
    common = [
        "--model",
        "sentence-transformers/all-MiniLM-L6-v2",
        "--corpus",
        str(wiki_head),
        "--n-texts",
        "5",
        "--seed",
        "3",
        "--out",
        str(tmp_path / "d"),
        "--quiet",
        "--cache-dir",
        str(tmp_path / "c"),
    ]
    assert main(["layers", *common]) == 0
    out = capsys.readouterr().out
    assert "spread mean" in out
    recs = json.loads((tmp_path / "d" / "layers_summary.json").read_text())
    assert (tmp_path / "d" / "layers.parquet").exists()
    assert {"layer", "normalized_spread_mean", "avg_cos_mean"} <= set(recs[0])
    assert main(["mechanism", *common, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    recs = json.loads((tmp_path / "d" / "mechanism_summary.json").read_text())
    assert printed == recs and (tmp_path / "d" / "mechanism.parquet").exists()
    assert {"layer", "lambda_mean", "r_mean", "C_mean"} <= set(recs[0])
    code = main(["mechanism", *common, "--exclude-special-tokens"])
    assert code == 1 and "drop --layer and --exclude-special-tokens" in capsys.readouterr().err


def test_correlate_errors(tmp_path, capsys):
    assert main(["correlate", str(tmp_path)]) == 1
    assert "exactly one score source" in capsys.readouterr().err
    assert main(["correlate", str(tmp_path), "--paper-table"]) == 1
    assert "missing summary.json" in capsys.readouterr().err


# ---------------------------------------------------------------- awkward inputs (issue 10)
def test_flag_errors_are_one_line_naming_the_flag(wiki_head, tmp_path, capsys):
    code, _, err = run(["measure", "--seed", "-3", "--max-pairs", "10"], capsys)
    assert (
        code == 2
        and err == "socm: error: measure: argument --seed: expected a number >= 0, got -3\n"
    )
    pf = tmp_path / "p.tsv"
    pf.write_text("0\t1\n")
    code, _, err = run(
        ["measure", "--corpus", str(wiki_head), "--pairs", str(pf), "--n-texts", "5"], capsys
    )
    assert code == 1 and "--n-texts cannot be combined with --pairs" in err
    code, _, err = run(["measure", "--corpus", str(wiki_head), "--unit", "paragraph"], capsys)
    assert code == 1 and "--unit applies to the wikipedia corpus only" in err


def test_pair_says_when_texts_were_truncated(tmp_path, capsys):
    long = "word " * 600
    code, out, err = run(
        ["pair", long + "A", long + "B", "--out", str(tmp_path / "p.png"), "--json"], capsys
    )
    assert code == 0 and json.loads(out)["results"][0]["truncated"] == [True, True]
    assert "socm: warning:" in err and "texts A and B were truncated to 512 tokens" in err


def test_pair_from_a_mine_run(wiki_head, tmp_path, capsys):
    small = tmp_path / "small.txt"
    small.write_text("\n".join(wiki_head.read_text(encoding="utf-8").splitlines()[:20]) + "\n")
    run_dir = tmp_path / "mine"
    args = [
        "mine",
        "--corpus",
        str(small),
        "--neighbors",
        "3",
        "--out",
        str(run_dir),
        "--cache-dir",
        str(tmp_path / "c"),
        "--quiet",
        "--device",
        "cpu",
        "--json",
    ]
    assert main(args) == 0
    capsys.readouterr()
    code, out, _ = run(
        ["pair", "--from-mine", str(run_dir), "1", "--out", str(tmp_path / "p.png"), "--json"],
        capsys,
    )
    from socm.analyses.mine import pair_texts, read_mine_run

    _, cand, _ = read_mine_run(run_dir)
    result = json.loads(out)["results"][0]
    assert code == 0 and result["socm"] == pytest.approx(cand["socm"][0].as_py(), abs=1e-5)
    a, b, _ids = pair_texts(run_dir, 1)
    assert a and b
    code, _, err = run(["pair", "--from-mine", str(run_dir), "x"], capsys)
    assert code == 2 and "argument --from-mine: RANK: expected a whole number" in err
    code, _, err = run(["pair"], capsys)
    assert code == 1 and "give two texts, or --from-mine" in err
