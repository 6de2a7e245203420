"""A run folder is read only when it is whole and its record is sound (issue 23, classes 3
and 8): a folder of parts is checked against the run's record, a damaged summary.json is
refused naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_config

from socm import backends
from socm.backends import LocalBackend
from socm.cli import main
from socm.errors import SocmError
from socm.measure import run_measure
from socm.measure.rundir import pairs_dataset


class PartsBackend(LocalBackend):
    """The local backend writing its pairs as a cluster does: one part per tile, written by
    :func:`socm.runs.write_part`, the sums merged."""

    name = "parts"

    def score_into(self, stats, pairs, opts, sink) -> None:
        from socm.runs import write_part

        sink.open_parts()
        everything = np.arange(len(sink.ids))
        for tile in self.score(stats, pairs, opts):
            for half in (
                tile.take(np.arange(len(tile) // 2)),
                tile.take(np.arange(len(tile) // 2, len(tile))),
            ):
                sink.merge(write_part(half, sink.part(len(half), everything)), everything)


@pytest.fixture(scope="module")
def parts_run(wiki_head, tmp_path_factory):
    backends.register_backend("parts", PartsBackend)
    try:
        tmp = tmp_path_factory.mktemp("parts")
        summary, out = run_measure(run_config(wiki_head, tmp, n_texts=12, backend="parts"))
    finally:
        backends._REGISTERED.pop("parts", None)  # other tests list the backends
    return out, summary


def _copy(run, tmp_path):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(run, target)
    return target


def test_a_parts_run_records_its_parts(parts_run):
    out, summary = parts_run
    record = summary["pairs_parts"]
    assert record["count"] >= 2 and sum(record["rows"]) == summary["n_pairs"] == 66
    assert pairs_dataset(out / "pairs.parquet").count_rows() == 66


@pytest.mark.parametrize("damage", ["delete_last", "delete_first", "extra", "fewer_rows"])
def test_a_damaged_parts_folder_is_refused(parts_run, tmp_path, capsys, damage):
    run = _copy(parts_run[0], tmp_path)
    parts = sorted((run / "pairs.parquet").glob("part-*.parquet"))
    if damage == "delete_last":
        parts[-1].unlink()
    elif damage == "delete_first":
        parts[0].unlink()
    elif damage == "extra":
        (run / "pairs.parquet" / f"part-{len(parts):06d}.parquet").write_bytes(
            parts[0].read_bytes()
        )
    else:  # a part rewritten with some of its pairs
        import pyarrow.parquet as pq

        pq.write_table(pq.read_table(parts[0]).slice(0, 3), parts[0])
    with pytest.raises(SocmError, match="rerun socm measure"):
        pairs_dataset(run / "pairs.parquet")
    for argv in (
        ["plot", "scatter", str(run), "--out", str(tmp_path / "s.png")],
        ["report", str(run), "--out", str(tmp_path / "r.html")],
    ):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "pairs.parquet" in err and "rerun socm measure" in err, err


def test_a_single_file_with_other_rows_is_refused(wiki_head, tmp_path):
    import pyarrow.parquet as pq

    _, out = run_measure(run_config(wiki_head, tmp_path, n_texts=6))
    t = pq.read_table(out / "pairs.parquet")
    pq.write_table(t.slice(0, 10), out / "pairs.parquet")
    with pytest.raises(SocmError, match="10 pairs where the run's summary.json records 15"):
        pairs_dataset(out / "pairs.parquet")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda s: s.replace('"avg_socm": 0.', '"avg_socm": NaN, "x": 0.', 1), "avg_socm: nan"),
        (lambda s: s.replace('"n_texts": 6', '"n_texts": "6"', 1), "n_texts: '6'"),
        (lambda s: s[: len(s) // 2], "not valid JSON"),
    ],
)
def test_compare_never_reuses_a_damaged_run(wiki_head, tmp_path, capsys, damage, message):
    from conftest import MODEL

    args = ["compare", "--model", MODEL, "--corpus", str(wiki_head), "--n-texts", "6"]
    args += ["--out", str(tmp_path / "cmp"), "--cache-dir", str(tmp_path / "c"), "--quiet"]
    args += ["--device", "cpu"]
    assert main(args) == 0
    (summary,) = (tmp_path / "cmp").glob("*/summary.json")
    summary.write_text(damage(summary.read_text()))
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"socm: error: {summary}: ") and message in err, err
    assert "--overwrite" in err and err.count("\n") == 1
    assert main([*args, "--overwrite", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)[0]
    assert record["reused"] is False and 0 < record["avg_socm"] < 1


def test_a_damaged_mine_summary_is_refused_naming_the_file(tmp_path, capsys):
    run = tmp_path / "mine"
    run.mkdir()
    for name in ("candidates.parquet", "texts.parquet"):
        (run / name).write_bytes(b"")
    record = {"command": "mine", "model": "m", "corpus": "c", "numerics": "exact"}
    record |= {"config": {}, "n_texts": 5, "top_pairs": [{"rank": 1, "socm": float("nan")}]}
    (run / "mine_summary.json").write_text(json.dumps(record))
    for argv in (
        ["pair", "--from-mine", str(run), "1"],
        ["report", str(run), "--out", str(tmp_path / "r.html")],
    ):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert f"{run / 'mine_summary.json'}: not a socm mine summary" in err, err
        assert "top_pairs" in err
