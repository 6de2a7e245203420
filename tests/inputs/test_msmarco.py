"""The MS MARCO loader on small hand-written folders: empty texts, duplicate ids, no pairs."""

from __future__ import annotations

import pytest

from socm.cli import main
from socm.errors import SocmError
from socm.inputs.msmarco import load_msmarco


def folder(tmp_path, collection, queries, qrels):
    """An MS MARCO-style folder from lists of lines."""
    d = tmp_path / "mm"
    d.mkdir(exist_ok=True)
    for name, lines in (
        ("collection.tsv", collection),
        ("queries.tsv", queries),
        ("qrels.txt", qrels),
    ):
        (d / name).write_text("".join(f"{ln}\n" for ln in lines), encoding="utf-8")
    return d


COLLECTION = ["1\tcats are mammals", "2\tthe alps are high", "3\tparis is in france"]
QUERIES = ["7\twhat is a cat", "8\twhere is paris"]
QRELS = ["7 0 1 1", "8 0 3 2", "8 0 2 0"]


def test_empty_texts_are_dropped_and_counted(tmp_path):
    d = folder(
        tmp_path,
        [*COLLECTION, "4\t  ", "5\t"],
        [*QUERIES, "9\t "],
        [*QRELS, "7 0 4 1", "9 0 1 1", "8 0 5 0"],
    )
    corpus, pairs, labels = load_msmarco(d)
    assert "" not in corpus.texts and all(t.strip() for t in corpus.texts)
    assert "p4" not in corpus.ids and "p5" not in corpus.ids and "q9" not in corpus.ids
    assert corpus.info["empty_passages"] == 2 and corpus.info["empty_queries"] == 1
    assert corpus.info["judgements_skipped"] == 3 and corpus.n_dropped == 3
    got = sorted(
        (corpus.ids[q], corpus.ids[p], lab) for (q, p), lab in zip(pairs, labels, strict=True)
    )
    assert got == [
        ("q7", "p1", "relevant"),
        ("q7", "p2", "nonrelevant"),
        ("q7", "p3", "nonrelevant"),
        ("q8", "p1", "nonrelevant"),
        ("q8", "p3", "relevant"),
    ]


@pytest.mark.parametrize(
    ("collection", "queries", "qrels", "message"),
    [
        (
            [*COLLECTION, "2\tanother text"],
            QUERIES,
            QRELS,
            "collection.tsv: line 4: duplicate passage id 2 (first on line 2)",
        ),
        (
            COLLECTION,
            ["7\ta", "8\tb", "7\tc"],
            QRELS,
            "queries.tsv: line 3: duplicate query id 7 (first on line 1)",
        ),
        (
            COLLECTION,
            QUERIES,
            [*QRELS, "7 0 1 0"],
            "qrels.txt: line 4: query 7, passage 1 judged 0 here and 1 on line 1",
        ),
        (COLLECTION, QUERIES, ["7 0 9 1"], "qrels.txt: line 1: passage 9 is not in the files"),
        (COLLECTION, ["7\t"], ["7 0 1 1"], "no query has judgements (1 judgement of empty"),
        # one query whose one judged passage is not relevant: nothing to pair
        (COLLECTION, QUERIES, ["8 0 2 0"], "0 (query, passage) pairs"),
        (["1\t", "2\t"], QUERIES, ["7 0 1 1", "8 0 2 1"], "no query has judgements"),
    ],
)
def test_bad_folders_are_refused(tmp_path, collection, queries, qrels, message):
    d = folder(tmp_path, collection, queries, qrels)
    with pytest.raises(SocmError) as exc:
        load_msmarco(d)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_repeated_identical_judgement_is_kept_once(tmp_path):
    d = folder(tmp_path, COLLECTION, QUERIES, [*QRELS, "7 0 1 1"])
    _corpus, pairs, labels = load_msmarco(d)
    assert len(pairs) == 5 and labels.count("relevant") == 2


def test_max_queries_below_one_is_refused(tmp_path):
    d = folder(tmp_path, COLLECTION, QUERIES, QRELS)
    with pytest.raises(SocmError, match="max_queries must be at least 1, got 0"):
        load_msmarco(d, max_queries=0)


def test_cli_refuses_in_one_line(tmp_path, capsys):
    d = folder(tmp_path, [*COLLECTION, "1\tagain"], QUERIES, QRELS)
    code = main(["msmarco", str(d), "--out", str(tmp_path / "r"), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("socm: error: ") and "duplicate passage id 1" in err
