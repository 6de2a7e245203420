"""Measure runs on decoder embedders: the native-pooling variant end to end (against
sentence-transformers' own embeddings), the sink-token statistics, the pooling line, settings
hashes of earlier runs, socm compare of mean against native pooling, socm layers on decoders,
and the command line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import run_config
from tiny_decoders import SENTENCES

from socm.analyses.compare import run_compare
from socm.analyses.layers import run_layers
from socm.cli import main
from socm.measure import MeasureConfig, run_measure
from socm.measure.summary import format_summary
from socm.measure.writer import run_identity, settings_hash

PROMPT = {"prompt_name": "query", "exclude_prompt_tokens": True}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "texts.txt"
    path.write_text("\n".join(SENTENCES[:10]) + "\n", encoding="utf-8")
    return path


def read_texts(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "texts.jsonl").read_text().splitlines()]


def test_native_pooling_variant_end_to_end(tiny_decoder, corpus, tmp_path):
    """d_mu from the model's own (last-token) embedding, d_sigma from the token covariances
    as with mean pooling, SOCM = (1 - d_mu) d_sigma; labelled in the summary and the table."""
    folder = str(tiny_decoder("qwen3"))
    base = run_config(corpus, tmp_path, model=folder, n_texts="all", **PROMPT)
    mean, mean_dir = run_measure(replace(base, out=str(tmp_path / "mean")))
    native, native_dir = run_measure(replace(base, out=str(tmp_path / "native"), pooling="model"))
    assert (mean["pooling"], native["pooling"]) == ("mean", "model")
    assert mean["model_pooling"]["mode"] == native["model_pooling"]["mode"] == "lasttoken"
    assert mean["pooling_note"] == (
        "this model pools by its last token; SOCM measures what mean pooling would lose"
    )
    assert native["pooling_note"] is None
    assert "native pooling" in native["variant"] and "beyond the paper" in native["variant"]
    assert "this model pools by its last token" in format_summary(mean, mean_dir)
    assert "variant" in format_summary(native, native_dir)
    a = pq.read_table(mean_dir / "pairs.parquet").to_pandas()
    b = pq.read_table(native_dir / "pairs.parquet").to_pandas()
    assert list(a.text1_id) == list(b.text1_id) and list(a.text2_id) == list(b.text2_id)
    np.testing.assert_array_equal(a.d_sigma, b.d_sigma)  # the same covariances
    np.testing.assert_allclose(b.socm, (1 - b.d_mu) * b.d_sigma, rtol=1e-12, atol=0)
    assert np.abs(a.d_mu - b.d_mu).max() > 1e-3  # last token is not the mean
    st = pytest.importorskip("sentence_transformers")
    emb = st.SentenceTransformer(folder, device="cpu").encode(
        SENTENCES[:10], prompt_name="query", show_progress_bar=False
    )
    i, j = b.text1_id.astype(int).to_numpy(), b.text2_id.astype(int).to_numpy()
    want = ((emb[i] - emb[j]) ** 2).sum(1) / 4  # its embeddings are unit length
    np.testing.assert_allclose(b.d_mu, want, rtol=0, atol=2e-6)


def test_sink_statistics_in_texts_and_summary(tiny_decoder, corpus, tmp_path):
    """A BOS 1000 times the others at the embedding output: every text's top token holds over
    half its spread; --exclude-first-token measures without it."""
    folder = str(tiny_decoder("llama", sink_scale=1000.0))
    cfg = run_config(corpus, tmp_path, model=folder, n_texts="all", layer=0)
    summary, out = run_measure(cfg)
    texts = read_texts(out)
    shares = np.array([t["top_token_share"] for t in texts])
    bound = np.array([(t["n_tokens"] - 1) / t["n_tokens"] for t in texts])
    assert (shares > bound - 1e-3).all()
    assert summary["top_token_share_median"] == pytest.approx(float(np.median(shares)), abs=0)
    assert summary["share_top_token_over_half"] == 1.0
    assert "texts over 1/2: 100.0%" in format_summary(summary, out)
    without, out2 = run_measure(replace(cfg, exclude_first_token=True, out=str(tmp_path / "b")))
    assert without["share_top_token_over_half"] == 0.0
    assert without["token_policy"]["first_token"] == "excluded"
    assert [t["n_tokens"] for t in read_texts(out2)] == [t["n_tokens"] - 1 for t in texts]


def test_earlier_settings_keep_their_hash_and_identity():
    """Default values of the new options stay out of the settings: earlier run folders keep
    their names (hashes computed by socm before this change)."""
    assert settings_hash(MeasureConfig()) == "3de4d2d0"
    assert settings_hash(MeasureConfig(model="x", prefix="query: ", n_texts=5)) == "c4810003"
    new = {"prompt", "prompt_name", "exclude_prompt_tokens", "exclude_first_token", "dtype"}
    assert not (new | {"pooling"}) & set(MeasureConfig().result_key())
    assert not new & set(run_identity(MeasureConfig()))
    native = MeasureConfig(pooling="model")
    assert settings_hash(native) != "3de4d2d0"
    assert run_identity(native) == run_identity(MeasureConfig())  # layers may join it
    assert run_identity(MeasureConfig(dtype="bfloat16"))["dtype"] == "bfloat16"
    assert settings_hash(MeasureConfig(prompt="q: ")) != settings_hash(MeasureConfig(prefix="q: "))


def test_compare_sets_native_against_mean_pooling(tiny_decoder, corpus, tmp_path):
    folder = str(tiny_decoder("qwen3"))
    cfg = run_config(corpus, tmp_path, model=folder, n_texts="all", **PROMPT)
    records = run_compare([folder], cfg, tmp_path / "cmp", both_poolings=True)
    mean, native = records
    assert (mean["pooling"], native["pooling"]) == ("mean", "model")
    assert native["backbone"] == folder and mean["backbone"] is None
    assert native["delta_vs_backbone"] == pytest.approx(native["avg_socm"] - mean["avg_socm"])
    assert native["delta_ci95"] is not None  # paired over the same pairs
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert f"{folder} (native pooling)" in md and "extension beyond the paper" in md
    with pytest.raises(Exception, match="drop --backbone"):
        run_compare([folder], cfg, tmp_path / "cmp2", backbone=folder, both_poolings=True)


def test_layers_on_a_decoder(tiny_decoder, corpus, tmp_path):
    """Per-layer spread and cosine from output_hidden_states (0 = embeddings, L = the last
    hidden state after the final norm): the last row equals the measure run's spreads and
    per-layer SOCM its average."""
    folder = str(tiny_decoder("qwen3"))
    cfg = run_config(corpus, tmp_path, model=folder, n_texts="all")
    summary, out = run_measure(cfg)
    records, _ = run_layers(cfg, per_layer_socm=True)
    assert [r["layer"] for r in records] == [0, 1, 2]
    spreads = [t["normalized_spread"] for t in read_texts(out)]
    assert records[-1]["normalized_spread_mean"] == pytest.approx(np.mean(spreads), rel=1e-5)
    assert records[-1]["avg_socm"] == pytest.approx(summary["avg_socm"], abs=1e-6)
    assert records[0]["avg_socm"] != pytest.approx(records[-1]["avg_socm"], abs=1e-3)


def test_command_line(tiny_decoder, corpus, tmp_path, capsys):
    folder = str(tiny_decoder("qwen3"))
    common = ["--model", folder, "--corpus", str(corpus), "--n-texts", "all", "-q"]
    common += ["--device", "cpu", "--cache-dir", str(tmp_path / "cache")]
    assert main(["measure", *common, "--out", str(tmp_path / "a")]) == 0
    assert "this model pools by its last token" in capsys.readouterr().out
    flags = ["--pooling", "model", "--prompt-name", "query", "--exclude-prompt-tokens"]
    assert (
        main(["measure", *common, *flags, "--dtype", "bfloat16", "--out", str(tmp_path / "b")]) == 0
    )
    out = capsys.readouterr().out
    assert "native pooling" in out and "forward dtype            bfloat16" in out
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["forward_dtype"] == "bfloat16"
    assert summary["config"]["prompt_name"] == "query"
    assert main(["mechanism", *common, "--exclude-first-token", "--out", str(tmp_path / "c")]) == 1
    assert "drop --exclude-prompt-tokens and --exclude-first-token" in capsys.readouterr().err
    assert main(["measure", *common, "--pooling", "model", "--layer", "1"]) == 1
    assert "drop --layer" in capsys.readouterr().err


def test_mine_and_layers_refuse_native_pooling(tiny_decoder, corpus, tmp_path):
    from socm.analyses.mine import run_mine
    from socm.errors import SocmError

    cfg = run_config(corpus, tmp_path, model=str(tiny_decoder("qwen3")), pooling="model")
    with pytest.raises(SocmError, match="mean-pooled"):
        run_mine(cfg)
    with pytest.raises(SocmError, match="mean pooling at every layer"):
        run_layers(cfg)


def test_auto_dtype_follows_the_config_on_the_workers_device(tiny_decoder):
    """A cluster run reports the workers' forward dtype: auto resolves on their device."""
    from socm.measure.config import make_encoder
    from socm.measure.job import worker_dtype

    cfg = MeasureConfig(model=str(tiny_decoder("qwen3", dtype="bfloat16")), device="cpu")
    enc = make_encoder(cfg, cache_dir=None)
    assert enc.forward_dtype == "float32"
    assert worker_dtype(cfg, enc, "cuda") == "bfloat16"
    assert worker_dtype(cfg, enc, "cpu") == "float32"
    assert worker_dtype(replace(cfg, dtype="float16"), enc, "cuda") == "float16"
