"""socm mechanism: hooks proven right by recomputing every layer, λ/r/C definitions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import MODEL, run_config

from socm.analyses.mechanism import (
    ResidualCapture,
    head_operator_norms,
    layer_quantities,
    layer_specs,
    raw_spread,
    recompute_layer_output,
    recompute_residual,
    run_mechanism,
)
from socm.encode import Encoder
from socm.errors import SocmError

TEXTS = ["The cat sat on the mat.", "Second-order statistics are lost by mean pooling of tokens."]
# all-mpnet-base-v2 as assembled by scripts/fetch_all_mpnet_base_v2.py (not in the default set-up)
MPNET = Path(
    os.environ.get(
        "SOCM_MPNET_PATH",
        Path.home() / ".cache/socm/models/sentence-transformers/all-mpnet-base-v2",
    )
)


@pytest.fixture(scope="module")
def eager():
    enc = Encoder(MODEL, cache_dir=None, device="cpu", attn_implementation="eager")
    return enc, enc.model


@pytest.mark.parametrize(
    ("model_name", "n_layers"),
    [
        (MODEL, 6),
        pytest.param(
            str(MPNET),
            12,
            marks=pytest.mark.skipif(
                not (MPNET / "config.json").exists(),
                reason="all-mpnet-base-v2 not assembled (scripts/fetch_all_mpnet_base_v2.py)",
            ),
        ),
    ],
)
def test_hooks_capture_y_and_recompute_every_layer(model_name, n_layers):
    enc = Encoder(model_name, cache_dir=None, device="cpu", attn_implementation="eager")
    model = enc.model
    specs = layer_specs(model)
    assert len(specs) == n_layers and specs[0].heads == 12
    _, batch = next(enc.batches(enc.tokenize(TEXTS[:2])))
    cap = ResidualCapture(specs)
    try:
        with torch.inference_mode():
            out = model(**batch, output_hidden_states=True, output_attentions=True)
    finally:
        cap.close()
    n = int(batch["attention_mask"][0].sum())  # the shorter text, right-padded
    for layer, spec in enumerate(specs):
        h = out.hidden_states[layer][0, :n]
        y = cap.inputs[layer][0, :n]
        a = out.attentions[layer][0, :, :n, :n]
        with torch.inference_mode():
            torch.testing.assert_close(recompute_residual(spec, h, a), y, atol=2e-5, rtol=1e-5)
            torch.testing.assert_close(
                recompute_layer_output(spec, y),
                out.hidden_states[layer + 1][0, :n],
                atol=2e-5,
                rtol=1e-5,
            )
    assert not any(s.norm_attn._forward_pre_hooks for s in specs)  # hooks removed


def test_layer_quantities_against_dense_definitions(eager):
    _, model = eager
    spec = layer_specs(model)[2]
    rng = np.random.default_rng(0)
    n, dim = 7, 384
    h, y, x = (torch.from_numpy(rng.normal(0.3, 1, (n, dim))) for _ in range(3))
    logits = torch.from_numpy(rng.normal(size=(12, n, n)))
    a = torch.softmax(logits, -1)
    norms = head_operator_norms(spec)
    lam, r, c = layer_quantities(h, y, x, a, norms)
    wv = spec.value.weight.detach().double()
    wo = spec.out.weight.detach().double()
    p = torch.eye(n, dtype=torch.float64) - 1.0 / n
    for k in (0, 5, 11):
        w = wo[:, 32 * k : 32 * (k + 1)] @ wv[32 * k : 32 * (k + 1)]
        ref = torch.linalg.matrix_norm(w, ord=2) ** 2 * (p @ a[k]).pow(2).sum() / (n - 1)
        assert lam[k] == pytest.approx(float(ref), rel=1e-9)

    def s(m):
        return float(((m - m.mean(0)) ** 2).sum(1).mean())

    def mu2(m):
        return float((m.mean(0) ** 2).sum())

    assert r == pytest.approx(s(h) / mu2(y), rel=1e-12)
    assert c == pytest.approx((s(x) / mu2(x)) / (s(y) / mu2(y)), rel=1e-12)
    assert float(raw_spread(h)) == pytest.approx(s(h), rel=1e-12)
    # uniform attention is annihilated by P: λ = 0
    lam0, _, _ = layer_quantities(h, y, x, torch.full((12, n, n), 1.0 / n), norms)
    np.testing.assert_allclose(lam0, 0.0, atol=1e-12)
    # identity attention: ||P I||_F^2 = n - 1, so λ = ||W^o W^v||_op^2
    lam1, _, _ = layer_quantities(h, y, x, torch.eye(n).expand(12, n, n), norms)
    np.testing.assert_allclose(lam1, norms, rtol=1e-12)


def test_run_mechanism_outputs(wiki_head, tmp_path):
    cfg = run_config(wiki_head, tmp_path, n_texts=8)
    records, out = run_mechanism(cfg)
    summary = json.loads((out / "mechanism_summary.json").read_text())
    assert [r["layer"] for r in summary] == list(range(1, 7))
    assert {"lambda_mean", "r_mean", "C_mean"} <= set(summary[0])
    assert all(np.isfinite([r["lambda_mean"], r["r_mean"], r["C_mean"]]).all() for r in records)
    assert (out / "mechanism.parquet").exists()


def test_unsupported_architecture():
    class Toy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config = type("C", (), {"num_attention_heads": 2})()
            self.encoder = torch.nn.Module()
            self.encoder.layer = torch.nn.ModuleList([torch.nn.Linear(2, 2)])

    with pytest.raises(SocmError, match="Linear .*Toy.* does not have the modelled form"):
        layer_specs(Toy())
    with pytest.raises(SocmError, match="Sequential has no encoder.layer"):
        layer_specs(torch.nn.Sequential())


def test_batched_quantities_equal_per_text(eager):
    from socm.analyses.mechanism import batch_layer_quantities

    _, model = eager
    norms = head_operator_norms(layer_specs(model)[1])
    rng = np.random.default_rng(3)
    lengths, t, dim = [5, 9, 2], 9, 384
    h, y, x = (torch.from_numpy(rng.normal(0.2, 1, (3, t, dim))) for _ in range(3))
    a = torch.softmax(torch.from_numpy(rng.normal(size=(3, 12, t, t))), -1)
    mask = torch.zeros(3, t, dtype=torch.bool)
    for b, n in enumerate(lengths):
        mask[b, :n] = True
        a[b, :, :, n:] = 0  # padded keys get no attention, as in the model
        a[b, :, :n, :n] /= a[b, :, :n, :n].sum(-1, keepdim=True)
    lam, r, c = batch_layer_quantities(h, y, x, a, mask, norms)
    for b, n in enumerate(lengths):
        lam1, r1, c1 = layer_quantities(h[b, :n], y[b, :n], x[b, :n], a[b, :, :n, :n], norms)
        np.testing.assert_allclose(lam[b], lam1, rtol=1e-10)
        assert r[b] == pytest.approx(r1, rel=1e-10) and c[b] == pytest.approx(c1, rel=1e-10)
