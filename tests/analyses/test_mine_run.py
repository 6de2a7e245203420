"""``socm mine`` end to end on real text: run folder, values against ``socm.mine``, errors,
the sharded float16 cache, and ``pair_texts`` for ``socm pair``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import MODEL, run_config

import socm
from socm.analyses.mine import (
    format_mine,
    pair_texts,
    read_mine_run,
    run_mine,
    shorten,
)
from socm.cli import main
from socm.encode import Encoder
from socm.errors import SocmError

N_TEXTS = 200
CANDIDATE_COLUMNS = [
    "text1_id",
    "text2_id",
    "cosine",
    "cosine_percentile",
    "neighbor_rank_1",
    "neighbor_rank_2",
    "d_mu",
    "d_sigma",
    "socm",
    "relative_d_sigma",
    "rank",
]


@pytest.fixture(scope="module")
def corpus(wiki_head, tmp_path_factory) -> Path:
    """The first 200 lines of the shared wiki1m head."""
    lines = wiki_head.read_text(encoding="utf-8").splitlines()[:N_TEXTS]
    path = tmp_path_factory.mktemp("mine") / "wiki200.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cli_run(corpus):
    """One ``socm mine`` run through the command line: (run folder, cache folder, stdout)."""
    base = corpus.parent
    out, cache = base / "run", base / "cache"
    args = ["mine", "--corpus", str(corpus), "--out", str(out), "--cache-dir", str(cache)]
    args += ["--device", "cpu", "-q", "--neighbors", "5", "--top-k", "all", "--show", "3"]
    capture = base / "stdout.txt"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main([*args, "--rank-by", "relative_d_sigma"]) == 0
    capture.write_text(buf.getvalue(), encoding="utf-8")
    return out, cache, buf.getvalue()


def mined_texts(corpus: Path) -> list[str]:
    """The texts ``socm mine`` searches by default: 5 tokens of their own at least, each once."""
    texts = [t.strip() for t in corpus.read_text(encoding="utf-8").splitlines() if t.strip()]
    own = Encoder(MODEL, cache_dir=None, device="cpu").policy.own_counts(texts)
    return list(dict.fromkeys(t for t, k in zip(texts, own, strict=True) if k >= 5))


def cached_embeddings(corpus: Path, cache: Path, **kw) -> list[np.ndarray]:
    texts = mined_texts(corpus)
    enc = Encoder(MODEL, cache_dir=cache, device="cpu", **kw)
    res = enc.encode(texts)
    assert res.n_cached == len(texts) and not enc.model_loaded  # all from the mine run's cache
    return res.embeddings


def test_run_folder_files_and_columns(cli_run):
    out, _, stdout = cli_run
    names = {p.name for p in out.iterdir()}
    assert {"candidates.parquet", "texts.parquet", "mine_summary.json", "socm-run.json"} == names
    summary, cand, texts = read_mine_run(out)
    assert cand.column_names == CANDIDATE_COLUMNS
    assert texts.column_names[:4] == ["id", "text", "n_tokens", "truncated"]
    assert {"normalized_spread", "neighbor_mean_cosine", "neighbor_mean_relative_d_sigma"} <= set(
        texts.column_names
    )
    n = len(mined_texts(Path(summary["config"]["corpus"])))
    assert 0 < n < N_TEXTS  # the first 200 wiki1m lines hold fragments ("Birt.", "in 1911.")
    assert texts.num_rows == n and cand.num_rows == summary["n_candidates"]
    assert summary["n_fragments_excluded"] == N_TEXTS - n and summary["n_duplicates_excluded"] == 0
    assert cand["rank"].to_pylist() == list(range(1, cand.num_rows + 1))
    rel = np.asarray(cand["relative_d_sigma"])
    assert (np.diff(rel) <= 0).all() and (rel >= 0).all() and (rel <= 1 + 1e-12).all()
    for key in ("model", "corpus", "n_texts", "neighbors", "rank_by", "n_candidates", "top_k"):
        assert key in summary
    assert summary["n_texts"] == n and summary["n_texts_corpus"] == N_TEXTS
    assert summary["neighbors"] == 5 and summary["min_tokens"] == 5
    assert summary["top_k"] is None and summary["max_per_text"] is None
    assert summary["neighbor_info"]["method"] == "exact" and summary["neighbor_info"]["exact"]
    assert summary["search"] == "auto" and summary["search_method"] == "exact"
    assert summary["config"]["extra"]["mine"]["rank_by"] == "relative_d_sigma"
    assert summary["config"]["n_texts"] == "all"
    assert {"encode_s", "stats_s", "neighbors_s", "scoring_s", "total_s"} <= set(summary["timings"])
    assert summary["versions"]["socm"]
    # the printed top list: the numbers and both texts of each pair, shortened
    top = summary["top_pairs"]
    assert len(top) == 3 and top[0]["text1_id"] == cand["text1_id"][0].as_py()
    assert f"{top[0]['relative_d_sigma']:.4f}" in stdout
    assert shorten(top[0]["text1"], 79)[:40] in stdout
    assert shorten(top[0]["text2"], 79)[:40] in stdout
    assert f"{n:,} texts searched ({N_TEXTS - n} fragments (< 5 tokens) left out)" in stdout
    assert "output:" in stdout and "cos pct" in stdout and "onfus" not in stdout
    assert "no shape score marked the pairs humans rate less similar" in " ".join(stdout.split())
    assert f"{top[0]['cosine_percentile']:.2f}" in stdout
    assert top[0]["neighbor_rank_1"] or top[0]["neighbor_rank_2"]
    assert summary["random_pair_cosines"]["n_pairs"] == min(100_000, n * (n - 1) // 2)


def test_candidates_equal_socm_mine_on_the_same_embeddings(cli_run, corpus):
    out, cache, _ = cli_run
    emb = cached_embeddings(corpus, cache)
    ref = socm.mine(emb, neighbors=5, rank_by="relative_d_sigma")
    _, cand, texts = read_mine_run(out)
    ids = texts["id"].to_pylist()
    assert cand["text1_id"].to_pylist() == [ids[i] for i in ref.i]
    assert cand["text2_id"].to_pylist() == [ids[j] for j in ref.j]
    for col in ("cosine", "d_mu", "d_sigma", "socm", "relative_d_sigma"):
        np.testing.assert_array_equal(np.asarray(cand[col]), getattr(ref, col))
    per = ref.per_text()
    np.testing.assert_array_equal(np.asarray(texts["neighbor_mean_cosine"]), per["mean_cosine"])
    np.testing.assert_array_equal(
        np.asarray(texts["neighbor_mean_relative_d_sigma"]), per["mean_relative_d_sigma"]
    )
    np.testing.assert_array_equal(np.asarray(texts["n_candidates"]), per["n_candidates"])
    spreads = [socm.normalized_spread(e) for e in emb]
    np.testing.assert_array_equal(np.asarray(texts["normalized_spread"]), spreads)
    assert texts["n_tokens"].to_pylist() == [e.shape[0] for e in emb]
    # the candidates are each text's 5 nearest by cosine, so every text has at least 5
    assert min(per["n_candidates"]) >= 5


def test_streaming_blocks_rerun_and_options(cli_run, corpus, tmp_path):
    out, cache, _ = cli_run
    c = run_config(corpus, tmp_path, cache_dir=str(cache), out=str(tmp_path / "small-blocks"))
    summary, folder = run_mine(c, neighbors=5, top_k=None, rank_by="relative_d_sigma", block=64)
    n = summary["n_texts"]
    assert summary["timings"]["n_cached"] == n and summary["timings"]["n_encoded"] == 0
    a, b = read_mine_run(out)[1], read_mine_run(folder)[1]
    assert a.equals(b)  # blocks of 64 give the same run as one block
    _, same = run_mine(c, neighbors=5, top_k=None, rank_by="relative_d_sigma", block=64)
    assert same == folder  # a rerun reuses its folder
    with pytest.raises(SocmError, match="holds a run of .* with other texts or settings"):
        run_mine(c, neighbors=5, rank_by="socm")  # another ranking: refused in that folder
    capped, folder2 = run_mine(
        run_config(corpus, tmp_path, cache_dir=str(cache), out=str(tmp_path / "capped")),
        neighbors=5,
        top_k=20,
        rank_by="socm",
        max_per_text=1,
    )
    cand = pq.read_table(folder2 / "candidates.parquet").to_pydict()
    assert len(cand["rank"]) == capped["n_kept"] == 20
    ids = cand["text1_id"] + cand["text2_id"]
    assert len(set(ids)) == len(ids)  # at most one kept pair per text
    assert np.all(np.diff(cand["socm"]) <= 0)
    text = format_mine(capped, folder2)
    assert "ranked by socm, at most 1 per text" in text and "(10 more in candidates.parquet)" in (
        text
    )


def test_pair_texts_for_socm_pair(cli_run):
    out, _, _ = cli_run
    summary, cand, texts = read_mine_run(out)
    text_a, text_b, ids = pair_texts(out, 2)
    row = {k: cand[k][1].as_py() for k in ("text1_id", "text2_id")}
    assert ids == (row["text1_id"], row["text2_id"])
    by_id = dict(zip(texts["id"].to_pylist(), texts["text"].to_pylist(), strict=True))
    assert (text_a, text_b) == (by_id[ids[0]], by_id[ids[1]])
    assert (text_a, text_b) == (summary["top_pairs"][1]["text1"], summary["top_pairs"][1]["text2"])
    with pytest.raises(
        SocmError, match=f"no pair at rank 99999; the run lists ranks 1..{cand.num_rows}"
    ):
        pair_texts(out, 99999)
    with pytest.raises(SocmError, match="missing candidates.parquet"):
        pair_texts(out.parent, 1)


def test_float16_cache_round_trip_and_error_bound(cli_run, corpus, tmp_path):
    """float16 storage on real text: the run equals ``socm.mine`` on what the float16 cache
    holds, and SOCM, d_Σ and d_μ move by less than 2e-4 from float32 (docs/numerics.md: ~7e-5
    measured on 500 wiki1m sentences)."""
    _, cache, _ = cli_run
    emb32 = cached_embeddings(corpus, cache)
    half = [e.astype(np.float16).astype(np.float32) for e in emb32]
    a, b = socm.pairwise(emb32), socm.pairwise(half)
    for k in ("d_mu", "d_sigma", "socm"):
        assert np.abs(getattr(a, k) - getattr(b, k)).max() < 2e-4, k
    # the command with --cache-dtype float16 on 40 of the texts
    small = tmp_path / "wiki40.txt"
    small.write_text("\n".join(corpus.read_text().splitlines()[:40]) + "\n")
    args = ["mine", "--corpus", str(small), "--out", str(tmp_path / "f16")]
    args += ["--cache-dir", str(cache), "--device", "cpu", "-q", "--neighbors", "3"]
    assert main([*args, "--cache-dtype", "float16", "--top-k", "all", "--json"]) == 0
    summary, cand, _ = read_mine_run(tmp_path / "f16")
    assert summary["cache_dtype"] == "float16"
    emb16 = cached_embeddings(small, cache, cache_dtype="float16")
    ref = socm.mine(emb16, neighbors=3)
    assert len(emb16) == summary["n_texts"] < 40
    np.testing.assert_array_equal(np.asarray(cand["socm"]), ref.socm)
    enc32 = Encoder(MODEL, cache_dir=cache, device="cpu")
    enc16 = Encoder(MODEL, cache_dir=cache, device="cpu", cache_dtype="float16")
    assert enc16.cache.dir != enc32.cache.dir and len(enc16.cache) == summary["n_texts"]
    loc = enc16.cache.locate(socm.encode.text_key(mined_texts(small)[0]))
    assert loc.dtype == "<f2"


def test_user_errors_are_one_line(corpus, tmp_path, capsys):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text(
        "The first text of this corpus.\nAnother text, somewhat longer.\nA third text here.\n"
    )
    base = ["mine", "--corpus", str(tiny), "--out", str(tmp_path / "r"), "--device", "cpu", "-q"]
    base += ["--cache-dir", str(tmp_path / "c")]
    assert main([*base, "--neighbors", "3"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "socm: error: --neighbors 3 must be smaller than the number of texts (3): use at most 2"
    )
    assert not (tmp_path / "r").exists()
    assert main([*base, "--neighbors", "0"]) == 2
    assert "--neighbors" in capsys.readouterr().err
    assert main([*base, "--rank-by", "cosine"]) == 2
    assert main([*base, "--pairs", "x.tsv"]) == 2  # mining takes no pairs file
    with pytest.raises(SocmError, match="--top-k must be a whole number >= 1, got 0"):
        run_mine(run_config(tiny, tmp_path), top_k=0)
    with pytest.raises(SocmError, match="^block must be a whole number >= 1, got 0"):
        run_mine(run_config(tiny, tmp_path), block=0)  # a parameter without a flag
    with pytest.raises(SocmError, match="--cache-dtype must be one of float32, float16"):
        run_mine(run_config(tiny, tmp_path), cache_dtype="int8")
    with pytest.raises(SocmError, match="drop --pairs"):
        run_mine(run_config(tiny, tmp_path, pairs_file="p.tsv"))


def test_json_output(cli_run, corpus, capsys):
    out, cache, _ = cli_run
    args = ["mine", "--corpus", str(corpus), "--out", str(out), "--cache-dir", str(cache)]
    args += ["--device", "cpu", "-q", "--neighbors", "5", "--top-k", "all", "--show", "3"]
    assert main([*args, "--rank-by", "relative_d_sigma", "--json"]) == 0  # a rerun: cached
    summary = json.loads(capsys.readouterr().out)
    assert summary["timings"]["n_encoded"] == 0 and summary["n_texts"] == len(mined_texts(corpus))
    assert summary["top_pairs"][0]["rank"] == 1
