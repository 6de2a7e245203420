"""read_summary: a corrupt or incomplete summary.json is refused in one line naming the file."""

from __future__ import annotations

import json

import pytest

from socm.cli import main
from socm.errors import SocmError
from socm.measure.rundir import read_summary

GOOD = {
    "model": "org/m",
    "corpus": "wiki",
    "n_texts": 10,
    "n_pairs": 45,
    "numerics": "exact",
    "avg_socm": 0.1,
    "avg_d_mu": 0.5,
    "avg_d_sigma": 0.4,
}


def run_folder(tmp_path, text: str):
    run = tmp_path / "x"
    run.mkdir()
    (run / "summary.json").write_text(text, encoding="utf-8")
    return run


def test_a_complete_summary_reads_back(tmp_path):
    run = run_folder(tmp_path, json.dumps({**GOOD, "extra": [1, 2]}))
    assert read_summary(run) == {**GOOD, "extra": [1, 2]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"model": "org/m", "corpus": ', "not valid JSON (line 1, column 30"),
        ("", "not valid JSON"),
        ("[1, 2]", "not a socm summary (a JSON list, not an object)"),
        ('"text"', "not a socm summary (a JSON str, not an object)"),
        (
            json.dumps({k: v for k, v in GOOD.items() if k not in ("avg_socm", "corpus")}),
            "not a socm summary (missing corpus, avg_socm)",
        ),
        (json.dumps({**GOOD, "avg_socm": "0.1"}), "wrong type or value of avg_socm: '0.1'"),
        (json.dumps({**GOOD, "n_pairs": None, "model": 3}), "of model: 3, n_pairs: None"),
        (json.dumps({**GOOD, "avg_d_mu": True}), "wrong type or value of avg_d_mu: True"),
        (json.dumps({**GOOD, "avg_socm": float("nan")}), "wrong type or value of avg_socm: nan"),
        (json.dumps({**GOOD, "n_pairs": -4}), "n_pairs: -4"),
        (json.dumps({**GOOD, "avg_socm_ci95": [0.2, 0.1]}), "avg_socm_ci95: [0.2, 0.1]"),
        (json.dumps({**GOOD, "share_spread_over_2": 1.5}), "share_spread_over_2: 1.5"),
        (json.dumps({**GOOD, "numerics": "fast"}), "numerics: 'fast'"),
        (json.dumps({**GOOD, "pairs_parts": {"count": 2, "rows": [1]}}), "pairs_parts"),
    ],
)
def test_bad_summaries_are_refused_naming_the_file(tmp_path, text, message):
    run = run_folder(tmp_path, text)
    with pytest.raises(SocmError) as exc:
        read_summary(run)
    msg = str(exc.value)
    assert msg.startswith(f"{run / 'summary.json'}: ") and message in msg
    assert msg.endswith("; rerun socm measure") and "\n" not in msg


def test_non_utf8_summary_is_refused(tmp_path):
    run = tmp_path / "x"
    run.mkdir()
    (run / "summary.json").write_bytes(b'{"model": "\xff"}')
    with pytest.raises(SocmError, match="summary.json: not valid UTF-8"):
        read_summary(run)


@pytest.mark.parametrize("command", [["correlate", "--paper-table"], ["report"]])
def test_cli_names_the_broken_file(tmp_path, capsys, command):
    run = run_folder(tmp_path, json.dumps({"model": "org/m"}))
    extra = ["--out", str(tmp_path / "r.html")] if command == ["report"] else []
    code = main([*command, str(run), *extra])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(f"socm: error: {run / 'summary.json'}: not a socm summary (missing ")
    assert "avg_socm" in err and "rerun socm measure" in err


def test_pairs_dataset_reads_parts_in_task_order(tmp_path):
    """Parts are read by their number, also past part-999999 (where names get longer)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from socm.measure.rundir import pairs_dataset

    folder = tmp_path / "pairs.parquet"
    folder.mkdir()
    for k in (1_000_000, 2, 999_999):
        pq.write_table(pa.table({"socm": [float(k)]}), folder / f"part-{k:06d}.parquet")
    (folder / ".part-000003.parquet.7.tmp").write_text("a killed attempt's leftover")
    got = pairs_dataset(folder).to_table().column("socm").to_pylist()
    assert got == [2.0, 999_999.0, 1_000_000.0]
    single = tmp_path / "one.parquet"
    pq.write_table(pa.table({"socm": [0.5]}), single)
    assert pairs_dataset(single).count_rows() == 1
