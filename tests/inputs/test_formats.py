"""Corpus formats where embedding people keep their texts: headerless TSV/CSV (MS MARCO's
collection), BEIR's corpus.jsonl and queries.jsonl, compressed files, Hugging Face datasets."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import random
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from socm.cli import main
from socm.errors import SocmError
from socm.inputs.corpus import load_corpus, load_sample, reservoir_sample, sample
from socm.measure import MeasureConfig
from socm.measure.select import select_texts
from socm.measure.writer import run_identity, settings_hash


def refused(argv, capsys, *fragments):
    """The CLI refuses ``argv``: exit 1, one stderr line naming every fragment."""
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("socm: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


# --- files without a header -------------------------------------------------------------


def test_msmarco_collection_without_header(shared_data, capsys):
    path = shared_data / "msmarco-trec-dl-2019" / "collection.tsv"
    c = load_corpus(path, no_header=True)
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(c) == len(rows) == 4103
    assert c.ids == [r[0] for r in rows]  # the pids
    assert c.texts == [r[1].strip() for r in rows]
    # without the flag, the first passage would be column names: the error names the flag
    err = refused(["measure", "--corpus", str(path), "--out", "x"], capsys, "--no-header")
    assert "looks like data" in err and len(err) < 400  # the passage is cut short


def test_headerless_columns(tmp_path):
    one = tmp_path / "one.csv"
    one.write_text('first\n"second, with a comma"\n\nthird\n')
    c = load_corpus(one, no_header=True)
    assert c.ids == ["0", "1", "3"] and c.texts[1] == "second, with a comma"
    three = tmp_path / "three.tsv"
    three.write_text("a\tx1\tone\nb\tx2\ttwo\n")
    with pytest.raises(SocmError, match="3 columns and no header.*--text-column K"):
        load_corpus(three, no_header=True)
    c = load_corpus(three, no_header=True, text_column="3", id_column="2")
    assert c.ids == ["x1", "x2"] and c.texts == ["one", "two"]
    c = load_corpus(three, no_header=True, text_column="2")
    assert c.ids == ["0", "1"] and c.texts == ["x1", "x2"]  # no id column chosen: row numbers
    with pytest.raises(SocmError, match="column number from 1 to 3.*got 'text'"):
        load_corpus(three, no_header=True, text_column="text")
    with pytest.raises(SocmError, match="column number from 1 to 3.*got '0'"):
        load_corpus(three, no_header=True, text_column="0")
    with pytest.raises(SocmError, match="both column 1"):
        load_corpus(three, no_header=True, text_column="1", id_column="1")
    two = tmp_path / "two.tsv"
    two.write_text("7\tseven\n8\teight\t!\n")
    with pytest.raises(SocmError, match="line 2 has 3 fields but the first row has 2"):
        load_corpus(two, no_header=True)
    two.write_text("7\tseven\n7\tagain\n")
    with pytest.raises(SocmError, match="duplicate text ids"):
        load_corpus(two, no_header=True)
    two.write_text("")
    with pytest.raises(SocmError, match="empty"):
        load_corpus(two, no_header=True)
    txt = tmp_path / "c.txt"
    txt.write_text("a\n")
    with pytest.raises(SocmError, match="--no-header applies to .csv and .tsv"):
        load_corpus(txt, no_header=True)


def test_header_that_is_a_header_gets_no_hint(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("key,sentence\nk1,a\n")
    with pytest.raises(SocmError, match="choose one with --text-column") as err:
        load_corpus(f)
    assert "--no-header" not in str(err.value)


def test_no_header_through_a_run_config(shared_data, tmp_path):
    path = shared_data / "msmarco-trec-dl-2019" / "collection.tsv"
    cfg = MeasureConfig(corpus=str(path), no_header=True, n_texts=5, seed=1)
    chosen, pairs, _ = select_texts(cfg)
    whole = load_corpus(path, no_header=True)
    expected = sample(whole, 5, 1)
    assert chosen.ids == expected.ids and pairs is None
    # given flags are part of a run's identity; the defaults leave older runs' hash alone
    plain = MeasureConfig(corpus=str(path))
    assert "no_header" not in run_identity(plain) and "no_header" not in plain.result_key()
    assert run_identity(cfg)["no_header"] is True
    assert settings_hash(MeasureConfig(corpus="c.tsv", no_header=True)) != settings_hash(
        MeasureConfig(corpus="c.tsv")
    )


# --- BEIR ---------------------------------------------------------------------------------

BEIR_DOCS = [
    {"_id": "d1", "title": "Aspirin", "text": "A drug that thins the blood.", "metadata": {}},
    {"_id": "d2", "title": "", "text": "No title here."},
    {"_id": "d3", "title": "Only a title", "text": ""},
    {"_id": "d4", "title": "  ", "text": "   "},
]


def beir_text(doc: dict) -> str:
    """BEIR's own rule (beir.retrieval.models.SentenceBERT.encode_corpus, sep " ")."""
    return (doc["title"] + " " + doc["text"]).strip() if "title" in doc else doc["text"].strip()


