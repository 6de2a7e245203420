"""A command that follows a run takes every setting that defines the numbers from the run's
own record, and refuses a flag that contradicts it (issue 23, class 1)."""

from __future__ import annotations

import json

import pytest

from socm.cli import main


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def mined(wiki_head, tmp_path_factory):
    """A mine run with every setting away from its default."""
    tmp = tmp_path_factory.mktemp("follow")
    small = tmp / "small.txt"
    small.write_text("\n".join(wiki_head.read_text(encoding="utf-8").splitlines()[:16]) + "\n")
    policy = ["--exclude-special-tokens", "--prefix", "q: ", "--layer", "3"]
    policy += ["--max-length", "24", "--numerics", "paper", "--prompt", "Represent: "]
    policy += ["--exclude-prompt-tokens", "--exclude-first-token", "--dtype", "float32"]
    args = ["mine", "--corpus", str(small), "--neighbors", "3", "--out", str(tmp / "mine")]
    args += ["--cache-dir", str(tmp / "c"), "--quiet", "--device", "cpu", "--json"]
    assert main([*args, *policy, "--cache-dtype", "float16"]) == 0
    measure = ["measure", "--corpus", str(small), "--n-texts", "all", "--out", str(tmp / "m")]
    measure += ["--cache-dir", str(tmp / "c"), "--quiet", "--device", "cpu"]
    assert main(measure) == 0
    return tmp, policy


def test_pair_from_mine_uses_the_runs_settings(mined, capsys):
    import pyarrow.parquet as pq

    tmp, policy = mined
    capsys.readouterr()
    out = str(tmp / "p.png")
    code, text, err = run(
        ["pair", "--from-mine", str(tmp / "mine"), "1", "--out", out, "--json"], capsys
    )
    cand = pq.read_table(tmp / "mine" / "candidates.parquet")
    result = json.loads(text)["results"][0]
    assert code == 0, err
    for col in ("socm", "d_mu", "d_sigma"):
        assert result[col] == pytest.approx(cand[col][0].as_py(), rel=1e-6, abs=1e-9)
    # the same settings given again are fine; a contradicting one is refused, naming both
    code, _, err = run(
        ["pair", "--from-mine", str(tmp / "mine"), "1", "--out", out, *policy], capsys
    )
    assert code == 0, err
    for flag, message in [
        (["--layer", "2"], "--layer 2 contradicts the mine run"),
        (["--numerics", "exact"], "--numerics 'exact' contradicts"),
        (["--prefix", ""], "which was measured with prefix 'q: '"),
        (["--max-length", "30"], "max length 24"),
        (["--prompt", ""], "which was measured with prompt 'Represent: '"),
        (["--prompt-name", "query"], "with no named prompt"),
        (["--dtype", "bfloat16"], "with a float32 forward pass"),
        (["--model", "other/model"], "--model other/model contradicts"),
    ]:
        code, _, err = run(
            ["pair", "--from-mine", str(tmp / "mine"), "1", "--out", out, *flag], capsys
        )
        assert code == 1 and message in err, err
        assert err.count("\n") == 1


def test_a_percentile_only_against_a_run_of_the_same_settings(mined, capsys):
    tmp, _ = mined
    capsys.readouterr()
    out = str(tmp / "p.png")
    code, text, err = run(
        [
            "pair",
            "--from-mine",
            str(tmp / "mine"),
            "1",
            "--run",
            str(tmp / "m"),
            "--out",
            out,
            "--json",
        ],
        capsys,
    )
    assert code == 0 and "run_percentile" not in json.loads(text)["results"][0]
    assert "no percentile" in err and "numerics exact" in err and "the last hidden state" in err
    code, text, err = run(
        [
            "pair",
            "a cat sat on a mat",
            "a dog lay on a rug",
            "--run",
            str(tmp / "m"),
            "--out",
            out,
            "--json",
        ],
        capsys,
    )
    assert code == 0 and "run_percentile" in json.loads(text)["results"][0], err


def test_a_mine_folder_where_a_measure_run_is_expected(mined, capsys):
    tmp, _ = mined
    code, _, err = run(["plot", "scatter", str(tmp / "mine"), "--out", str(tmp / "s.png")], capsys)
    assert code == 1 and "is a socm mine run folder (mine_summary.json), not a socm measure" in err
    code, _, err = run(["pair", "--from-mine", str(tmp / "m"), "1"], capsys)
    assert code == 1 and "is a socm measure run folder (summary.json), not a socm mine" in err
