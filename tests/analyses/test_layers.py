"""socm layers on the packaged model: definitions, cache reuse after measure, outputs."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import MODEL, run_config

import socm
from socm.analyses.layers import run_layers
from socm.encode import Encoder
from socm.measure import run_measure


def cfg(wiki_head, tmp_path, **kw):
    return run_config(wiki_head, tmp_path, **{"n_texts": 10, **kw})


def test_layers_after_measure_reuse_the_cache_and_match_definitions(wiki_head, tmp_path):
    c = cfg(wiki_head, tmp_path)
    run_measure(c)
    records, out = run_layers(c)
    info = json.loads((out / "layers_info.json").read_text())
    assert info["timings"]["n_encoded"] == 0 and info["timings"]["n_cached"] == 10
    table = pq.read_table(out / "layers.parquet").to_pydict()
    assert list(table) == ["text_id", "layer", "normalized_spread", "avg_cos"]
    assert len(table["layer"]) == 10 * 7 and sorted(set(table["layer"])) == list(range(7))
    summary = json.loads((out / "layers_summary.json").read_text())
    assert [r["layer"] for r in summary] == list(range(7))
    assert {"normalized_spread_mean", "avg_cos_mean"} <= set(summary[0])
    # the last layer's spreads equal the measure run's per-text values
    texts = [json.loads(x) for x in (out / "texts.jsonl").read_text().splitlines()]
    last = [
        v for v, layer in zip(table["normalized_spread"], table["layer"], strict=True) if layer == 6
    ]
    # profiles run in the hidden states' float32 (relative accuracy ~1e-6, see spread_and_cosine)
    np.testing.assert_allclose(last, [t["normalized_spread"] for t in texts], rtol=1e-5)
    # every layer against the definitions on independently extracted hidden states
    for layer in (0, 3):
        emb = (
            Encoder(MODEL, cache_dir=None, device="cpu", layer=layer)
            .encode([t["text"] for t in texts])
            .embeddings
        )
        got = [
            v
            for v, la in zip(table["normalized_spread"], table["layer"], strict=True)
            if la == layer
        ]
        np.testing.assert_allclose(got, [socm.normalized_spread(e) for e in emb], rtol=1e-5)
        cos = [v for v, la in zip(table["avg_cos"], table["layer"], strict=True) if la == layer]
        np.testing.assert_allclose(cos, [socm.core.stats.avg_cosine(e) for e in emb], rtol=1e-5)
    assert records[6]["normalized_spread_mean"] == pytest.approx(np.mean(last), rel=1e-12)


def test_per_layer_socm(wiki_head, tmp_path):
    c = cfg(wiki_head, tmp_path, n_texts=6)
    records, _ = run_layers(c, per_layer_socm=True)
    measured, _ = run_measure(cfg(wiki_head, tmp_path, n_texts=6, out=str(tmp_path / "m")))
    assert records[-1]["avg_socm"] == pytest.approx(measured["avg_socm"], abs=1e-9)
    assert records[-1]["n_pairs"] == 15
    emb0 = Encoder(MODEL, cache_dir=None, device="cpu", layer=0)
    texts = [
        json.loads(x)["text"] for x in (tmp_path / "m" / "texts.jsonl").read_text().splitlines()
    ]
    ref0 = socm.pairwise(emb0.encode(texts).embeddings).socm.mean()
    assert records[0]["avg_socm"] == pytest.approx(ref0, rel=1e-6)