def test_beir_corpus_and_queries(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in BEIR_DOCS))
    c = load_corpus(corpus)
    assert c.ids == ["d1", "d2", "d3"] and c.n_dropped == 1
    assert c.texts == [beir_text(d) for d in BEIR_DOCS[:3]]
    assert c.texts[0] == "Aspirin A drug that thins the blood."
    c = load_corpus(corpus, no_title=True)
    assert c.ids == ["d1", "d2"] and c.texts == ["A drug that thins the blood.", "No title here."]
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"_id": "q1", "text": "what thins blood", "metadata": {}}\n')
    q = load_corpus(queries)
    assert q.ids == ["q1"] and q.texts == ["what thins blood"]
    as_json = tmp_path / "corpus.json"
    as_json.write_text(json.dumps(BEIR_DOCS))
    assert load_corpus(as_json).texts == load_corpus(corpus).texts


def test_beir_integrity(tmp_path):
    f = tmp_path / "corpus.jsonl"
    f.write_text('{"_id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n')
    with pytest.raises(SocmError, match='line 2 has no "_id" field'):
        load_corpus(f)
    f.write_text('{"_id": "a", "text": "x"}\n\n{"_id": "b", "title": null, "text": "y"}\n')
    with pytest.raises(SocmError, match="line 3: the title is null.*--no-title"):
        load_corpus(f)
    assert load_corpus(f, no_title=True).texts == ["x", "y"]
    f.write_text('{"_id": 1, "text": "x"}\n{"_id": "1", "text": "y"}\n')
    with pytest.raises(SocmError, match="duplicate text ids"):
        load_corpus(f)
    f.write_text('{"_id": "a", "text": 5}\n')
    with pytest.raises(SocmError, match="line 1: the text is int"):
        load_corpus(f)
    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"id": "a", "title": "T", "text": "x"}\n')
    assert load_corpus(plain).texts == ["x"]  # not BEIR (no _id): titles are not read
    with pytest.raises(SocmError, match="--no-title: .* not a BEIR file"):
        load_corpus(plain, no_title=True)
    tsv = tmp_path / "x.tsv"
    tsv.write_text("text\na\n")
    with pytest.raises(SocmError, match="--no-title applies to BEIR"):
        load_corpus(tsv, no_title=True)


# --- compressed files ---------------------------------------------------------------------

COMPRESS = {
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
}


