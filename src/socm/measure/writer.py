"""Writing a run folder so that it always holds exactly one run, complete or untouched.

Rules (a result is either right or refused):

* **Default names are unique per configuration**: ``socm-runs/<model>-<corpus>-<n>-<hash>``,
  the hash covering every setting that changes a number (:func:`settings_hash`); a rerun of the
  same configuration reuses its folder, another seed or numerics gets its own.
* **One run per folder**: a folder's ``socm-run.json`` manifest records the run's identity (the
  texts, the model and the token policy: :func:`run_identity`) and, per command (``measure``,
  ``layers``, ``mechanism``), its settings and files. A command may add its files to a folder of
  the same identity (``layers`` after ``measure``), or replace its own earlier files when its
  settings are the same (a rerun). Anything else, and any folder holding socm files without a
  manifest, is refused unless ``overwrite``: then every socm file of the old run is removed,
  so no stale file survives under the new run.
* **All or nothing**: a command writes into a staging folder beside the target
  (``.<name>.<8 characters>``) and moves its files in only when everything is written; a
  failure leaves the target untouched. A live staging folder is locked (``flock``) by its
  run; one left by a killed run is not, and the next run of that folder removes it.
* **Checked again at the move** (compare and swap): the folder is checked before the work and
  again, under an exclusive lock of its parent folder, just before the files are moved in. If
  another run wrote the folder in between (two runs racing for one ``--out``), the later one is
  refused and its files are not kept, never silently replacing or mixing with the other's.
* **Paths are checked first**: before any model is loaded, :class:`RunWriter` refuses an
  ``out`` that is a file, lies under a file, or where no folder can be created.
* **Usual permissions**: the run folder gets the permissions of a new folder under the umask.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from socm.errors import SocmError
from socm.files import (
    atomic_write_json,
    atomic_write_parquet,
    check_writable_dir,
    folder_lock,
    hold_lock,
    usual_mode,
)
from socm.measure.config import MeasureConfig
from socm.measure.rundir import slug

__all__ = [
    "MANIFEST",
    "RUN_FILES",
    "RunWriter",
    "default_run_dir",
    "run_identity",
    "settings_hash",
    "write_per_layer",
]

MANIFEST = "socm-run.json"
#: Files socm writes into run folders (removed with ``overwrite``); others are left alone.
RUN_FILES = (
    MANIFEST,
    "summary.json",
    "pairs.parquet",
    "texts.jsonl",
    "texts.parquet",
    "candidates.parquet",
    "mine_summary.json",
    "layers.parquet",
    "layers_summary.json",
    "layers_info.json",
    "mechanism.parquet",
    "mechanism_summary.json",
    "mechanism_info.json",
    "scatter.png",
)
#: Settings that change how fast a run is, not what it computes.
_EXECUTION = (
    "device",
    "batch_size",
    "cache_dir",
    "no_cache",
    "backend",
    "backend_address",
    "store",
    "memory_budget",
)
#: Settings that choose the texts, the model and the token policy: a folder's identity.
_IDENTITY = (
    "model",
    "revision",
    "trust_remote_code",
    "corpus",
    "unit",
    "text_column",
    "id_column",
    "no_header",
    "no_title",
    "n_texts",
    "seed",
    "pairs_file",
    "exclude_special_tokens",
    "prefix",
    "max_length",
    "extra",
)
#: Token-policy and precision settings added later: part of the identity only when set (they
#: are left out of the result key at their defaults), so earlier folders keep theirs.
_LATER_IDENTITY = (
    "prompt",
    "prompt_name",
    "exclude_prompt_tokens",
    "exclude_first_token",
    "dtype",
    "long_texts",
)


def settings_hash(cfg: MeasureConfig, command: str = "measure") -> str:
    """8 hex digits of the SHA-256 of every setting that changes a result."""
    key = {k: v for k, v in cfg.result_key().items() if k not in _EXECUTION}
    blob = json.dumps({"command": command, **key}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def default_run_dir(cfg: MeasureConfig, corpus_name: str, n: int, command: str = "measure") -> Path:
    """``socm-runs/<model>-<corpus>-<n>-<settings hash>``.

    ``measure`` and the analyses hash their common settings (the texts, the model, the token
    policy, the numerics), so ``socm layers`` with the flags of an earlier ``socm measure``
    writes into that run's folder.
    """
    corpus_slug = slug(Path(corpus_name).stem if Path(corpus_name).suffix else corpus_name)
    name = f"{slug(cfg.model)}-{corpus_slug}-{n}-{settings_hash(cfg)}"
    return Path("socm-runs") / name


def run_identity(cfg: MeasureConfig) -> dict[str, Any]:
    """What a run folder is about: its texts, model and token policy (the corpus-reading
    flags only when given, :meth:`MeasureConfig.result_key`)."""
    data = cfg.result_key()
    return {k: data[k] for k in (*_IDENTITY, *_LATER_IDENTITY) if k in data}


def _socm_files(folder: Path) -> list[Path]:
    return [folder / name for name in RUN_FILES if (folder / name).exists()]


def _remove(path: Path) -> None:
    """Remove a run file, or a run's folder of parts."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _read_manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and "identity" in data else None


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


