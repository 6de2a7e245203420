r"""``socm mechanism`` on pre-norm decoder layers (Llama, Mistral, Qwen2/3, Gemma2/3): how the
paper's λ, r and C map onto them.

Hara et al. (2026, Sec. 5) model a post-norm encoder layer (:mod:`socm.analyses.mechanism`):
attention branch :math:`Z = \sum_h W^o_h W^v_h H A_h^\top` on the layer input :math:`H`,
residual :math:`Y = H + Z`, token-wise map :math:`X = g(Y)`. A pre-norm decoder layer reads
its input through an RMSNorm, :math:`N(h) = \gamma \odot h / \rho(h)` with
:math:`\rho(h) = \sqrt{\operatorname{mean}(h^2) + \varepsilon}` per token:

* Llama, Mistral, Qwen: :math:`Z = \sum_h W^o_h W^v_{g(h)} N(H) A_h^\top`, :math:`Y = H + Z`,
  :math:`X = Y + F(N_2(Y))` (the MLP :math:`F` on the normalised residual);
* Gemma2/3 ("sandwich" norms): :math:`Y = H + N_3(Z)` and :math:`X = Y + N_5(F(N_4(Y)))`.

Grouped-query attention: query head :math:`h` reads value head
:math:`g(h) = \lfloor h / (\text{heads} / \text{kv heads}) \rfloor`. :math:`X` is the layer's own
output, before the model's final norm (which transformers includes in the last entry of
``hidden_states``).

The mapping, quantity by quantity:

* :math:`r = S(H)/\lVert\mu(Y)\rVert^2` and
  :math:`C = (S(X)/\lVert\mu(X)\rVert^2)/(S(Y)/\lVert\mu(Y)\rVert^2)` name only :math:`H`,
  :math:`Y` and :math:`X`, which every block has: computed as defined, :math:`Y` being the
  residual after the attention branch (captured at the input of the norm before the MLP).
* :math:`\lambda_h = \lVert W^o_h W^v_h\rVert_{op}^2 \lVert P A_h\rVert_F^2/(n - 1)` is the
  contraction of the attention's linear map from the tokens it reads to :math:`Z`. In a
  pre-norm block it reads :math:`N(H)`: the gain :math:`\gamma` is a fixed diagonal and folds
  into the value projection, so :math:`\lambda_h` is computed with
  :math:`W^v_{g(h)} \operatorname{diag}(\gamma)` and measures how much the attention contracts
  the spread of the RMS-normalised tokens :math:`H/\rho(H)`. Two things do not carry over.
  (1) The paper's bound passes from :math:`\lambda < 1` to a last-layer normalised spread of
  :math:`O(rC)` through the spread of :math:`H` itself; here :math:`\lambda` acts on
  :math:`H/\rho(H)`, whose spread differs from :math:`S(H)` by no single factor (each token is
  divided by its own RMS, and a decoder's attention sink has an RMS far above the rest), so
  :math:`\lambda` is reported as the attention's contraction, not as a term of that bound.
  (2) In a sandwich-norm block (Gemma) :math:`Z` is normalised again, token by token, before
  the residual: :math:`Y - H` is not a linear map of the attention's input, no
  :math:`\lambda` exists, and it is refused (NaN per text, None in the summary, the reason in
  ``mechanism_info.json``).

:func:`recompute_prenorm_residual` and :func:`recompute_prenorm_output` rebuild :math:`Y` and
:math:`X` from the captured :math:`H`, the attention matrices and the layer's own weights (the
tests assert both match the forward pass), which pins down the mapping above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "PreNormCapture",
    "PreNormSpec",
    "prenorm_head_norms",
    "prenorm_specs",
    "recompute_prenorm_output",
    "recompute_prenorm_residual",
    "rms_gain",
]

#: Why λ is refused in sandwich-norm blocks.
SANDWICH_REASON = (
    "the attention output is RMS-normalised again (post_attention_layernorm) before the "
    "residual, so Y - H is not a linear map of the attention's input and lambda does not exist"
)


@dataclass
class PreNormSpec:
    """The parts of one pre-norm decoder layer the mechanism needs."""

    layer: torch.nn.Module
    value: torch.nn.Linear  # v_proj: kv_heads * head_dim rows
    out: torch.nn.Linear  # o_proj: heads * head_dim columns
    norm_in: torch.nn.Module  # RMSNorm before the attention
    norm_mlp: torch.nn.Module  # RMSNorm before the MLP: its input is Y
    mlp: torch.nn.Module
    norm_attn_out: torch.nn.Module | None  # Gemma: RMSNorm of the attention output
    norm_mlp_out: torch.nn.Module | None  # Gemma: RMSNorm of the MLP output
    heads: int
    kv_heads: int
    head_dim: int

    @property
    def sandwich(self) -> bool:
        """Whether the attention output is normalised before the residual (no λ)."""
        return self.norm_attn_out is not None


def prenorm_specs(model: torch.nn.Module) -> list[PreNormSpec] | None:
    """The layers of a pre-norm decoder (``model.layers`` of blocks with ``input_layernorm``,
    ``self_attn.v_proj`` / ``o_proj`` and ``mlp``), or None for another architecture."""
    layers = getattr(model, "layers", None)
    if layers is None or not len(layers):
        return None
    cfg = model.config
    heads = int(cfg.num_attention_heads)
    kv = int(getattr(cfg, "num_key_value_heads", None) or heads)
    specs = []
    for layer in layers:
        att = getattr(layer, "self_attn", None)
        if not all(
            hasattr(obj, name)
            for obj, name in (
                (layer, "input_layernorm"),
                (layer, "post_attention_layernorm"),
                (layer, "mlp"),
                (att, "v_proj"),
                (att, "o_proj"),
            )
        ):
            return None
        head_dim = att.o_proj.weight.shape[1] // heads
        if hasattr(layer, "pre_feedforward_layernorm"):  # sandwich norms
            norm_mlp, norm_attn_out = (
                layer.pre_feedforward_layernorm,
                layer.post_attention_layernorm,
            )
            norm_mlp_out = getattr(layer, "post_feedforward_layernorm", None)
        else:
            norm_mlp, norm_attn_out, norm_mlp_out = layer.post_attention_layernorm, None, None
        specs.append(
            PreNormSpec(
                layer=layer,
                value=att.v_proj,
                out=att.o_proj,
                norm_in=layer.input_layernorm,
                norm_mlp=norm_mlp,
                mlp=layer.mlp,
                norm_attn_out=norm_attn_out,
                norm_mlp_out=norm_mlp_out,
                heads=heads,
                kv_heads=kv,
                head_dim=head_dim,
            )
        )
    return specs


def rms_gain(norm: torch.nn.Module) -> torch.Tensor:
    r"""The gain :math:`\gamma` of an RMSNorm as float64: ``weight`` (Llama, Mistral, Qwen) or
    ``1 + weight`` (Gemma), whichever the module computes. Told apart by the norm of the
    all-ones vector, whose RMS is :math:`\sqrt{1 + \varepsilon}`, so
    :math:`N(\mathbf 1) = \gamma / \sqrt{1 + \varepsilon}` (that probe, rounded in the module's
    precision, is returned for a norm of neither form)."""
    weight = next(norm.parameters())
    eps = float(getattr(norm, "variance_epsilon", getattr(norm, "eps", 0.0)))
    with torch.inference_mode():
        probe = norm(torch.ones(1, weight.shape[0], dtype=weight.dtype, device=weight.device))
    probe = probe[0].double() * np.sqrt(1.0 + eps)
    w = weight.detach().double()
    for gain in (w, 1.0 + w):
        if torch.allclose(gain, probe, rtol=1e-2, atol=1e-4):
            return gain
    return probe


def prenorm_head_norms(spec: PreNormSpec) -> np.ndarray:
    r""":math:`\lVert W^o_h W^v_{g(h)} \operatorname{diag}(\gamma)\rVert_{op}^2` for every query
    head (float64, shape (heads,)); NaN for every head of a sandwich-norm block.

    Thin QR factors as in :func:`socm.analyses.mechanism.head_operator_norms`.
    """
    if spec.sandwich:
        return np.full(spec.heads, np.nan)
    d, group = spec.head_dim, spec.heads // spec.kv_heads
    wv = spec.value.weight.detach().double() * rms_gain(spec.norm_in)[None, :]
    wo = spec.out.weight.detach().double()
    out = np.empty(spec.heads)
    for h in range(spec.heads):
        g = h // group
        ro = torch.linalg.qr(wo[:, h * d : (h + 1) * d], mode="r").R
        rv = torch.linalg.qr(wv[g * d : (g + 1) * d].T, mode="r").R
        out[h] = float(torch.linalg.matrix_norm(ro @ rv.T, ord=2)) ** 2
    return out


def recompute_prenorm_residual(
    spec: PreNormSpec, h: torch.Tensor, attn: torch.Tensor
) -> torch.Tensor:
    r""":math:`Y = H + \sum_h W^o_h (W^v_{g(h)} N(H)) A_h^\top` (Gemma: the sum normalised by
    :math:`N_3` first), from the layer's weights; ``h`` (n, D), ``attn`` (heads, n, n)."""
    v = spec.value(spec.norm_in(h))  # (n, kv * d)
    d, group = spec.head_dim, spec.heads // spec.kv_heads
    ctx = torch.cat(
        [attn[k] @ v[:, (k // group) * d : (k // group + 1) * d] for k in range(spec.heads)],
        dim=-1,
    )
    z = spec.out(ctx)
    return h + (spec.norm_attn_out(z) if spec.sandwich else z)


def recompute_prenorm_output(spec: PreNormSpec, y: torch.Tensor) -> torch.Tensor:
    r""":math:`X = Y + F(N_2(Y))` (Gemma: :math:`Y + N_5(F(N_4(Y)))`)."""
    f = spec.mlp(spec.norm_mlp(y))
    return y + (spec.norm_mlp_out(f) if spec.norm_mlp_out is not None else f)


class PreNormCapture:
    """Hooks recording, per layer, its input :math:`H`, its residual :math:`Y` (the input of
    the norm before the MLP) and its output :math:`X`."""

    def __init__(self, specs: list[PreNormSpec]) -> None:
        n = len(specs)
        self.h: list[torch.Tensor | None] = [None] * n
        self.y: list[torch.Tensor | None] = [None] * n
        self.x: list[torch.Tensor | None] = [None] * n
        self.handles = []
        for k, spec in enumerate(specs):
            self.handles += [
                spec.layer.register_forward_pre_hook(self._layer_in(k), with_kwargs=True),
                spec.norm_mlp.register_forward_pre_hook(self._norm_in(k)),
                spec.layer.register_forward_hook(self._layer_out(k)),
            ]

    def _layer_in(self, k: int):
        def fn(module, args, kwargs):
            self.h[k] = (args[0] if args else kwargs["hidden_states"]).detach()

        return fn

    def _norm_in(self, k: int):
        def fn(module, args):
            self.y[k] = args[0].detach()

        return fn

    def _layer_out(self, k: int):
        def fn(module, args, output):
            self.x[k] = (output[0] if isinstance(output, tuple) else output).detach()

        return fn

    def close(self) -> None:
        """Remove the hooks."""
        for handle in self.handles:
            handle.remove()