def zstd_compress(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    return zstandard.ZstdCompressor().compress(data)


def corpus_files(tmp_path) -> dict[str, bytes]:
    """One small corpus in every format, as bytes."""
    rows = [("a", "first text"), ("b", 'a "quoted", text'), ("c", "third\u00e9")]
    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": [r[0] for r in rows], "text": [r[1] for r in rows]}), parquet)
    return {
        ".txt": "".join(t + "\n" for _, t in rows).encode(),
        ".jsonl": "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in rows).encode(),
        ".json": json.dumps([{"id": i, "text": t} for i, t in rows]).encode(),
        ".csv": (
            "id,text\n" + "".join(f'{i},"{t.replace(chr(34), 2 * chr(34))}"\n' for i, t in rows)
        ).encode(),
        ".tsv": ("id\ttext\n" + "".join(f"{i}\t{t}\n" for i, t in rows)).encode(),
        ".parquet": parquet.read_bytes(),
    }


@pytest.mark.parametrize("compression", [".gz", ".bz2", ".xz", ".zst"])
def test_compressed_files_read_as_the_plain_ones(tmp_path, compression):
    compress = COMPRESS.get(compression, zstd_compress)
    for fmt, data in corpus_files(tmp_path).items():
        plain = tmp_path / f"corpus{fmt}"
        plain.write_bytes(data)
        packed = tmp_path / f"corpus{fmt}{compression}"
        packed.write_bytes(compress(data))
        want, got = load_corpus(plain), load_corpus(packed)
        assert (got.ids, got.texts) == (want.ids, want.texts), fmt
        assert got.texts[-1] == "third\u00e9"


def test_compressed_file_errors(tmp_path, monkeypatch):
    bad = tmp_path / "c.jsonl.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(SocmError, match="c.jsonl.gz: not a valid gzip file"):
        load_corpus(bad)
    latin = tmp_path / "c.txt.xz"
    latin.write_bytes(lzma.compress("ok\ncaf\u00e9\n".encode("latin-1")))
    with pytest.raises(SocmError, match="not valid UTF-8 at line 2"):
        load_corpus(latin)
    headerless = tmp_path / "collection.tsv.bz2"
    headerless.write_bytes(bz2.compress(b"11\tpassage one\n12\tpassage two\n"))
    assert load_corpus(headerless, no_header=True).ids == ["11", "12"]
    zst = tmp_path / "c.txt.zst"
    zst.write_bytes(b"whatever")
    monkeypatch.setitem(sys.modules, "zstandard", None)  # as if not installed
    with pytest.raises(SocmError, match="needs the PyPI package zstandard"):
        load_corpus(zst)


# --- sampling from a stream ---------------------------------------------------------------


def test_reservoir_sample_is_uniform():
    assert reservoir_sample(iter("abc"), 5, seed=1) == (list("abc"), 3)
    picked, n = reservoir_sample(range(100), 10, seed=4)
    assert n == 100 and len(set(picked)) == 10 and picked == sorted(picked)  # stream order
    # every item lands in the sample with probability n / N: 4,000 seeds, 20 items, n = 5
    counts = [0] * 20
    for seed in range(4000):
        for item in reservoir_sample(range(20), 5, seed)[0]:
            counts[item] += 1
    p, trials = 5 / 20, 4000
    sd = (trials * p * (1 - p)) ** 0.5  # binomial: 27.4
    assert all(abs(c - trials * p) < 4.5 * sd for c in counts), counts


# --- Hugging Face datasets ----------------------------------------------------------------


@pytest.fixture
def datasets_module(tmp_path, monkeypatch):
    """``datasets`` with its cache under ``tmp_path`` (tests never touch the user's)."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    datasets.disable_progress_bars()
    return datasets


def write_jsonl(path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_saved_dataset_folders(datasets_module, tmp_path):
    ds = datasets_module.Dataset.from_dict(
        {"id": ["x", "y", "z"], "text": ["one", "  ", "three"], "label": [1, 2, 3]}
    )
    ds.save_to_disk(tmp_path / "saved")
    for source in (tmp_path / "saved", f"hf:{tmp_path / 'saved'}"):
        c = load_corpus(source)
        assert c.ids == ["x", "z"] and c.texts == ["one", "three"] and c.n_dropped == 1
    both = datasets_module.DatasetDict({"train": ds, "test": ds.select([0])})
    both.save_to_disk(tmp_path / "dict")
    with pytest.raises(SocmError, match="splits train, test: name one as .*@SPLIT"):
        load_corpus(f"hf:{tmp_path / 'dict'}")
    assert load_corpus(f"hf:{tmp_path / 'dict'}@test").texts == ["one"]
    with pytest.raises(SocmError, match="no split 'dev'"):
        load_corpus(f"hf:{tmp_path / 'dict'}@dev")
    with pytest.raises(SocmError, match="no column 'body'.*--text-column"):
        load_corpus(tmp_path / "saved", text_column="body")
    bad = datasets_module.Dataset.from_dict({"text": ["fine", None, "x"]})
    bad.save_to_disk(tmp_path / "bad")
    with pytest.raises(SocmError, match="row 1: the text is null"):
        load_corpus(tmp_path / "bad")


def test_hub_layout_folder_with_beir_columns(datasets_module, tmp_path):
    folder = tmp_path / "scifact"
    write_jsonl(folder / "corpus.jsonl", BEIR_DOCS)
    c = load_corpus(f"hf:{folder}")
    assert c.ids == ["d1", "d2", "d3"]  # _id is the id column by default
    assert c.texts == [beir_text(d) for d in BEIR_DOCS[:3]]
    assert load_corpus(f"hf:{folder}", no_title=True).texts[0] == "A drug that thins the blood."
    # the same texts as the file: a sample is the file's sample
    file_sample = sample(load_corpus(folder / "corpus.jsonl"), 2, 3)
    assert load_sample(f"hf:{folder}", 2, 3).ids == file_sample.ids
    with pytest.raises(SocmError, match="expected hf:NAME"):
        load_corpus("hf:")
    with pytest.raises(SocmError, match="--no-header applies"):
        load_corpus(f"hf:{folder}", no_header=True)


def test_stream_sample(datasets_module, tmp_path, monkeypatch):
    """A dataset too large to download is read as a stream, every row checked, the sample
    drawn with the reservoir over its non-empty texts."""
    rows = [{"id": f"r{k}", "text": "" if k % 10 == 3 else f"text {k}"} for k in range(200)]
    folder = tmp_path / "big"
    write_jsonl(folder / "train.jsonl", rows)
    monkeypatch.setattr("socm.inputs.corpus.should_stream", lambda spec: True)
    s = load_sample(f"hf:{folder}", 15, seed=7)
    kept = [(r["id"], r["text"]) for r in rows if r["text"]]
    expected, total = reservoir_sample(iter(kept), 15, 7)
    assert list(zip(s.ids, s.texts, strict=True)) == expected
    assert s.info["n_population"] == total == 180 and s.n_dropped == 20
    assert s.info["sampling"] == "reservoir"
    assert load_sample(f"hf:{folder}", 15, seed=8).ids != s.ids
    with pytest.raises(SocmError, match="only 180 non-empty texts"):
        load_sample(f"hf:{folder}", 181, seed=0)
    rows[150]["text"] = 42  # a bad row is found wherever it is, sampled or not
    write_jsonl(folder / "train.jsonl", rows)
    with pytest.raises(SocmError, match="row 150: the text is int"):
        load_sample(f"hf:{folder}", 3, seed=0)


def test_datasets_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(SocmError, match=r"pip install 'socm\[datasets\]'"):
        load_corpus("hf:some/dataset")


def test_sampling_seed_matches_random_sample(tmp_path):
    """--n-texts on a file stays the paper's random.seed(S); random.sample(texts, N)."""
    f = tmp_path / "c.tsv.gz"
    texts = [f"t{k}" for k in range(50)]
    f.write_bytes(gzip.compress(("".join(f"{k}\t{t}\n" for k, t in enumerate(texts))).encode()))
    random.seed(9)
    expected = random.sample(texts, 6)
    assert load_sample(f, 6, 9, no_header=True).texts == expected


def test_when_a_hub_dataset_is_streamed(datasets_module, monkeypatch):
    """From the hub's metadata only: more rows than STREAM_ABOVE_ROWS, or an unknown size."""
    from types import SimpleNamespace

    from socm.inputs import hf

    def builder(rows):
        split = SimpleNamespace(num_examples=rows)
        info = SimpleNamespace(splits={"train": split} if rows is not None else None)
        return lambda name, config=None: SimpleNamespace(info=info)

    spec = hf.parse_hf("hf:org/big@train")
    for rows, streamed in (
        (10, False),
        (hf.STREAM_ABOVE_ROWS, False),
        (8_800_000, True),
        (None, True),
    ):
        monkeypatch.setattr(datasets_module, "load_dataset_builder", builder(rows))
        assert hf.should_stream(spec) is streamed, rows
    monkeypatch.setattr(datasets_module, "load_dataset_builder", builder(10))
    assert hf.should_stream(hf.parse_hf("hf:org/big")) is False  # the only split

    def offline(name, config=None):
        raise ConnectionError("Couldn't reach 'org/big' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets_module, "load_dataset_builder", offline)
    with pytest.raises(SocmError, match="cannot load the dataset hf:org/big@train"):
        hf.should_stream(spec)