class RunWriter:
    """Writes one command's files into a run folder, all or nothing.

    Parameters
    ----------
    out : Path
        The run folder.
    command : str
        ``"measure"``, ``"layers"``, ``"mechanism"``, ...
    cfg : MeasureConfig
        The command's settings (identity, rerun detection); ``cfg.overwrite`` allows replacing
        another run.

    Raises
    ------
    SocmError
        At construction, before any work: a bad path, or a folder holding another run.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from socm.measure.config import MeasureConfig
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> with RunWriter(out, "measure", MeasureConfig()) as w:
    ...     _ = w.path("summary.json").write_text("{}")
    >>> sorted(p.name for p in out.iterdir())
    ['socm-run.json', 'summary.json']
    """

    def __init__(self, out: Path, command: str, cfg: MeasureConfig) -> None:
        self.out = Path(out)
        self.command = command
        self.cfg = cfg
        self.identity = _jsonable(run_identity(cfg))
        self.settings = _jsonable(cfg.result_key())
        check_writable_dir(self.out, "run folder")
        self._replace_all = False
        self._check_folder()
        self._seen = self._state()  # what the check saw: compared again at the move
        self._tmp: Path | None = None
        self._tmp_lock: int | None = None

    def _check_folder(self) -> None:
        existing = _socm_files(self.out) if self.out.is_dir() else []
        if not existing:
            return
        manifest = _read_manifest(self.out)
        if manifest is not None and manifest["identity"] == self.identity:
            mine = manifest.get("commands", {}).get(self.command)
            if mine is None or mine.get("settings") == self.settings:
                return  # another command on the same texts, or a rerun of this one
            what = f"a {self.command} run with other settings"
        elif manifest is not None:
            ident = manifest["identity"]
            what = (
                f"a run of {ident.get('model')} on {ident.get('corpus')} "
                "with other texts or settings"
            )
        else:
            what = "files of another run (" + ", ".join(p.name for p in existing[:3]) + ")"
        if not self.cfg.overwrite:
            raise SocmError(
                f"{self.out} holds {what}: choose another --out, or pass --overwrite to "
                "replace that run"
            )
        self._replace_all = True

    def _state(self) -> tuple:
        """What the folder's check depends on: with ``overwrite`` everything (the files and
        the whole manifest), else the run's identity and this command's record."""
        files = sorted(p.name for p in _socm_files(self.out)) if self.out.is_dir() else []
        manifest = _read_manifest(self.out) if files else None
        if self._replace_all:
            return ("all", files, json.dumps(manifest, sort_keys=True))
        if manifest is None:
            return ("none", files)
        mine = manifest.get("commands", {}).get(self.command)
        return ("run", json.dumps(manifest["identity"], sort_keys=True), json.dumps(mine))

    def _unchanged(self) -> bool:
        """Whether the folder is as the check saw it; a new folder may meanwhile have got
        another command's files of the same identity (``layers`` beside ``measure``)."""
        now = self._state()
        if now == self._seen:
            return True
        mine = json.dumps(self.identity, sort_keys=True)
        return self._seen == ("none", []) and now == ("run", mine, "null")

    def __enter__(self) -> RunWriter:
        parent = self.out.parent
        parent.mkdir(parents=True, exist_ok=True)
        with folder_lock(parent):  # no other run between making its staging and locking it
            self._remove_stale_staging()
            self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", dir=parent))
            self._tmp_lock = hold_lock(self._tmp)
        os.chmod(self._tmp, usual_mode(folder=True))  # mkdtemp makes 0700
        return self

    def _remove_stale_staging(self) -> None:
        """Remove the staging folders of this run folder that no live run holds locked (left
        by a killed run)."""
        pattern = re.compile(rf"^\.{re.escape(self.out.name)}\.[A-Za-z0-9_]{{8}}$")
        for entry in self.out.parent.iterdir():
            if not pattern.match(entry.name) or not entry.is_dir() or entry.is_symlink():
                continue
            try:
                fd = hold_lock(entry, blocking=False)
            except OSError:
                continue
            if fd is None:
                continue  # a live run's
            try:
                shutil.rmtree(entry, ignore_errors=True)
            finally:
                os.close(fd)

    def path(self, name: str) -> Path:
        """Where to write file ``name`` (inside the temporary folder until :meth:`commit`)."""
        if self._tmp is None:
            raise RuntimeError("use RunWriter as a context manager")
        return self._tmp / name

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                with folder_lock(self.out.parent):
                    self._commit()
        finally:
            if self._tmp is not None and self._tmp.exists():
                shutil.rmtree(self._tmp, ignore_errors=True)
            if self._tmp_lock is not None:
                os.close(self._tmp_lock)
                self._tmp_lock = None

    def _commit(self) -> None:
        """Move the files in (called under the parent folder's lock), after checking that no
        other run wrote the folder since the check at the start.

        Raises
        ------
        SocmError
            Another run wrote the folder meanwhile.
        """
        assert self._tmp is not None
        if not self._unchanged():
            raise SocmError(
                f"{self.out} was written by another run while this one ran: this run's results "
                "are not kept (so that neither replaces the other); choose another --out, or "
                "rerun once the other run has finished"
            )
        files = sorted(p.name for p in self._tmp.iterdir())
        manifest = None if self._replace_all else _read_manifest(self.out)
        commands = dict(manifest.get("commands", {})) if manifest else {}
        stale = commands.get(self.command, {}).get("files", [])
        commands[self.command] = {
            "settings": self.settings,
            "files": files,
            "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "write_id": uuid.uuid4().hex,  # every write differs: a racing run sees it
        }
        new_manifest = {"format": 1, "identity": self.identity, "commands": commands}
        if not self.out.exists():
            atomic_write_json(self._tmp / MANIFEST, new_manifest)
            os.rename(self._tmp, self.out)
            return
        if self._replace_all:
            for old in _socm_files(self.out):
                _remove(old)
        else:
            for name in stale:  # this command's files from its previous run
                if name not in files:
                    _remove(self.out / name)
        for name in files:
            target = self.out / name
            if target.is_dir() or (target.exists() and (self._tmp / name).is_dir()):
                _remove(target)  # a folder (a cluster run's pairs) replaces a file, or back
            os.replace(self._tmp / name, target)
        atomic_write_json(self.out / MANIFEST, new_manifest)


def write_per_layer(
    writer: RunWriter, name: str, table: Any, records: list[dict], info: dict
) -> None:
    """``<name>.parquet`` (long table, :func:`socm.measure.rundir.per_layer_table`),
    ``<name>_summary.json`` (per-layer records) and ``<name>_info.json`` (settings) through
    ``writer`` (committed together)."""
    with writer:
        atomic_write_parquet(writer.path(f"{name}.parquet"), table)
        atomic_write_json(writer.path(f"{name}_summary.json"), records)
        atomic_write_json(writer.path(f"{name}_info.json"), info)
