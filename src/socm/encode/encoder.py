"""Token embeddings from any Hugging Face encoder (the "encode/cache" stage).

Protocol (Hara et al. 2026, Sec. 4, matched by default): ``AutoTokenizer`` / ``AutoModel`` in
float32, eval mode, no gradients; the last hidden state (or ``layer`` K: 0 = embedding output,
negative counts from the end); every token with attention mask 1, special tokens included
(``exclude_special_tokens`` drops them); no prefix; truncation at the model's maximum length.
Texts are batched longest first and returned in their original order. Encoded texts are cached
per text (:mod:`socm.encode.cache`, in shards), so reruns with other pairs, numerics or samples
do not re-encode; ``cache_dtype="float16"`` stores (and hands out) token embeddings rounded to
float16, half the disk. Model resolution lives in :mod:`socm.encode.models`, loading in
:mod:`socm.encode.loading`, batching in :mod:`socm.encode.batching`, the forward loop in
:mod:`socm.encode.forward`.

Decoder embedders: ``prompt``/``prompt_name``, ``exclude_prompt_tokens`` and
``exclude_first_token`` extend the token policy (:mod:`socm.encode.tokens`); ``dtype`` sets the
forward pass's precision (:mod:`socm.encode.precision`); ``pooling="model"`` also returns the
model's own pooled embedding of each text (:mod:`socm.encode.pooling`). ``long_texts="window"``
encodes texts beyond the maximum length whole, in overlapping windows (:mod:`socm.encode.windows`).
Each of them enters the cache key only when it differs from the paper's protocol, so existing
caches stay valid.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from socm.encode.cache import EmbeddingCache
from socm.encode.forward import Outputs, run_forward, select_hidden_state
from socm.encode.inputs import InputsMixin
from socm.encode.layers import PerLayerMixin
from socm.encode.loading import ModelHolder
from socm.encode.models import load_tokenizer, pick_device, resolve_model
from socm.encode.pooling import (
    POOLING_CHOICES,
    check_native_pooling,
    read_embedder_info,
    resolve_prompt,
)
from socm.encode.precision import resolve_forward_dtype
from socm.encode.tokens import TokenPolicy, check_max_length
from socm.encode.windows import WINDOWS_VERSION
from socm.errors import SocmError
from socm.files import check_writable_dir

__all__ = ["CACHE_DTYPES", "EncodeResult", "Encoder", "EncoderSpec"]

CACHE_DTYPES: tuple[str, ...] = ("float32", "float16")
"""Storage precisions of cached token embeddings (float16: half the disk, see docs/numerics.md)."""


@dataclass
class EncodeResult:
    """Token embeddings of a list of texts, in input order.

    Attributes
    ----------
    embeddings : list of numpy.ndarray
        One float32 ``(n_tokens, D)`` array per text.
    n_truncated : int
        Texts longer than the maximum length (cut to it).
    n_cached, n_encoded : int
        Texts read from the cache / run through the model.
    seconds : float
        Wall time of the whole call (model loading included).
    load_seconds : float
        Time spent loading the model (0 when everything came from the cache).
    truncated : list of bool
        Per text: whether it was cut to the maximum length.
    n_tokens : list of int
        Per text: tokens kept under the policy.
    pooled : list of numpy.ndarray, optional
        Per text: the model's own pooled embedding (float64, ``(D,)``) when the encoder pools
        natively (``pooling="model"``), else None.
    n_windows : list of int
        Per text: the windows it was encoded in (1 unless ``long_texts="window"`` and the
        text is longer than the maximum length).
    """

    embeddings: list[np.ndarray]
    n_truncated: int = 0
    n_cached: int = 0
    n_encoded: int = 0
    seconds: float = 0.0
    load_seconds: float = 0.0
    truncated: list[bool] = field(default_factory=list)
    n_tokens: list[int] = field(default_factory=list)
    pooled: list[np.ndarray] | None = None
    n_windows: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class EncoderSpec:
    """The fields that define an encoder's token embeddings (and where it runs): what a
    backend needs to build the same encoder elsewhere (:meth:`build`).

    Attributes
    ----------
    model : str
        Hub id or local folder.
    layer, exclude_special_tokens, prefix, max_length, batch_size, device, trust_remote_code,
    revision, attn_implementation, cache_dtype, prompt, prompt_name, exclude_prompt_tokens,
    exclude_first_token, dtype, pooling, long_texts
        As for :class:`Encoder`.
    cache_dir : str, optional
        The token-embedding cache (None: no cache).

    Examples
    --------
    >>> spec = EncoderSpec("sentence-transformers/all-MiniLM-L6-v2", device="cpu")
    >>> spec.build().resolved.source
    'package'
    """

    model: str
    layer: int | None = None
    exclude_special_tokens: bool = False
    prefix: str = ""
    max_length: int | None = None
    batch_size: int = 32
    device: str | None = None
    trust_remote_code: bool = False
    revision: str | None = None
    cache_dir: str | None = None
    attn_implementation: str | None = None
    cache_dtype: str = "float32"
    prompt: str = ""
    prompt_name: str | None = None
    exclude_prompt_tokens: bool = False
    exclude_first_token: bool = False
    dtype: str = "auto"
    pooling: str = "mean"
    long_texts: str = "truncate"

    def build(self, **overrides: Any) -> Encoder:
        """The :class:`Encoder` (``overrides`` replace fields, e.g. ``device="cpu"``)."""
        fields = {**asdict(self), **overrides}
        cache = fields.pop("cache_dir")
        return Encoder(
            fields.pop("model"), **fields, cache_dir=None if cache is None else Path(cache)
        )

    def portable(self) -> EncoderSpec:
        """This spec with absolute model-folder and cache paths (for workers that run in
        other folders, on other nodes of a shared file system)."""
        model = str(Path(self.model).resolve()) if Path(self.model).exists() else self.model
        cache = None if self.cache_dir is None else str(Path(self.cache_dir).resolve())
        return replace(self, model=model, cache_dir=cache)


class Encoder(ModelHolder, PerLayerMixin, InputsMixin):
    """Token-embedding extractor for one model and token policy.

    Parameters
    ----------
    model : str
        Hub id or local folder (see :func:`socm.encode.models.resolve_model`).
    layer : int, optional
        Hidden state to return: None = last hidden state, 0 = embedding output, 1..L the
        transformer layers, negative counts from the end.
    exclude_special_tokens : bool
        Drop [CLS]/[SEP] (<s>/</s>, BOS/EOS, ...) tokens; a text then needs another token.
    prefix : str
        Prepended to every text (e.g. ``"query: "``).
    max_length : int, optional
        Truncation length; default the model's maximum.
    batch_size : int
    device : str, optional
        Default: CUDA, then MPS, then CPU.
    trust_remote_code : bool
        Allow custom model code from the hub (explicit opt-in).
    revision : str, optional
        Hub revision (branch, tag or commit).
    cache_dir : Path, optional
        Cache root; None disables caching.
    attn_implementation : str, optional
        Passed to ``from_pretrained`` (``"eager"`` to get attention matrices).
    cache_dtype : {"float32", "float16"}
        Precision of token embeddings as stored (part of the cache key). ``"float16"`` rounds
        them to float16 as they leave the model, cached or not, so that results do not depend
        on whether they came from the cache; they are handed out as float32.
    prompt, prompt_name : str
        An instruction prepended before ``prefix`` (``prompt + prefix + text``), or the name
        of one the model declares (``config_sentence_transformers.json``).
    exclude_prompt_tokens, exclude_first_token : bool
        Keep the prompt's tokens, or each text's first token, out of the statistics
        (:mod:`socm.encode.tokens`).
    dtype : {"auto", "float32", "bfloat16", "float16"}
        Precision of the forward pass (:mod:`socm.encode.precision`).
    pooling : {"mean", "model"}
        ``"model"``: :meth:`encode` also returns the model's own pooled embeddings.
    long_texts : {"truncate", "window"}
        Cut texts at the maximum length (the paper's protocol), or encode longer ones whole in
        overlapping windows, every token kept once (:mod:`socm.encode.windows`).
    """

    def __init__(
        self,
        model: str,
        *,
        layer: int | None = None,
        exclude_special_tokens: bool = False,
        prefix: str = "",
        max_length: int | None = None,
        batch_size: int = 32,
        device: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        cache_dir: Path | None = None,
        attn_implementation: str | None = None,
        cache_dtype: str = "float32",
        prompt: str = "",
        prompt_name: str | None = None,
        exclude_prompt_tokens: bool = False,
        exclude_first_token: bool = False,
        dtype: str = "auto",
        pooling: str = "mean",
        long_texts: str = "truncate",
    ) -> None:
        #: What defines this encoder (to build the same one elsewhere).
        self.spec = EncoderSpec(
            model, layer, exclude_special_tokens, prefix, max_length, batch_size, device,
            trust_remote_code, revision, None if cache_dir is None else str(cache_dir),
            attn_implementation, cache_dtype, prompt, prompt_name, exclude_prompt_tokens,
            exclude_first_token, dtype, pooling, long_texts,
        )  # fmt: skip
        if batch_size < 1:
            raise SocmError(f"batch size must be at least 1, got {batch_size}")
        if cache_dtype not in CACHE_DTYPES:
            raise SocmError(f"cache dtype must be float32 or float16, got {cache_dtype!r}")
        if pooling not in POOLING_CHOICES:
            raise SocmError(f"--pooling must be mean or model, got {pooling!r}")
        self.cache_dtype, self.pooling = cache_dtype, pooling
        if cache_dir is not None:
            check_writable_dir(Path(cache_dir), "--cache-dir")
        self.resolved = resolve_model(model, revision=revision, trust_remote_code=trust_remote_code)
        self.layer, self.prefix, self.batch_size = layer, prefix, batch_size
        self.exclude_special_tokens = exclude_special_tokens
        self.device = pick_device(device)
        self.trust_remote_code, self.revision = trust_remote_code, revision
        self.attn_implementation = attn_implementation
        self.tokenizer = load_tokenizer(self.resolved, revision, trust_remote_code)
        #: What the model's sentence-transformers files declare (pooling, prompts).
        self.embedder = read_embedder_info(self.resolved)
        if pooling == "model":
            check_native_pooling(self.embedder, layer)
            if long_texts == "window":
                raise SocmError(
                    "--pooling model pools one model input per text: drop --long-texts window"
                )
        #: The forward pass's dtype name (``dtype`` resolved for this device).
        self.forward_dtype = resolve_forward_dtype(dtype, self.device, lambda: self.config)
        self.max_length = check_max_length(
            max_length, self.tokenizer, lambda: getattr(self.config, "max_position_embeddings", 512)
        )
        self.policy = TokenPolicy(
            self.tokenizer, exclude_special_tokens, prefix, self.max_length,
            prompt=resolve_prompt(prompt, prompt_name, self.embedder),
            exclude_prompt_tokens=exclude_prompt_tokens, exclude_first_token=exclude_first_token,
            long_texts=long_texts,
        )  # fmt: skip
        self.prompt = self.policy.prompt
        self.n_hidden_states: int | None = None
        self.cache_root = Path(cache_dir) if cache_dir is not None else None
        self.cache, self.profile_cache, self.pooled_cache = _open_caches(self)

    def cache_config(self) -> dict:
        """What determines a text's token embeddings (the cache key): prompt and prefix as one
        string; excluded prompt or first tokens, a non-float32 forward dtype and windows (with
        the layout's version) when set."""
        config = {
            "model": self.resolved.name,
            "path": self.resolved.path if self.resolved.source == "local" else None,
            "revision": self.resolved.revision,
            "layer": self.layer,
            "exclude_special_tokens": self.exclude_special_tokens,
            "prefix": self.prompt + self.prefix,
            "max_length": self.max_length,
            "dtype": self.cache_dtype,
        }
        if self.policy.exclude_prompt_tokens:
            config["exclude_prompt_tokens"] = self.policy.prompt_tokens
        if self.policy.exclude_first_token:
            config["exclude_first_token"] = True
        if self.forward_dtype != "float32":
            config["forward_dtype"] = self.forward_dtype
        if self.policy.long_texts != "truncate":
            config["long_texts"] = self.policy.long_texts
            config["windows_version"] = WINDOWS_VERSION
        return config

    def stats_config(self) -> dict:
        """What determines a text's statistics: :meth:`cache_config`, and with native pooling
        the model's pooling (the unit mean is then its pooled embedding)."""
        if self.pooling == "mean":
            return self.cache_config()
        pooling = {"pooling": self.embedder.name, "include_prompt": self.embedder.include_prompt}
        return {**self.cache_config(), "native_pooling": pooling}

    def token_policy(self) -> dict:
        """This encoder's token policy (special tokens, prefix, prompt, maximum length)."""
        return self.policy.as_dict()

    # ------------------------------------------------------------------ encoding
    def forward(self, batch: dict) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """(selected hidden state, all hidden states 0..L) for a padded batch."""
        selected, states = select_hidden_state(self.model, batch, self.layer)
        self.n_hidden_states = len(states)
        return selected, states

    def encode(
        self,
        texts: Sequence[str],
        ids: Sequence[str] | None = None,
        progress: bool | Any = False,
    ) -> EncodeResult:
        """Token embeddings for ``texts`` (with native pooling, also the model's pooled
        embeddings), from the cache where possible.

        Texts that are run through the model also get their per-layer profile cached (see
        :meth:`layer_profiles`), so a later ``socm layers`` on them does not re-encode.

        Parameters
        ----------
        texts : sequence of str
        ids : sequence of str, optional
            Names of the texts for error messages (default: positions).
        progress : bool or progress bar
            Show a progress bar over texts; or a bar (anything with ``update(n)``, e.g. one
            ``tqdm`` over several calls) advanced by one per text, cached or encoded.

        Raises
        ------
        SocmError
            A text with no tokens under the policy; model loading failures.

        Examples
        --------
        >>> from socm.encode import Encoder
        >>> enc = Encoder("sentence-transformers/all-MiniLM-L6-v2", device="cpu")
        >>> res = enc.encode(["Mean pooling averages tokens."])
        >>> res.embeddings[0].shape, res.embeddings[0].dtype.name
        ((9, 384), 'float32')
        >>> enc.token_strings("Mean pooling averages tokens.")[:4]
        ['[CLS]', 'mean', 'pool', '##ing']
        """
        if len(texts) == 0:
            return EncodeResult(embeddings=[], pooled=[] if self.pooling == "model" else None)
        t0 = time.perf_counter()
        tokens = self.prepare(texts, ids)
        out = self.cached_embeddings(self.cache, tokens)
        pooled = None
        if self.pooling == "model":
            cache = self.pooled_cache
            got = cache.get_many(tokens["keys"]) if cache else [None] * len(texts)
            pooled = [None if p is None else p.reshape(-1) for p in got]
        todo = [k for k, e in enumerate(out) if e is None or (pooled and pooled[k] is None)]
        if hasattr(progress, "update") and len(todo) < len(texts):
            progress.update(len(texts) - len(todo))
        load = self.load_if_needed(todo)
        run_forward(self, tokens, todo, Outputs(embeddings=out, pooled=pooled), progress)
        return EncodeResult(
            embeddings=out,  # type: ignore[arg-type]
            n_truncated=int(sum(tokens["truncated"])),
            n_cached=len(texts) - len(todo),
            n_encoded=len(todo),
            seconds=time.perf_counter() - t0,
            load_seconds=load,
            truncated=list(tokens["truncated"]),
            n_tokens=[int(k.sum()) for k in tokens["keep"]],
            pooled=pooled,
            n_windows=self.policy.window_counts(tokens),
        )

    def cached_embeddings(
        self, cache: EmbeddingCache | None, tokens: dict
    ) -> list[np.ndarray | None]:
        """Cached token embeddings of the prepared texts as float32 (None: not cached)."""
        if cache is None:
            return [None] * len(tokens["keys"])
        return [
            e if e is None or e.dtype == np.float32 else e.astype(np.float32)
            for e in cache.get_many(tokens["keys"])
        ]


def _open_caches(
    enc: Encoder,
) -> tuple[EmbeddingCache | None, EmbeddingCache | None, EmbeddingCache | None]:
    """The encoder's caches (None without a cache folder): token embeddings, per-layer
    profiles and, with native pooling, pooled embeddings."""
    if enc.cache_root is None:
        return None, None, None
    cache = EmbeddingCache(enc.cache_root, enc.cache_config())
    profile_key = {
        **enc.cache_config(),
        "layer": "all",
        "kind": "layer_profile",
        "dtype": "float64",  # profiles come from the float32 hidden states
    }
    pooled = None
    if enc.pooling == "model":
        pooled_key = {**enc.stats_config(), "kind": "pooled", "dtype": "float64"}
        pooled = EmbeddingCache(enc.cache_root, pooled_key)
    return cache, EmbeddingCache(enc.cache_root, profile_key), pooled
