r"""``socm mechanism``: the attention-contraction quantities λ, r, C per layer.

Hara et al. (2026, Sec. 5) model one encoder layer acting on the tokens :math:`H` of a text
(:math:`n` tokens) as

* attention branch :math:`Z = \sum_h W^o_h W^v_h H A_h^\top` (+ biases), with :math:`A_h` the
  row-stochastic attention matrix of head :math:`h`;
* residual :math:`Y = H + Z`, taken before the first LayerNorm;
* token-wise map :math:`X = g(Y)` (LayerNorm → FFN + residual → LayerNorm).

With the spread :math:`S(M) = \frac1n\sum_j \lVert m_j - \mu(M)\rVert^2` of raw tokens and
:math:`P = I - \mathbf 1\mathbf 1^\top/n`, the quantities per text and layer are

.. math::

    \lambda_h = \lVert W^o_h W^v_h\rVert_{op}^2\, \frac{\lVert P A_h\rVert_F^2}{n - 1}, \qquad
    r = \frac{S(H)}{\lVert\mu(Y)\rVert^2}, \qquad
    C = \frac{S(X)/\lVert\mu(X)\rVert^2}{S(Y)/\lVert\mu(Y)\rVert^2},

(:math:`W^v_h`: the head's rows of the value projection, :math:`W^o_h`: the head's columns of the
attention output projection, biases ignored), and :math:`\lambda` is the mean over heads. If
:math:`\lambda < 1` the last layer's normalised spread is :math:`O(rC)`; a normalised spread
below :math:`\varepsilon` for both texts makes SOCM :math:`O(\varepsilon)`.

The layer quantities are computed on every token the attention sees (the layer map acts on all
of them), whatever the measure's special-token policy. The intermediates :math:`Y` are captured
by forward pre-hooks on the first LayerNorm of each layer, the attention matrices from the
model's eager attention; :func:`recompute_residual` and :func:`recompute_layer_output` rebuild
:math:`Y` and :math:`X` from them and the layer's own weights (the tests assert both match).

Supported layers: BERT-style (BERT, RoBERTa, XLM-R, ELECTRA, MiniLM, E5, GTE; ``attention.self``
/ ``attention.output``) and MPNet (``attention.attn`` with relative position bias inside the
softmax, then the same residual + LayerNorm form); and pre-norm decoders (Llama, Mistral, Qwen,
Gemma: ``layers[k].self_attn`` with RMSNorms), where r and C are computed as defined and λ on
the attention's RMS-normalised input, refused in Gemma's sandwich-norm blocks
(:mod:`socm.analyses.prenorm` gives the mapping and what does not carry over).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from socm.analyses.prenorm import (
    SANDWICH_REASON,
    PreNormCapture,
    PreNormSpec,
    prenorm_head_norms,
    prenorm_specs,
)
from socm.errors import SocmError
from socm.measure.config import MeasureConfig
from socm.measure.rundir import per_layer_table, versions
from socm.measure.select import prepare
from socm.measure.writer import write_per_layer
from socm.progress import progress_bar

__all__ = [
    "LayerSpec",
    "ResidualCapture",
    "batch_layer_quantities",
    "layer_quantities",
    "layer_specs",
    "raw_spread",
    "recompute_layer_output",
    "recompute_residual",
    "run_mechanism",
]

_BERT_LIKE = {"BertLayer", "RobertaLayer", "XLMRobertaLayer", "ElectraLayer", "CamembertLayer"}


@dataclass
class LayerSpec:
    """The parts of one encoder layer the mechanism needs."""

    value: torch.nn.Linear  # W^v (all heads)
    out: torch.nn.Linear  # W^o (attention output projection)
    norm_attn: torch.nn.LayerNorm  # its input is Y = H + Z
    inter: torch.nn.Linear
    act: torch.nn.Module
    out_ffn: torch.nn.Linear
    norm_out: torch.nn.LayerNorm
    heads: int


def layer_specs(model: torch.nn.Module) -> list[LayerSpec]:
    """The layers of a supported encoder.

    Raises
    ------
    SocmError
        For an architecture whose layers do not have the modelled form (naming its class).
    """
    encoder = getattr(model, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is None:
        raise SocmError(
            f"socm mechanism supports BERT-style and MPNet encoders and pre-norm decoders; "
            f"{type(model).__name__} has no encoder.layer stack and no pre-norm decoder layers "
            "(layers[k].self_attn.v_proj/o_proj with input_layernorm)"
        )
    heads = int(model.config.num_attention_heads)
    specs = []
    for layer in layers:
        name = type(layer).__name__
        if name in _BERT_LIKE:
            att = layer.attention
            specs.append(
                LayerSpec(
                    att.self.value,
                    att.output.dense,
                    att.output.LayerNorm,
                    layer.intermediate.dense,
                    layer.intermediate.intermediate_act_fn,
                    layer.output.dense,
                    layer.output.LayerNorm,
                    heads,
                )
            )
        elif name == "MPNetLayer":
            att = layer.attention
            specs.append(
                LayerSpec(
                    att.attn.v,
                    att.attn.o,
                    att.LayerNorm,
                    layer.intermediate.dense,
                    layer.intermediate.intermediate_act_fn,
                    layer.output.dense,
                    layer.output.LayerNorm,
                    heads,
                )
            )
        else:
            raise SocmError(
                f"socm mechanism supports BERT-style and MPNet layers; {name} "
                f"({type(model).__name__}) does not have the modelled form"
            )
    return specs


def head_operator_norms(spec: LayerSpec) -> np.ndarray:
    r""":math:`\lVert W^o_h W^v_h\rVert_{op}^2` for every head (float64, shape (heads,)).

    With thin QR factors :math:`W^o_h = Q_o R_o` and :math:`(W^v_h)^\top = Q_v R_v`,
    :math:`W^o_h W^v_h = Q_o (R_o R_v^\top) Q_v^\top`, so the operator norm is that of the small
    :math:`d \times d` matrix :math:`R_o R_v^\top`.
    """
    wv = spec.value.weight.detach().double()  # (H*d, D): rows per head
    wo = spec.out.weight.detach().double()  # (D, H*d): columns per head
    d = wv.shape[0] // spec.heads
    out = np.empty(spec.heads)
    for h in range(spec.heads):
        ro = torch.linalg.qr(wo[:, h * d : (h + 1) * d], mode="r").R
        rv = torch.linalg.qr(wv[h * d : (h + 1) * d].T, mode="r").R
        out[h] = float(torch.linalg.matrix_norm(ro @ rv.T, ord=2)) ** 2
    return out


def raw_spread(m: torch.Tensor) -> torch.Tensor:
    r""":math:`S(M) = \frac1n\sum_j \lVert m_j - \mu(M)\rVert^2` for tokens in rows."""
    return ((m - m.mean(0)) ** 2).sum(-1).mean()


def layer_quantities(
    h: torch.Tensor, y: torch.Tensor, x: torch.Tensor, attn: torch.Tensor, op_norms: np.ndarray
) -> tuple[np.ndarray, float, float]:
    r"""λ per head, r and C for one text at one layer (formulas in the module docstring).

    Parameters
    ----------
    h, y, x : torch.Tensor, shape (n, D)
        Layer input :math:`H`, residual :math:`Y = H + Z`, layer output :math:`X` (tokens in rows).
    attn : torch.Tensor, shape (heads, n, n)
        Row-stochastic attention matrices.
    op_norms : numpy.ndarray, shape (heads,)
        :math:`\lVert W^o_h W^v_h\rVert_{op}^2` (:func:`head_operator_norms`).

    Returns
    -------
    (numpy.ndarray, float, float)
        λ_h (NaN when n = 1), r, C.
    """
    h, y, x, a = (t.double() for t in (h, y, x, attn))
    n = a.shape[-1]
    # ||P A||_F^2 = ||A||_F^2 - ||1^T A||^2 / n   (P centres the columns)
    pa2 = (a**2).sum((-2, -1)) - (a.sum(-2) ** 2).sum(-1) / n
    lam = op_norms * pa2.cpu().numpy() / (n - 1) if n > 1 else np.full(len(op_norms), np.nan)
    mu_y2 = float((y.mean(0) ** 2).sum())
    r = float(raw_spread(h)) / mu_y2
    c = (float(raw_spread(x)) / float((x.mean(0) ** 2).sum())) / (float(raw_spread(y)) / mu_y2)
    return lam, r, c


def batch_layer_quantities(
    h: torch.Tensor,
    y: torch.Tensor,
    x: torch.Tensor,
    attn: torch.Tensor,
    mask: torch.Tensor,
    op_norms: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r""":func:`layer_quantities` for a padded batch at once (same formulas).

    ``h``, ``y``, ``x``: (B, T, D); ``attn``: (B, heads, T, T); ``mask``: (B, T) bool, True for
    real tokens. Padded query rows and key columns are excluded. Returns λ (B, heads), r (B),
    C (B).
    """
    w = mask.to(torch.float64)
    n = w.sum(1)  # (B,)
    a = attn.double() * w[:, None, :, None] * w[:, None, None, :]
    pa2 = (a**2).sum((-2, -1)) - (a.sum(-2) ** 2).sum(-1) / n[:, None]
    lam = torch.where(n[:, None] > 1, pa2 / (n[:, None] - 1), torch.nan)
    lam = lam.cpu().numpy() * op_norms[None, :]

    def stats(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = m.double()
        mu = (m * w[..., None]).sum(1) / n[:, None]
        spr = (((m - mu[:, None]) ** 2).sum(-1) * w).sum(1) / n
        return spr, (mu**2).sum(-1)

    s_h, _ = stats(h)
    s_y, mu_y2 = stats(y)
    s_x, mu_x2 = stats(x)
    r = (s_h / mu_y2).cpu().numpy()
    c = ((s_x / mu_x2) / (s_y / mu_y2)).cpu().numpy()
    return lam, r, c


def recompute_residual(spec: LayerSpec, h: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
    r""":math:`Y = H + \sum_h W^o_h (W^v_h H + b^v_h) A_h^\top + b^o` from the layer's weights.

    Tokens in rows: ``h`` (n, D), ``attn`` (heads, n, n); returns (n, D).
    """
    v = spec.value(h)  # (n, H*d)
    d = v.shape[-1] // spec.heads
    ctx = torch.cat([attn[k] @ v[:, k * d : (k + 1) * d] for k in range(spec.heads)], dim=-1)
    return h + spec.out(ctx)


def recompute_layer_output(spec: LayerSpec, y: torch.Tensor) -> torch.Tensor:
    """:math:`X = g(Y)`: LayerNorm, then FFN with residual, then LayerNorm."""
    z = spec.norm_attn(y)
    return spec.norm_out(spec.out_ffn(spec.act(spec.inter(z))) + z)


class ResidualCapture:
    """Forward pre-hooks recording the input of each layer's first LayerNorm (that is, Y)."""

    def __init__(self, specs: list[LayerSpec]) -> None:
        self.inputs: list[torch.Tensor | None] = [None] * len(specs)
        self.handles = [
            spec.norm_attn.register_forward_pre_hook(self._hook(k)) for k, spec in enumerate(specs)
        ]

    def _hook(self, k: int):
        def fn(module, args):
            self.inputs[k] = args[0].detach()

        return fn

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


