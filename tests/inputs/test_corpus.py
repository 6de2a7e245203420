"""Corpus loading, ids, dropped lines, sampling as the paper does, and bad input."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from socm.errors import SocmError
from socm.inputs.corpus import load_corpus, sample, split_sentences


def test_txt_ids_are_line_numbers_and_empties_dropped(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("  first text \n\n   \nsecond\r\nthird\n", encoding="utf-8")
    c = load_corpus(f)
    assert c.texts == ["first text", "second", "third"]
    assert c.ids == ["0", "3", "4"]
    assert c.n_dropped == 2
    assert c.name == "c.txt"


def test_jsonl_with_and_without_ids(tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text('{"id": "a", "text": "x y"}\n{"text": "z"}\n{"id": 7, "text": " "}\n')
    c = load_corpus(f)
    assert c.ids == ["a", "1"] and c.texts == ["x y", "z"] and c.n_dropped == 1
    f.write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(SocmError, match="line 2 is not valid JSON"):
        load_corpus(f)
    f.write_text('{"body": "no text"}\n')
    with pytest.raises(SocmError, match='line 1 has no "text" field'):
        load_corpus(f)


def test_csv_tsv_parquet_columns(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text('key,sentence\nk1,"a, b"\nk2,c\n')
    c = load_corpus(f, text_column="sentence", id_column="key")
    assert c.ids == ["k1", "k2"] and c.texts == ["a, b", "c"]
    with pytest.raises(SocmError, match="no column 'text' .*--text-column"):
        load_corpus(f)
    with pytest.raises(SocmError, match="no id column 'nope'"):
        load_corpus(f, text_column="sentence", id_column="nope")
    t = tmp_path / "c.tsv"
    t.write_text('text\tlabel\nhe said "hi"\t1\n\t0\n')
    c = load_corpus(t)
    assert c.texts == ['he said "hi"'] and c.ids == ["0"] and c.n_dropped == 1
    p = tmp_path / "c.parquet"
    pq.write_table(pa.table({"id": [10, 11], "text": ["u", "v"]}), p)
    c = load_corpus(p)
    assert c.ids == ["10", "11"] and c.texts == ["u", "v"]


def test_bad_files(tmp_path):
    with pytest.raises(SocmError, match="corpus file not found"):
        load_corpus(tmp_path / "missing.txt")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("ok\nstill ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(SocmError, match="not valid UTF-8 at line 3"):
        load_corpus(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(SocmError, match="corpus is empty"):
        load_corpus(empty)
    dup = tmp_path / "dup.jsonl"
    dup.write_text(json.dumps({"id": 1, "text": "a"}) + "\n" + json.dumps({"id": 1, "text": "b"}))
    with pytest.raises(SocmError, match="duplicate text ids"):
        load_corpus(dup)
    with pytest.raises(SocmError, match="directory"):
        load_corpus(tmp_path)


def test_sampling_is_the_papers(wiki_head):
    corpus = load_corpus(wiki_head)
    lines = [s.strip() for s in wiki_head.read_text(encoding="utf-8").splitlines() if s.strip()]
    random.seed(0)
    expected = random.sample(lines, 1000)
    picked = sample(corpus, 1000, seed=0)
    assert picked.texts == expected
    assert [corpus.texts[int(i)] for i in picked.ids] == expected  # ids are line numbers
    assert sample(corpus, 5, seed=1).texts != sample(corpus, 5, seed=2).texts
    with pytest.raises(SocmError, match=r"asked for 20000 texts .* has only 11913"):
        sample(corpus, 20000)


def test_wikipedia_corpus():
    sentences = load_corpus("wikipedia")
    paragraphs = load_corpus("wikipedia", unit="paragraph")
    assert sentences.info["articles"] == 10033
    assert len(sentences) > len(paragraphs) > 10033
    assert all(t == t.strip() and t for t in sentences.texts[:1000])
    with pytest.raises(SocmError, match="unit must be"):
        load_corpus("wikipedia", unit="word")


def test_split_sentences():
    text = 'Dr. Smith went to St. Ives, e.g. by train. He arrived. Then "Yes!" he said.'
    assert split_sentences(text) == [
        "Dr. Smith went to St. Ives, e.g. by train.",
        "He arrived.",
        'Then "Yes!" he said.',
    ]
    assert split_sentences("J. R. R. Tolkien wrote books. They sold.") == [
        "J. R. R. Tolkien wrote books.",
        "They sold.",
    ]
    assert split_sentences("One.\nTwo? Three!") == ["One.", "Two?", "Three!"]


# ---------------------------------------------------------------- awkward inputs (issue 10)
def test_tsv_quotes_are_data(wiki_head, tmp_path):
    lines = [s for s in wiki_head.read_text(encoding="utf-8").splitlines() if s.strip()]
    f = tmp_path / "wiki.tsv"
    f.write_text("id\ttext\n" + "".join(f"{k}\t{t}\n" for k, t in enumerate(lines)))
    c = load_corpus(f)
    assert len(c) == len(lines) == 11913
    assert c.texts == [t.strip() for t in lines]
    quoted = tmp_path / "q.tsv"
    quoted.write_text('text\n"quoted start\nnext row\n')
    assert load_corpus(quoted).texts == ['"quoted start', "next row"]


def test_csv_rows_with_extra_fields_name_the_line(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text('id,text\n1,"fine, quoted"\n2,unquoted, comma\n')
    with pytest.raises(SocmError, match=r"line 3 has 3 fields but the header has 2.*quoted"):
        load_corpus(f)
    f.write_text('id,text\n1,"fine, quoted"\n')
    assert load_corpus(f).texts == ["fine, quoted"]


def test_json_and_ndjson(tmp_path):
    nd = tmp_path / "c.ndjson"
    nd.write_text('{"id": "a", "text": "first"}\n{"id": "b", "text": "second"}\n')
    assert load_corpus(nd).texts == ["first", "second"]
    js = tmp_path / "c.json"
    js.write_text('[{"id": "a", "text": "first"}, {"text": "second"}]')
    c = load_corpus(js)
    assert c.ids == ["a", "1"] and c.texts == ["first", "second"]
    js.write_text('{"text": "not an array"}')
    with pytest.raises(SocmError, match="array of objects"):
        load_corpus(js)


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        ('{"text": ["a", "b"]}', "list"),
        ('{"text": 3}', "int"),
        ('{"text": true}', "bool"),
        ('{"text": null}', "null"),
        ('{"id": [1], "text": "x"}', "id is list"),
    ],
)
def test_non_string_values_are_refused(tmp_path, record, kind):
    f = tmp_path / "c.jsonl"
    f.write_text('{"text": "fine"}\n' + record + "\n")
    with pytest.raises(
        SocmError, match=rf"line 2: the {kind if 'id' in kind else 'text is ' + kind}"
    ):
        load_corpus(f)


def test_parquet_binary_text_is_decoded_or_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": pa.array([b"hello", b"w\xc3\xb6rld"], pa.binary())}), p)
    assert load_corpus(p).texts == ["hello", "wörld"]
    pq.write_table(pa.table({"text": pa.array([b"ok", b"\xff\xfe"], pa.binary())}), p)
    with pytest.raises(SocmError, match="row 1: .*not UTF-8"):
        load_corpus(p)
    pq.write_table(pa.table({"text": pa.array([1.5, 2.5])}), p)
    with pytest.raises(SocmError, match="row 0: the text is float"):
        load_corpus(p)


def test_unit_applies_to_wikipedia_only(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("a\nb\n")
    with pytest.raises(SocmError, match="--unit applies to the wikipedia corpus only"):
        load_corpus(f, unit="paragraph")
    assert len(load_corpus(f)) == 2
