"""Token embeddings from any Hugging Face encoder (the "encode/cache" stage).

Protocol (Hara et al. 2026, Sec. 4, matched by default): ``AutoTokenizer`` / ``AutoModel`` in
float32, eval mode, no gradients; the last hidden state (or ``layer`` K: 0 = embedding output,
negative counts from the end); every token with attention mask 1, special tokens included
(``exclude_special_tokens`` drops them); no prefix; truncation at the model's maximum length.
Texts are batched longest first and returned in their original order. Encoded texts are cached
per text (:mod:`socm.encode.cache`, in shards), so reruns with other pairs, numerics or samples
do not re-encode; ``cache_dtype="float16"`` stores (and hands out) token embeddings rounded to
float16, half the disk. Model resolution lives in :mod:`socm.encode.models`, batching in
:mod:`socm.encode.batching`, the forward loop in :mod:`socm.encode.forward`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from socm.encode.batching import iter_batches
from socm.encode.cache import EmbeddingCache
from socm.encode.forward import Outputs, run_forward, select_hidden_state
from socm.encode.models import load_config, load_model, one_line, pick_device, resolve_model
from socm.encode.tokens import TokenPolicy
from socm.errors import SocmError, warn
from socm.files import check_writable_dir

__all__ = ["CACHE_DTYPES", "EncodeResult", "Encoder", "LayerProfiles"]

CACHE_DTYPES: tuple[str, ...] = ("float32", "float16")
"""Storage precisions of cached token embeddings (float16: half the disk, see the README)."""


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
    """

    embeddings: list[np.ndarray]
    n_truncated: int = 0
    n_cached: int = 0
    n_encoded: int = 0
    seconds: float = 0.0
    load_seconds: float = 0.0
    truncated: list[bool] = field(default_factory=list)
    n_tokens: list[int] = field(default_factory=list)


@dataclass
class LayerProfiles:
    """Per-layer profiles of a list of texts (:meth:`Encoder.layer_profiles`).

    Attributes
    ----------
    profiles : numpy.ndarray, shape (n_texts, L + 1, 2)
        Column 0 the normalised spread, column 1 the average within-text cosine; row ``l``
        hidden state ``l`` (0 = embedding output).
    n_cached, n_encoded : int
    seconds : float
    """

    profiles: np.ndarray
    n_cached: int = 0
    n_encoded: int = 0
    seconds: float = 0.0