def run_mechanism(cfg: MeasureConfig) -> tuple[list[dict], Path]:
    """λ, r, C for every text and layer; writes ``mechanism.parquet``,
    ``mechanism_summary.json`` and ``mechanism_info.json``. Returns (records, folder).

    Pre-norm decoders go through :mod:`socm.analyses.prenorm` (λ on the attention's
    RMS-normalised input; None in the summary where it does not exist).

    Raises
    ------
    SocmError
        ``long_texts="window"`` (the analysis follows one model input per text).
    """
    if cfg.long_texts != "truncate":
        raise SocmError("socm mechanism analyses one model input per text: drop --long-texts")
    t0 = time.perf_counter()
    job = prepare(cfg, "mechanism", layer=None, attn_implementation="eager")
    chosen, enc = job.texts, job.encoder
    model = enc.model
    pre = prenorm_specs(model)
    specs: list = pre if pre is not None else layer_specs(model)
    if pre is not None:
        op_norms = [prenorm_head_norms(s) for s in pre]
    else:
        op_norms = [head_operator_norms(s) for s in specs]
    tok = enc.tokenize(chosen.texts)
    n_layers = len(specs)
    lam = np.full((len(chosen), n_layers, specs[0].heads), np.nan)
    rr = np.full((len(chosen), n_layers), np.nan)
    cc = np.full((len(chosen), n_layers), np.nan)
    bar = progress_bar(len(chosen), "mechanism", "text", enabled=cfg.progress)
    capture = PreNormCapture(pre) if pre is not None else ResidualCapture(specs)
    try:
        with torch.inference_mode():
            for idx, batch in enc.batches(tok):
                out = model(**batch, output_hidden_states=True, output_attentions=True)
                if out.attentions is None or out.attentions[0] is None:
                    raise SocmError(f"{type(model).__name__} does not return attention matrices")
                mask = batch["attention_mask"].bool()
                for layer in range(n_layers):
                    if pre is not None:
                        h, y, x = capture.h[layer], capture.y[layer], capture.x[layer]
                    else:
                        h, y = out.hidden_states[layer], capture.inputs[layer]
                        x = out.hidden_states[layer + 1]
                    lam[idx, layer], rr[idx, layer], cc[idx, layer] = batch_layer_quantities(
                        h, y, x, out.attentions[layer], mask, op_norms[layer]
                    )
                bar.update(len(idx))
    finally:
        capture.close()
        bar.close()
    records = _layer_records(lam, rr, cc, len(chosen))
    table = per_layer_table(
        chosen.ids,
        np.arange(1, n_layers + 1),
        {"lambda": lam.mean(-1), "r": rr, "C": cc, "lambda_heads": lam},
    )
    write_per_layer(
        job.writer,
        "mechanism",
        table,
        records,
        {
            "model": cfg.model,
            "revision": enc.resolved.revision,
            "architecture": type(model).__name__,
            **_block_info(pre),
            "corpus": chosen.name,
            "n_texts": len(chosen),
            "seed": cfg.seed,
            "tokens": "all tokens the attention sees (special tokens included)",
            "forward_dtype": enc.forward_dtype,
            "head_operator_norms_sq": [
                [None if np.isnan(v) else v for v in x.tolist()] for x in op_norms
            ],
            "timings": {"total_s": round(time.perf_counter() - t0, 3)},
            "versions": versions(),
        },
    )
    return records, job.out


