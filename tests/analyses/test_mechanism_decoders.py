"""socm mechanism on pre-norm decoders: the captured H, Y, X rebuilt from each layer's weights
(the mapping), λ against its definition computed another way, r and C as defined, and λ
refused where it does not exist (Gemma's sandwich norms)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import run_config
from tiny_decoders import SENTENCES

from socm.analyses.mechanism import batch_layer_quantities, raw_spread, run_mechanism
from socm.analyses.prenorm import (
    PreNormCapture,
    prenorm_head_norms,
    prenorm_specs,
    recompute_prenorm_output,
    recompute_prenorm_residual,
    rms_gain,
)
from socm.encode import Encoder

TEXTS = SENTENCES[:4]


def forward(folder):
    enc = Encoder(str(folder), device="cpu", attn_implementation="eager")
    specs = prenorm_specs(enc.model)
    _, batch = next(enc.batches(enc.tokenize(TEXTS)))
    cap = PreNormCapture(specs)
    try:
        with torch.inference_mode():
            out = enc.model(**batch, output_hidden_states=True, output_attentions=True)
    finally:
        cap.close()
    return enc, specs, batch, cap, out


@pytest.mark.parametrize("arch", ["qwen3", "llama", "mistral", "gemma3"])
def test_captures_are_rebuilt_from_each_layers_weights(tiny_decoder, arch):
    """Y = H + attention branch on the RMS-normalised tokens (Gemma: normalised again), X the
    layer's own output: rebuilt from the captured H and attention matrices; the last entry of
    hidden_states is X after the model's final norm, not X."""
    _, specs, batch, cap, out = forward(tiny_decoder(arch))
    assert len(specs) == 2 and [s.sandwich for s in specs] == [arch == "gemma3"] * 2
    n = int(batch["attention_mask"][-1].sum())  # the shortest text, right-padded
    for layer, spec in enumerate(specs):
        h, y, x = cap.h[layer][-1, :n], cap.y[layer][-1, :n], cap.x[layer][-1, :n]
        a = out.attentions[layer][-1, :, :n, :n]
        torch.testing.assert_close(out.hidden_states[layer][-1, :n], h, atol=0, rtol=0)
        with torch.inference_mode():
            torch.testing.assert_close(
                recompute_prenorm_residual(spec, h, a), y, atol=1e-5, rtol=1e-5
            )
            torch.testing.assert_close(recompute_prenorm_output(spec, y), x, atol=1e-5, rtol=1e-5)
    assert (out.hidden_states[-1] - cap.x[-1]).abs().max() > 1e-2


def test_lambda_r_and_c_against_their_definitions(tiny_decoder):
    """λ_h = ||W^o_h W^v_g(h) diag(γ)||²_op ||P A_h||²_F / (n - 1) with the operator norm from a
    full SVD of the D × D product (grouped-query heads: 4 query heads on 2 value heads), r and
    C from the captured H, Y, X, for one text."""
    _, specs, batch, cap, out = forward(tiny_decoder("qwen3"))
    spec = specs[1]
    gamma = spec.norm_in.weight.detach().double()  # Qwen3's RMSNorm: the weight is the gain
    torch.testing.assert_close(rms_gain(spec.norm_in), gamma, atol=1e-6, rtol=1e-6)
    d = spec.head_dim
    norms = prenorm_head_norms(spec)
    for h in range(spec.heads):
        g = h // (spec.heads // spec.kv_heads)
        wo = spec.out.weight.detach().double()[:, h * d : (h + 1) * d]
        wv = spec.value.weight.detach().double()[g * d : (g + 1) * d] * gamma[None, :]
        top = torch.linalg.svdvals(wo @ wv)[0].item() ** 2
        assert norms[h] == pytest.approx(top, rel=1e-10)
    mask = batch["attention_mask"].bool()
    lam, r, c = batch_layer_quantities(cap.h[1], cap.y[1], cap.x[1], out.attentions[1], mask, norms)
    n = int(mask[0].sum())
    a = out.attentions[1][0, :, :n, :n].double()
    p = torch.eye(n, dtype=torch.float64) - 1.0 / n
    want = norms * np.array([float((p @ a[k]).pow(2).sum()) for k in range(spec.heads)]) / (n - 1)
    np.testing.assert_allclose(lam[0], want, rtol=1e-9)
    h, y, x = (t[0, :n].double() for t in (cap.h[1], cap.y[1], cap.x[1]))
    mu2 = lambda m: float((m.mean(0) ** 2).sum())  # noqa: E731
    assert r[0] == pytest.approx(float(raw_spread(h)) / mu2(y), rel=1e-10)
    want_c = (float(raw_spread(x)) / mu2(x)) / (float(raw_spread(y)) / mu2(y))
    assert c[0] == pytest.approx(want_c, rel=1e-10)


def test_run_on_decoders_refuses_lambda_for_sandwich_norms(tiny_decoder, tmp_path):
    for arch in ("qwen3", "gemma3"):
        corpus = tmp_path / "texts.txt"
        corpus.write_text("\n".join(SENTENCES[:6]) + "\n")
        cfg = run_config(corpus, tmp_path, model=str(tiny_decoder(arch)), n_texts="all")
        cfg.out = str(tmp_path / arch)
        records, out = run_mechanism(cfg)
        info = json.loads((out / "mechanism_info.json").read_text())
        assert info["block"].startswith("pre-norm (RMSNorm)")
        assert all(np.isfinite(r["r_mean"]) and np.isfinite(r["C_mean"]) for r in records)
        if arch == "gemma3":
            assert all(r["lambda_mean"] is None for r in records)
            assert info["lambda"].startswith("refused: the attention output is RMS-normalised")
        else:
            assert all(0 < r["lambda_mean"] for r in records)
            assert "not a term of the paper's O(rC) bound" in info["lambda"]


@pytest.mark.parametrize(("arch", "offset"), [("llama", 0.0), ("gemma3", 1.0)])
def test_rms_gain_is_weight_or_one_plus_weight(tiny_decoder, arch, offset):
    enc = Encoder(str(tiny_decoder(arch)), device="cpu")
    norm = prenorm_specs(enc.model)[0].norm_in
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(-0.5, 2.0, norm.weight.shape[0]))
    want = norm.weight.detach().double() + offset
    assert torch.equal(rms_gain(norm), want)
