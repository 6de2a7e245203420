r"""How a model pools its tokens, the prompts it declares, and its own pooled embeddings.

Decoder embedders (Qwen3-Embedding, e5-mistral, gte-Qwen2) pool by their last token, BERT-style
models by the mean or [CLS], NV-Embed by a latent-attention layer; sentence-transformers
records the choice in the model's files, and :func:`read_embedder_info` reads it:

* ``modules.json``: the module list; the ``Pooling`` module's folder holds its ``config.json``
  with ``pooling_mode`` (sentence-transformers >= 6: a name or a list of names) or the older
  ``pooling_mode_*_tokens`` switches, and ``include_prompt``; the modules after it (``Dense``,
  ``Normalize``) are listed, not applied;
* ``config_sentence_transformers.json``: ``prompts`` (name -> text) and
  ``default_prompt_name``;
* ``config.json``: a ``latent_attention_config`` (NV-Embed) marks latent-attention pooling.

:func:`pool` computes the ``Pooling`` module's output from a right-padded batch, following
sentence-transformers' ``Pooling._forward_padded`` (``sentence_transformer/modules/pooling.py``,
v6.3), for a pooling mask :math:`m` (the attention mask, with the prompt's tokens zeroed when
the module has ``include_prompt=False``) over positions :math:`t`:

* ``cls``: :math:`x_{t_0}`, :math:`t_0` the first position with :math:`m_t = 1`;
* ``lasttoken``: :math:`x_{t_1}`, :math:`t_1` the last position with :math:`m_t = 1`;
* ``mean``: :math:`\sum_t m_t x_t / \sum_t m_t`; ``mean_sqrt_len_tokens``:
  :math:`\sum_t m_t x_t / \sqrt{\sum_t m_t}` (the mean's direction);
* ``max``: the element-wise maximum over positions with :math:`m_t = 1`;
* ``weightedmean``: :math:`\sum_t m_t w_t x_t / \sum_t m_t w_t`, :math:`w_t = t - t_a + 1`
  counted from the first attended position :math:`t_a` (prompt tokens excluded keep the
  others' weights).

The native-pooling variant of SOCM (``pooling="model"``, an extension beyond Hara et al. 2026)
takes d_μ from these embeddings normalised to unit length, d_Σ from the token covariances as
before: :func:`reduce_encoded` puts the unit pooled embedding where the unit mean was.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from socm.core.stats import TokenStats, reduce_many
from socm.encode.models import ResolvedModel, hub_offline
from socm.errors import SocmError

__all__ = [
    "POOLING_CHOICES",
    "POOLING_MODES",
    "EmbedderInfo",
    "check_native_pooling",
    "pool",
    "pool_masks",
    "prompt_length",
    "read_embedder_info",
    "reduce_encoded",
    "resolve_prompt",
    "with_pooled_means",
]

#: Values of ``--pooling``: the paper's mean, or the model's own pooling for d_μ.
POOLING_CHOICES = ("mean", "model")
#: Pooling modes of sentence-transformers' ``Pooling`` module.
POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
#: The older boolean switches, in the order sentence-transformers concatenates the modes.
_LEGACY = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_PHRASES = {
    "cls": "its first ([CLS]) token",
    "lasttoken": "its last token",
    "max": "the element-wise maximum of its tokens",
    "weightedmean": "a position-weighted mean of its tokens",
    "mean": "the mean of its tokens",
    "mean_sqrt_len_tokens": "the mean of its tokens",
}


@dataclass(frozen=True, eq=False)
class EmbedderInfo:
    """What a model's sentence-transformers files declare.

    Attributes
    ----------
    modes : tuple of str
        The ``Pooling`` module's modes (empty: no pooling declared).
    include_prompt : bool
        Whether the pooling counts the prompt's tokens.
    source : str, optional
        The file the pooling was read from.
    after : tuple of str
        Modules after the pooling (``Dense``, ``Normalize``, ...): listed, not applied.
    latent_attention : bool
        The model pools with a latent-attention layer of its own code (NV-Embed).
    prompts : dict
        Prompt name -> text (``config_sentence_transformers.json``).
    default_prompt_name : str, optional
        The prompt sentence-transformers applies by default (socm does not, unless asked).
    """

    modes: tuple[str, ...] = ()
    include_prompt: bool = True
    source: str | None = None
    after: tuple[str, ...] = ()
    latent_attention: bool = False
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None

    @property
    def name(self) -> str:
        """``lasttoken``, ``mean``, ``cls+mean``, ``latent_attention`` or ``unknown``."""
        if self.latent_attention:
            return "latent_attention"
        return "+".join(self.modes) if self.modes else "unknown"

    @property
    def is_mean(self) -> bool:
        """Whether the model pools by the mean (or its rescaling by √n: the same direction)."""
        return bool(self.modes) and set(self.modes) <= {"mean", "mean_sqrt_len_tokens"}

    def phrase(self) -> str:
        """How the model pools, in words (``its last token``)."""
        if self.latent_attention:
            return "a latent-attention layer over its tokens"
        return " and ".join(_PHRASES[m] for m in self.modes) or "an undeclared pooling"

    def notice(self) -> str | None:
        """The line printed when the model does not pool by the mean (None when it does or
        declares nothing)."""
        if self.is_mean or not (self.modes or self.latent_attention):
            return None
        return f"this model pools by {self.phrase()}; SOCM measures what mean pooling would lose"

    def as_dict(self) -> dict[str, Any]:
        """The record in ``summary.json["model_pooling"]``."""
        return {
            "mode": self.name,
            "include_prompt": self.include_prompt,
            "source": self.source,
            "after_pooling": list(self.after),
            "prompts": sorted(self.prompts),
            "default_prompt_name": self.default_prompt_name,
        }


def _model_file(resolved: ResolvedModel, name: str) -> Path | None:
    """A file of the model: from its folder, or the hub (its local cache when offline)."""
    folder = Path(resolved.path)
    if folder.is_dir():
        path = folder / name
        return path if path.is_file() else None
    if resolved.source != "hub":
        return None
    try:
        from huggingface_hub import hf_hub_download

        return Path(
            hf_hub_download(
                resolved.path, name, revision=resolved.revision, local_files_only=hub_offline()
            )
        )
    except Exception:  # the file does not exist, or the hub cannot be reached
        return None


def _read_json(path: Path | None, what: str) -> Any:
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SocmError(f"{what} ({path}) is not readable JSON: {exc}") from None


def _pooling_modes(conf: dict, where: str) -> tuple[str, ...]:
    """The modes of a ``Pooling`` config, new (``pooling_mode``) or old (switches) format."""
    mode = conf.get("pooling_mode")
    if mode is None:
        modes = tuple(m for key, m in _LEGACY.items() if conf.get(key))
        return modes or ("mean",)
    modes = (mode,) if isinstance(mode, str) else tuple(mode)
    bad = [m for m in modes if m not in POOLING_MODES]
    if bad:
        raise SocmError(f"{where}: unknown pooling mode {bad[0]!r} (known: {POOLING_MODES})")
    return modes


def read_embedder_info(resolved: ResolvedModel) -> EmbedderInfo:
    """The pooling and prompts a model's sentence-transformers files declare.

    Raises
    ------
    SocmError
        A declared file that is not valid JSON, or an unknown pooling mode.
    """
    st = _read_json(
        _model_file(resolved, "config_sentence_transformers.json"),
        "config_sentence_transformers.json",
    )
    st = st if isinstance(st, dict) else {}
    prompts = {str(k): str(v) for k, v in (st.get("prompts") or {}).items()}
    base = {"prompts": prompts, "default_prompt_name": st.get("default_prompt_name")}
    config = _read_json(_model_file(resolved, "config.json"), "config.json")
    if isinstance(config, dict) and any("latent_attention" in k for k in config):
        return EmbedderInfo(latent_attention=True, source="config.json", **base)
    modules = _read_json(_model_file(resolved, "modules.json"), "modules.json")
    if not isinstance(modules, list):
        return EmbedderInfo(**base)
    modules = sorted((m for m in modules if isinstance(m, dict)), key=lambda m: m.get("idx", 0))
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if "Pooling" not in kinds:
        return EmbedderInfo(**base)
    at = kinds.index("Pooling")
    where = f"{str(modules[at].get('path', '')).strip('/') or '.'}/config.json"
    conf = _read_json(_model_file(resolved, where.removeprefix("./")), where)
    conf = conf if isinstance(conf, dict) else {}
    return EmbedderInfo(
        modes=_pooling_modes(conf, where),
        include_prompt=bool(conf.get("include_prompt", True)),
        source=where,
        after=tuple(kinds[at + 1 :]),
        **base,
    )


def resolve_prompt(prompt: str, prompt_name: str | None, info: EmbedderInfo) -> str:
    """The prompt text: ``prompt``, or the model's prompt called ``prompt_name``.

    Raises
    ------
    SocmError
        Both given, or a name the model does not declare.
    """
    if prompt_name is None:
        return prompt
    if prompt:
        raise SocmError("give --prompt or --prompt-name, not both")
    if prompt_name not in info.prompts:
        known = ", ".join(sorted(info.prompts)) or "none"
        raise SocmError(
            f"--prompt-name {prompt_name!r}: the model declares no such prompt "
            f"(config_sentence_transformers.json prompts: {known})"
        )
    return info.prompts[prompt_name]


def prompt_length(tokenizer, prompt: str, max_length: int) -> int:
    """Tokens of ``prompt`` at the start of every input, as sentence-transformers counts them
    (``Transformer._get_prompt_length``): the prompt tokenised alone, special tokens included
    (a BOS counts), less a trailing special token (an EOS the tokenizer appends); 0 without a
    prompt."""
    if not prompt:
        return 0
    ids = tokenizer([prompt], truncation=True, max_length=max_length)["input_ids"][0]
    n = len(ids)
    if n and ids[-1] in set(getattr(tokenizer, "all_special_ids", ())):
        n -= 1
    return n


def check_native_pooling(info: EmbedderInfo, layer: int | None) -> None:
    """Refuse ``pooling="model"`` where the model's own pooled embedding is not available.

    Raises
    ------
    SocmError
        A layer other than the last, latent attention, no declared pooling, or modes whose
        concatenation leaves the token space.
    """
    if layer is not None:
        raise SocmError(
            "--pooling model takes the model's pooled embedding of its last hidden state: "
            "drop --layer"
        )
    if info.latent_attention:
        raise SocmError(
            "--pooling model: this model pools with a latent-attention layer of its own code, "
            "which socm does not run; use --pooling mean"
        )
    if not info.modes:
        raise SocmError(
            "--pooling model: the model declares no pooling (no sentence-transformers "
            "modules.json with a Pooling module); use --pooling mean"
        )
    if len(info.modes) > 1:
        raise SocmError(
            f"--pooling model: the model concatenates {info.name} pooling, an embedding "
            "outside the token space; use --pooling mean"
        )


def pool_masks(policy: Any, tokens: dict, include_prompt: bool) -> list[np.ndarray]:
    """The tokens of each prepared text the model's ``Pooling`` module pools
    (:meth:`TokenPolicy.pool_mask <socm.encode.tokens.TokenPolicy.pool_mask>`).

    Raises
    ------
    SocmError
        A text with none (its prompt, left out of the pooling, fills the maximum length).
    """
    masks = [policy.pool_mask(a, include_prompt) for a in tokens["attention_mask"]]
    for k, mask in enumerate(masks):
        if not mask.any():
            raise SocmError(
                f"text {tokens['ids'][k]}: no tokens left for the model's pooling (its prompt, "
                "which the pooling leaves out, fills the maximum length)"
            )
    return masks


def pool(hidden: Any, mask: Any, modes: Sequence[str], attention: Any | None = None) -> Any:
    """The ``Pooling`` module's output for a padded batch (formulas in the module docstring),
    in float64 from the float32 cast of ``hidden``.

    Parameters
    ----------
    hidden : torch.Tensor, shape (B, T, D)
    mask : torch.Tensor of bool, shape (B, T)
        The pooling mask (every row has a True).
    modes : sequence of str
        Concatenated in this order.
    attention : torch.Tensor, shape (B, T), optional
        The attention mask, for ``weightedmean``'s first position (default ``mask``).

    Returns
    -------
    torch.Tensor, float64, shape (B, len(modes) * D)

    Examples
    --------
    >>> import torch
    >>> h = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [5.0, 5.0]]])
    >>> m = torch.tensor([[True, True, False]])
    >>> [pool(h, m, [k]).tolist()[0] for k in ("cls", "lasttoken", "mean", "max")]
    [[1.0, 0.0], [0.0, 2.0], [0.5, 1.0], [1.0, 2.0]]
    """
    import torch

    m = mask.to(device=hidden.device, dtype=torch.bool)
    w = m.to(torch.float64)
    b, t, _ = hidden.shape
    pos = torch.arange(t, device=hidden.device)
    rows = torch.arange(b, device=hidden.device)
    x = None
    out = []
    for mode in modes:
        if mode == "cls":
            out.append(hidden[rows, m.to(torch.int32).argmax(1)].float().double())
            continue
        if mode == "lasttoken":
            last = t - 1 - m.flip(1).to(torch.int32).argmax(1)
            out.append(hidden[rows, last].float().double())
            continue
        x = hidden.float().double() if x is None else x
        if mode in ("mean", "mean_sqrt_len_tokens"):
            total = (x * w[..., None]).sum(1)
            count = w.sum(1, keepdim=True)
            out.append(total / (count if mode == "mean" else count.sqrt()))
        elif mode == "max":
            out.append(x.masked_fill(~m[..., None], float("-inf")).amax(1))
        elif mode == "weightedmean":
            att = m if attention is None else attention.to(device=x.device, dtype=torch.bool)
            first = att.to(torch.int32).argmax(1)
            weights = (pos[None, :] - first[:, None] + 1).to(torch.float64) * w
            out.append((x * weights[..., None]).sum(1) / weights.sum(1, keepdim=True))
        else:
            raise ValueError(f"unknown pooling mode {mode!r}")
    return torch.cat(out, dim=-1)


def with_pooled_means(
    stats: Sequence[TokenStats], pooled: Sequence[Any], names: Sequence[str]
) -> list[TokenStats]:
    """``stats`` with each unit mean replaced by the text's pooled embedding normalised to
    unit length (the native-pooling variant's d_μ; covariance factors and traces unchanged).

    Raises
    ------
    ValueError
        A pooled embedding of another dimension, not finite, or zero (naming the text).
    """
    out = []
    for st, vec, name in zip(stats, pooled, names, strict=True):
        v = np.asarray(vec, dtype=np.float64).reshape(-1)
        norm = float(np.linalg.norm(v)) if np.isfinite(v).all() else float("nan")
        if v.shape != st.mean.shape or not norm > 0:
            raise ValueError(
                f"{name}: the model's pooled embedding is not a finite, non-zero vector of "
                f"dimension {st.dim}"
            )
        out.append(replace(st, mean=v / norm))
    return out


def reduce_encoded(result: Any, device: Any = None, names: Sequence[str] | None = None) -> list:
    """Per-text statistics of an :class:`~socm.encode.EncodeResult`
    (:func:`socm.core.stats.reduce_many`), with the model's pooled embeddings as the unit
    means when the encoder pooled natively (:func:`with_pooled_means`): what every backend
    calls after encoding."""
    names = [f"text {k}" for k in range(len(result.embeddings))] if names is None else names
    stats = reduce_many(result.embeddings, device, names)
    if getattr(result, "pooled", None) is None:
        return stats
    return with_pooled_means(stats, result.pooled, names)