def _layer_records(lam: np.ndarray, rr: np.ndarray, cc: np.ndarray, n_texts: int) -> list[dict]:
    """Per-layer summary records; λ's are None in a layer where it does not exist."""
    lam_mean = lam.mean(-1)
    records = []
    for layer in range(lam.shape[1]):
        lm, r, c = lam_mean[:, layer], rr[:, layer], cc[:, layer]
        has = bool(np.isfinite(lm).any())
        records.append(
            {
                "layer": layer + 1,
                "n_texts": n_texts,
                "lambda_mean": float(np.nanmean(lm)) if has else None,
                "lambda_median": float(np.nanmedian(lm)) if has else None,
                "share_lambda_below_1": float(np.mean(lm < 1)) if has else None,
                "r_mean": float(r.mean()),
                "r_median": float(np.median(r)),
                "C_mean": float(c.mean()),
                "C_median": float(np.median(c)),
            }
        )
    return records


def _block_info(pre: list[PreNormSpec] | None) -> dict:
    """The block form and what λ means for it, for ``mechanism_info.json``."""
    if pre is None:
        return {"block": "post-norm (LayerNorm)", "lambda": "as defined (Sec. 5)"}
    if any(s.sandwich for s in pre):
        return {"block": "pre-norm (RMSNorm), sandwich", "lambda": f"refused: {SANDWICH_REASON}"}
    return {
        "block": "pre-norm (RMSNorm)",
        "lambda": "the attention's contraction of its RMS-normalised input (gain folded into "
        "W^v); not a term of the paper's O(rC) bound (socm.analyses.prenorm)",
    }


def format_mechanism_table(records: list[dict]) -> str:
    """A small text table of per-layer λ, r, C."""
    lines = [f"{'layer':>5}  {'lambda mean':>11}  {'lambda<1':>8}  {'r mean':>9}  {'C mean':>8}"]
    for rec in records:
        if rec["lambda_mean"] is None:
            lam = f"{'—':>11}  {'—':>8}"
        else:
            lam = f"{rec['lambda_mean']:>11.4f}  {rec['share_lambda_below_1']:>8.1%}"
        lines.append(f"{rec['layer']:>5}  {lam}  {rec['r_mean']:>9.4f}  {rec['C_mean']:>8.4f}")
    return "\n".join(lines)