class Encoder:
    """Token-embedding extractor for one model and token policy.

    Parameters
    ----------
    model : str
        Hub id or local folder (see :func:`socm.encode.models.resolve_model`).
    layer : int, optional
        Hidden state to return: None = last hidden state, 0 = embedding output, 1..L the
        transformer layers, negative counts from the end.
    exclude_special_tokens : bool
        Drop [CLS]/[SEP] (<s>/</s>, ...) tokens; a text then needs at least one other token.
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
    ) -> None:
        if batch_size < 1:
            raise SocmError(f"batch size must be at least 1, got {batch_size}")
        if cache_dtype not in CACHE_DTYPES:
            raise SocmError(f"cache dtype must be float32 or float16, got {cache_dtype!r}")
        self.cache_dtype = cache_dtype
        if cache_dir is not None:
            check_writable_dir(Path(cache_dir), "--cache-dir")
        self.resolved = resolve_model(model, revision=revision, trust_remote_code=trust_remote_code)
        self.layer = layer
        self.exclude_special_tokens = exclude_special_tokens
        self.prefix = prefix
        self.batch_size = batch_size
        self.device = pick_device(device)
        self.trust_remote_code = trust_remote_code
        self.revision = revision
        self.attn_implementation = attn_implementation
        from transformers import AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                self.resolved.path, revision=revision, trust_remote_code=trust_remote_code
            )
        except Exception as exc:
            raise SocmError(
                f"tokenizer of model {model!r} could not be loaded ({one_line(exc)}); a model "
                "folder needs its tokenizer files (tokenizer.json, or vocab.txt / merges.txt)"
            ) from None
        self.max_length = self._check_max_length(max_length)
        self.policy = TokenPolicy(self.tokenizer, exclude_special_tokens, prefix, self.max_length)
        self._model: torch.nn.Module | None = None
        self.n_hidden_states: int | None = None
        self.cache_root = Path(cache_dir) if cache_dir is not None else None
        self.cache = self.profile_cache = None
        if self.cache_root is not None:
            self.cache = EmbeddingCache(self.cache_root, self.cache_config())
            profile_key = {
                **self.cache_config(),
                "layer": "all",
                "kind": "layer_profile",
                "dtype": "float64",  # profiles come from the float32 hidden states
            }
            self.profile_cache = EmbeddingCache(self.cache_root, profile_key)

    # ------------------------------------------------------------------ configuration
    @cached_property
    def config(self):
        """The model's ``transformers`` configuration (loaded once)."""
        return load_config(
            self.resolved.path, revision=self.revision, trust_remote_code=self.trust_remote_code
        )

    def _check_max_length(self, max_length: int | None) -> int:
        """The truncation length: the model's limit by default; a longer request is clamped to
        it (with a warning), one that leaves no room for a text token is refused."""
        limit = self._model_max_length()
        if max_length is None:
            return limit
        if max_length > limit:
            warn(f"--max-length {max_length} exceeds the model's limit; using {limit} tokens")
            return limit
        n_special = self.tokenizer.num_special_tokens_to_add(pair=False)
        if max_length <= n_special:
            raise SocmError(
                f"--max-length {max_length} leaves no room for text: the model adds {n_special} "
                f"special tokens to every text; use at least {n_special + 1}"
            )
        return max_length

    def _model_max_length(self) -> int:
        ml = getattr(self.tokenizer, "model_max_length", None)
        if ml and ml < 100_000:
            return int(ml)
        return int(getattr(self.config, "max_position_embeddings", 512))

    def cache_config(self) -> dict:
        """Everything that determines a text's token embeddings (the cache key)."""
        return {
            "model": self.resolved.name,
            "path": self.resolved.path if self.resolved.source == "local" else None,
            "revision": self.resolved.revision,
            "layer": self.layer,
            "exclude_special_tokens": self.exclude_special_tokens,
            "prefix": self.prefix,
            "max_length": self.max_length,
            "dtype": self.cache_dtype,
        }

    def token_policy(self) -> dict:
        """This encoder's token policy (special tokens, prefix, maximum length)."""
        return self.policy.as_dict()

    def unload(self) -> None:
        """Drop the model (it is loaded again on next use) and return its memory."""
        if self._model is not None:
            self._model = None
            import gc

            gc.collect()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    @property
    def model_loaded(self) -> bool:
        """Whether the model has been loaded (a fully cached run never loads it)."""
        return self._model is not None

    @property
    def model(self) -> torch.nn.Module:
        """The encoder, loaded on first use (a fully cached run never loads it)."""
        if self._model is None:
            self._model = load_model(
                self.resolved,
                revision=self.revision,
                trust_remote_code=self.trust_remote_code,
                attn_implementation=self.attn_implementation,
                device=self.device,
            )
        return self._model

    # ------------------------------------------------------------------ tokenisation
    def tokenize(self, texts: Sequence[str]) -> dict:
        """:meth:`TokenPolicy.tokenize <socm.encode.tokens.TokenPolicy.tokenize>`."""
        return self.policy.tokenize(texts)

    def token_strings(self, text: str) -> list[str]:
        """The token strings of ``text`` kept under the policy (for labels in figures)."""
        return self.policy.token_strings(text)

    def prepare(self, texts: Sequence[str], ids: Sequence[str] | None = None) -> dict:
        """:meth:`TokenPolicy.prepare <socm.encode.tokens.TokenPolicy.prepare>`, with the
        texts' names (``ids``, default positions) for error messages."""
        tokens = self.policy.prepare(texts, ids)
        tokens["ids"] = list(ids) if ids is not None else [str(k) for k in range(len(texts))]
        return tokens

    def batches(
        self, tokens: dict, todo: Sequence[int] | None = None
    ) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
        """Padded model inputs on this encoder's device, longest texts first
        (:func:`socm.encode.batching.iter_batches`)."""
        todo = range(len(tokens["input_ids"])) if todo is None else todo
        return iter_batches(self.tokenizer, tokens, todo, self.batch_size, self.device)

    # ------------------------------------------------------------------ encoding
    def forward(self, batch: dict) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """(selected hidden state, all hidden states 0..L) for a padded batch."""
        selected, states = select_hidden_state(self.model, batch, self.layer)
        self.n_hidden_states = len(states)
        return selected, states

    def _load_timed(self, todo: list) -> float:
        """Load the model if texts must be encoded; the seconds it took."""
        if not todo or self._model is not None:
            return 0.0
        t0 = time.perf_counter()
        _ = self.model
        return time.perf_counter() - t0

    def encode(
        self,
        texts: Sequence[str],
        ids: Sequence[str] | None = None,
        progress: bool | Any = False,
    ) -> EncodeResult:
        """Token embeddings for ``texts``, from the cache where possible.

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
            return EncodeResult(embeddings=[])
        t0 = time.perf_counter()
        tokens = self.prepare(texts, ids)
        out = self._cached(self.cache, tokens)
        todo = [k for k, e in enumerate(out) if e is None]
        if hasattr(progress, "update") and len(todo) < len(texts):
            progress.update(len(texts) - len(todo))
        load = self._load_timed(todo)
        run_forward(self, tokens, todo, Outputs(embeddings=out), progress)
        return EncodeResult(
            embeddings=out,  # type: ignore[arg-type]
            n_truncated=int(sum(tokens["truncated"])),
            n_cached=len(texts) - len(todo),
            n_encoded=len(todo),
            seconds=time.perf_counter() - t0,
            load_seconds=load,
            truncated=list(tokens["truncated"]),
            n_tokens=[int(k.sum()) for k in tokens["keep"]],
        )

    def layer_profiles(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, progress: bool = False
    ) -> LayerProfiles:
        """Per-layer normalised spread and average cosine of every text, cached per text.

        Under the encoder's token policy (:func:`socm.core.stats.spread_and_cosine`); see
        :class:`LayerProfiles` for the layout.
        """
        if len(texts) == 0:
            return LayerProfiles(profiles=np.empty((0, self.hidden_state_count(), 2)))
        t0 = time.perf_counter()
        tokens = self.prepare(texts, ids)
        out = (
            self.profile_cache.get_many(tokens["keys"])
            if self.profile_cache
            else [None] * len(texts)
        )
        todo = [k for k, e in enumerate(out) if e is None]
        self._load_timed(todo)
        run_forward(self, tokens, todo, Outputs(profiles=out), progress)
        return LayerProfiles(
            profiles=np.stack(out),
            n_cached=len(texts) - len(todo),
            n_encoded=len(todo),
            seconds=time.perf_counter() - t0,
        )

    def encode_all_layers(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, progress: bool = False
    ) -> list[list[np.ndarray]]:
        """Token embeddings of every hidden state: ``result[l][k]`` for layer ``l``, text ``k``.

        Uses (and fills) the per-layer caches, the same entries an encoder with ``layer=l``
        reads, so that one forward pass serves every layer.
        """
        tokens = self.prepare(texts, ids)
        caches = [self._layer_cache(layer) for layer in range(self.hidden_state_count())]
        per_layer = [self._cached(c, tokens) for c in caches]
        todo = [k for k in range(len(texts)) if any(pl[k] is None for pl in per_layer)]
        self._load_timed(todo)
        run_forward(self, tokens, todo, Outputs(layers=per_layer, layer_caches=caches), progress)
        return per_layer  # type: ignore[return-value]

    def hidden_state_count(self) -> int:
        """Number of hidden states L + 1 (embedding output and L layers)."""
        if self.n_hidden_states:
            return self.n_hidden_states
        n = getattr(self.config, "num_hidden_layers", None)
        if n is None:  # count them on a one-token forward pass
            _, batch = next(self.batches(self.tokenize(["x"])))
            with torch.inference_mode():
                self.forward(batch)
            return int(self.n_hidden_states)
        return int(n) + 1

    def _cached(self, cache: EmbeddingCache | None, tokens: dict) -> list[np.ndarray | None]:
        """Cached token embeddings of the prepared texts as float32 (None: not cached)."""
        if cache is None:
            return [None] * len(tokens["keys"])
        return [
            e if e is None or e.dtype == np.float32 else e.astype(np.float32)
            for e in cache.get_many(tokens["keys"])
        ]

    def _layer_cache(self, layer: int) -> EmbeddingCache | None:
        if self.cache_root is None:
            return None
        return EmbeddingCache(self.cache_root, {**self.cache_config(), "layer": layer})
