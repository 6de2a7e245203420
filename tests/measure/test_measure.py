"""The measure job end to end on real text with the packaged model."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import run_config

import socm
from socm.encode import Encoder
from socm.errors import SocmError
from socm.measure import MeasureConfig, pair_index_from_linear, read_pairs_file, run_measure


def config(wiki_head, tmp_path, **kw) -> MeasureConfig:
    n_texts = None if kw.get("pairs_file") else 12  # listed pairs choose their texts
    return run_config(wiki_head, tmp_path, **{"n_texts": n_texts, "seed": 0, **kw})


def test_all_pairs_run_writes_consistent_outputs(wiki_head, tmp_path):
    summary, out = run_measure(config(wiki_head, tmp_path))
    pairs = pq.read_table(out / "pairs.parquet").to_pydict()
    texts = [json.loads(x) for x in (out / "texts.jsonl").read_text().splitlines()]
    saved = json.loads((out / "summary.json").read_text())
    assert saved["n_pairs"] == summary["n_pairs"] == 66 and saved["n_texts"] == 12
    assert list(pairs) == ["text1_id", "text2_id", "d_mu", "d_sigma", "socm"]
    ids = [t["id"] for t in texts]
    assert list(zip(pairs["text1_id"], pairs["text2_id"], strict=True)) == [
        (ids[a], ids[b]) for a, b in itertools.combinations(range(12), 2)
    ]
    # the written numbers are the engine's on the model's token embeddings
    emb = (
        Encoder(socm.measure.DEFAULT_MODEL, cache_dir=None, device="cpu")
        .encode([t["text"] for t in texts])
        .embeddings
    )
    ref = socm.pairwise(emb)
    np.testing.assert_allclose(pairs["socm"], ref.socm, atol=1e-6)
    np.testing.assert_allclose(
        [t["normalized_spread"] for t in texts], [socm.normalized_spread(e) for e in emb], atol=1e-6
    )
    assert [t["n_tokens"] for t in texts] == [e.shape[0] for e in emb]
    assert saved["avg_socm"] == pytest.approx(np.mean(pairs["socm"]))
    assert saved["share_spread_over_2"] == pytest.approx(
        np.mean([t["normalized_spread"] > 2 for t in texts])
    )
    for key in (
        "model",
        "revision",
        "corpus",
        "seed",
        "numerics",
        "layer",
        "token_policy",
        "socm_quantiles",
        "n_d_sigma_over_1",
        "timings",
        "versions",
        "n_truncated",
    ):
        assert key in saved
    assert saved["timings"]["n_encoded"] == 12
    # rerun with other numerics: nothing re-encoded, values close to exact
    paper, _ = run_measure(config(wiki_head, tmp_path, numerics="paper", out=str(tmp_path / "p")))
    assert paper["timings"]["n_cached"] == 12 and paper["timings"]["n_encoded"] == 0
    assert 0 < summary["avg_d_sigma"] - paper["avg_d_sigma"] < 0.02


def test_listed_and_sampled_pairs(wiki_head, tmp_path):
    pf = tmp_path / "pairs.tsv"
    pf.write_text("query\tnegative\n0\t5\n17\t3\n5\t17\n")
    summary, out = run_measure(config(wiki_head, tmp_path, pairs_file=str(pf)))
    table = pq.read_table(out / "pairs.parquet").to_pydict()
    assert summary["n_texts"] == 4 and summary["pairs"] == "listed"  # only listed texts encoded
    assert list(zip(table["text1_id"], table["text2_id"], strict=True)) == [
        ("0", "5"),
        ("17", "3"),
        ("5", "17"),
    ]
    pf.write_text("0,5\n99999,3\nabc,0\n")
    with pytest.raises(SocmError, match=r"2 text ids are not in the corpus, e\.g\. 99999, abc"):
        run_measure(config(wiki_head, tmp_path, pairs_file=str(pf)))
    summary, out = run_measure(
        config(wiki_head, tmp_path, n_texts=30, max_pairs=50, out=str(tmp_path / "sampled"))
    )
    table = pq.read_table(out / "pairs.parquet").to_pydict()
    got = list(zip(table["text1_id"], table["text2_id"], strict=True))
    assert summary["n_pairs"] == 50 and len(set(got)) == 50


def test_pair_index_from_linear():
    for n in (2, 3, 7, 50, 1001):
        i, j = np.triu_indices(n, 1)
        gi, gj = pair_index_from_linear(np.arange(len(i)), n)
        np.testing.assert_array_equal(gi, i)
        np.testing.assert_array_equal(gj, j)


def test_bad_requests(wiki_head, tmp_path):
    with pytest.raises(SocmError, match=r"asked for 20000 texts .* only 11913"):
        run_measure(config(wiki_head, tmp_path, n_texts=20000))
    with pytest.raises(SocmError, match="at least 2 texts"):
        run_measure(config(wiki_head, tmp_path, n_texts=1))
    with pytest.raises(SocmError, match="pairs file not found"):
        read_pairs_file(tmp_path / "nope.tsv", {"1"})
    with pytest.raises(ValueError, match="numerics must be one of"):
        run_measure(config(wiki_head, tmp_path, numerics="fast"))


def test_streamed_listed_pairs_match_in_memory_and_labels(wiki_head, tmp_path, monkeypatch):
    from socm.backends import Backend

    pf = tmp_path / "pairs.tsv"
    pf.write_text("0\t5\tpos\n17\t3\tneg\n5\t17\tneg\n3\t0\tpos\n0\t5\tpos\n")
    direct, out1 = run_measure(
        config(wiki_head, tmp_path, pairs_file=str(pf), out=str(tmp_path / "a"))
    )
    monkeypatch.setattr(Backend, "block", 2)  # force encoding in blocks of 2 texts
    streamed, out2 = run_measure(
        config(wiki_head, tmp_path, pairs_file=str(pf), out=str(tmp_path / "b"))
    )
    a = pq.read_table(out1 / "pairs.parquet").to_pydict()
    b = pq.read_table(out2 / "pairs.parquet").to_pydict()
    assert a["label"] == ["pos", "neg", "neg", "pos", "pos"] and a["label"] == b["label"]
    np.testing.assert_allclose(a["socm"], b["socm"], atol=1e-12)
    assert (out1 / "texts.jsonl").read_text() == (out2 / "texts.jsonl").read_text()
    assert streamed["timings"]["n_encoded"] == 0  # the first run filled the cache
    assert set(direct["by_label"]) == {"pos", "neg"}
    assert direct["by_label"]["pos"]["n_pairs"] == 3
    assert direct["by_label"]["neg"]["avg_socm"] == pytest.approx(np.mean(a["socm"][1:3]))


def test_a_registered_pair_column_reaches_every_file(wiki_head, tmp_path, cosine_column):
    """Adding a pair column is its formula and one registration: pairs.parquet, summary.json
    (average and interval), texts.jsonl and the per-label averages carry it, no other edit."""
    _, out = run_measure(config(wiki_head, tmp_path))
    pairs = pq.read_table(out / "pairs.parquet").to_pydict()
    assert list(pairs) == ["text1_id", "text2_id", "d_mu", "d_sigma", "socm", "cosine"]
    np.testing.assert_allclose(pairs["cosine"], 1 - 2 * np.asarray(pairs["d_mu"]), atol=1e-12)
    saved = json.loads((out / "summary.json").read_text())
    assert saved["avg_cosine"] == pytest.approx(np.mean(pairs["cosine"]), abs=1e-12)
    lo, hi = saved["avg_cosine_ci95"]
    assert lo < saved["avg_cosine"] < hi and saved["avg_cosine_se"] > 0
    texts = [json.loads(x) for x in (out / "texts.jsonl").read_text().splitlines()]
    first = [
        c
        for a, b, c in zip(pairs["text1_id"], pairs["text2_id"], pairs["cosine"], strict=True)
        if texts[0]["id"] in (a, b)
    ]
    assert texts[0]["mean_cosine"] == pytest.approx(np.mean(first), abs=1e-12)
    pf = tmp_path / "pairs.tsv"
    pf.write_text("0\t5\tpos\n17\t3\tneg\n5\t17\tneg\n")
    listed, _ = run_measure(
        config(wiki_head, tmp_path, pairs_file=str(pf), out=str(tmp_path / "l"))
    )
    assert set(listed["by_label"]["pos"]) == {
        "n_pairs",
        "avg_socm",
        "avg_d_mu",
        "avg_d_sigma",
        "avg_cosine",
    }
