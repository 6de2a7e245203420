"""The STS-Benchmark loader: the real files (quotes are data), hand-written edge cases, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from socm.cli import main
from socm.errors import SocmError
from socm.inputs import load_sts


def sts_file(tmp_path, lines, name="sts.csv", newline="\n"):
    path = tmp_path / name
    path.write_bytes("".join(f"{ln}{newline}" for ln in lines).encode("utf-8"))
    return path


def row(ident, score, a, b, *extra):
    return "\t".join(["main-captions", "MSRvid", "2012test", ident, score, a, b, *extra])


@pytest.mark.parametrize(("split", "n_pairs"), [("train", 5749), ("dev", 1500), ("test", 1379)])
def test_every_pair_of_the_real_files_is_kept(shared_data, split, n_pairs):
    corpus, pairs, labels = load_sts(shared_data / "stsb" / f"sts-{split}.csv")
    assert len(pairs) == len(labels) == n_pairs and len(corpus) == 2 * n_pairs
    assert len(set(corpus.ids)) == len(corpus.ids)
    np.testing.assert_array_equal(pairs, np.arange(2 * n_pairs).reshape(-1, 2))
    gold = np.array([float(x) for x in labels])
    assert gold.min() >= 0 and gold.max() <= 5
    assert corpus.info["pairs_skipped"] == 0 and corpus.n_dropped == 0


def test_quotes_are_data_and_extra_columns_ignored(shared_data):
    """Line 649 of sts-test.csv opens a quote it never closes; line 643 has extra columns. A
    CSV reader would merge lines; splitting on tabs keeps each pair as written."""
    corpus, _pairs, labels = load_sts(shared_data / "stsb" / "sts-test.csv")
    k = corpus.ids.index("L649:0142-2")
    assert corpus.texts[k] == 'I always go by the rule "When in doubt, throw it out!'
    assert labels[k // 2] == "4"
    k = corpus.ids.index("L643:0120-2")
    assert corpus.texts[k] == 'My answer to your question is "Probably Not".'
    assert corpus.ids[:2] == ["L1:0024-1", "L1:0024-2"]
    assert corpus.texts[:2] == ["A girl is styling her hair.", "A girl is brushing her hair."]
    assert labels[0] == "2.500"


def test_identical_sentences_repeated_ids_crlf_and_empty_sentences(tmp_path):
    path = sts_file(
        tmp_path,
        [
            row("0001", "5.000", "A man plays.", "A man plays."),  # identical: kept
            row("0001", "1.0", 'He said "hi', "Bye", "extra", "more"),  # same STS id again
            row("0002", "3", "  ", "Something"),  # empty sentence: skipped
            "",
            row("0003", "0.25", "x", "y"),
        ],
        newline="\r\n",
    )
    corpus, pairs, labels = load_sts(path)
    assert corpus.ids == [
        "L1:0001-1",
        "L1:0001-2",
        "L2:0001-1",
        "L2:0001-2",
        "L5:0003-1",
        "L5:0003-2",
    ]
    assert corpus.texts == ["A man plays.", "A man plays.", 'He said "hi', "Bye", "x", "y"]
    assert labels == ["5.000", "1.0", "0.25"]
    assert pairs.tolist() == [[0, 1], [2, 3], [4, 5]]
    assert corpus.info["pairs_skipped"] == 1 and corpus.n_dropped == 1
    corpus, pairs, labels = load_sts(path, first=2)  # the first 2 pairs of the file
    assert labels == ["5.000", "1.0"] and len(corpus) == 4


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["a\tb\tc\td\t1\tonly one sentence"], "line 1 is not an STS-B row"),
        ([row("1", "2", "a", "b"), row("2", "high", "a", "b")], "line 2: the score 'high'"),
        ([row("1", "nan", "a", "b")], "line 1: the score 'nan' is not a finite number"),
        ([row(" ", "2", "a", "b")], "line 1 has an empty pair id"),
        ([row("1", "2", "", "b")], "no STS-B pairs (1 with an empty sentence skipped)"),
        (["", "  "], "no STS-B pairs"),
    ],
)
def test_bad_files_are_refused(tmp_path, lines, message):
    with pytest.raises(SocmError) as exc:
        load_sts(sts_file(tmp_path, lines))
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_missing_file_bad_bytes_and_first(tmp_path):
    with pytest.raises(SocmError, match="STS-B file not found"):
        load_sts(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(row("1", "2", "a", "b").encode() + b"\n" + b"\xff\xfe\n")
    with pytest.raises(SocmError, match="not valid UTF-8 at line 2"):
        load_sts(bad)
    with pytest.raises(SocmError, match="first must be at least 1"):
        load_sts(sts_file(tmp_path, [row("1", "2", "a", "b")]), first=0)


def test_cli_scores_labelled_pairs(tmp_path, capsys):
    path = sts_file(
        tmp_path,
        [
            row("1", "5.0", "A man is playing a guitar.", "A man plays the guitar."),
            row("2", "0.4", "A cat sleeps on the sofa.", "Stocks fell sharply on Monday."),
            row("3", "5.0", "Same words here.", "Same words here."),
        ],
    )
    out = tmp_path / "run"
    code = main(["sts", str(path), "--out", str(out), "--quiet", "--device", "cpu", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_pairs"] == 3 and set(summary["by_label"]) == {"5.0", "0.4"}
    import pyarrow.parquet as pq

    t = pq.read_table(out / "pairs.parquet").to_pydict()
    assert t["label"] == ["5.0", "0.4", "5.0"]
    assert t["text1_id"] == ["L1:1-1", "L2:2-1", "L3:3-1"]
    # identical sentences: the same text, so every measure is 0 up to float32 rounding
    assert abs(t["d_mu"][2]) < 1e-6 and abs(t["d_sigma"][2]) < 1e-6
    assert t["d_mu"][0] < t["d_mu"][1]


def test_cli_refuses_in_one_line(tmp_path, capsys):
    code = main(["sts", str(sts_file(tmp_path, ["a\tb"])), "--out", str(tmp_path / "r")])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("socm: error: ") and "line 1 is not an STS-B row" in err
