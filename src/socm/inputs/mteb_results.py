"""MTEB results folders: each model's main score per task.

MTEB (``mteb`` 1.11 and later) writes one JSON file per model, revision and task:
``<org>__<model>/<revision>/<Task>.json``, under a ``results/`` folder in its results
repository and cache (both layouts are read). A task file holds ``task_name`` and ``scores``:
per split, a list of one entry per subset (``hf_subset``, ``languages``, ``main_score``, ...).
Files from before ``mteb`` 1.11 hold, per split, an object of subsets (or one subset's scores
directly); both are read. A revision folder may hold ``model_meta.json``, whose ``name`` is the
model's id; without it the id is the folder's name with ``__`` read as ``/`` (as ``mteb`` reads
it).

A task's score is its ``main_score`` on the test split, the mean over the split's subsets (as
``mteb.TaskResult.get_score`` aggregates them). Where a model's folder holds the same task under
several revisions, a named revision is preferred to ``no_revision_available`` / ``external``,
then the result of the newest ``mteb`` version (as ``mteb``'s ``join_revisions`` does without
its model registry); results that still tie are refused.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from socm.errors import SocmError

__all__ = ["MtebModel", "read_mteb_results"]

_UNNAMED = ("no_revision_available", "external")


@dataclass
class MtebModel:
    """One model's results in an MTEB results folder.

    Attributes
    ----------
    model : str
        The model's id (``model_meta.json``'s ``name``, else the folder's name, ``__`` as
        ``/``).
    folder : Path
        The model's folder.
    scores : dict of str to float
        Task name -> mean ``main_score`` over the subsets of the test split.
    revisions : dict of str to str
        Task name -> the revision folder its score comes from.
    no_split : list of str
        Tasks whose results have no test split.
    """

    model: str
    folder: Path
    scores: dict[str, float] = field(default_factory=dict)
    revisions: dict[str, str] = field(default_factory=dict)
    no_split: list[str] = field(default_factory=list)


def _version(text: object) -> tuple[int, ...]:
    """An ``mteb`` version as comparable numbers (``()`` when absent)."""
    return tuple(int(x) for x in re.findall(r"\d+", str(text or "")))[:3]


def _entries(split: object, path: Path) -> list[dict]:
    """The subset entries of one split, in either file format."""
    if isinstance(split, list):
        entries = split
    elif isinstance(split, dict) and "main_score" in split:
        entries = [split]  # before mteb 1.11, one subset: its scores directly
    elif isinstance(split, dict):
        entries = list(split.values())  # before mteb 1.11: subset -> scores
    else:
        entries = []
    if not entries or not all(isinstance(e, dict) for e in entries):
        raise SocmError(f"{path}: the test split's scores are not a list of subset scores")
    return entries


def _task_score(path: Path, split: str) -> tuple[str, float | None, tuple[int, ...]]:
    """(task name, mean main score over the split's subsets or None without that split,
    mteb version) of one task file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SocmError(f"{path}: not an MTEB result file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("scores", data), dict):
        raise SocmError(f"{path}: not an MTEB result file (no scores)")
    task = str(data.get("task_name") or path.stem)
    scores = data["scores"] if "scores" in data else data  # before 1.11: splits at the top
    if split not in scores:
        return task, None, _version(data.get("mteb_version"))
    values = []
    for entry in _entries(scores[split], path):
        value = entry.get("main_score")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SocmError(f"{path}: a {split} subset's main_score is {value!r}, not a number")
        if not math.isfinite(value):
            raise SocmError(f"{path}: a {split} subset's main_score is {value}")
        values.append(float(value))
    return task, sum(values) / len(values), _version(data.get("mteb_version"))


def _model_name(revision_dir: Path) -> str:
    meta = revision_dir / "model_meta.json"
    if meta.is_file():
        try:
            name = json.loads(meta.read_text(encoding="utf-8")).get("name")
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            name = None
        if isinstance(name, str) and name.strip():
            return name.strip()
    return revision_dir.parent.name.replace("__", "/")


def read_mteb_results(folder: str | Path, split: str = "test") -> list[MtebModel]:
    """Every model's main score per task in an MTEB results folder.

    Parameters
    ----------
    folder : str or Path
        The results folder (``<org>__<model>/<revision>/<Task>.json``), or the folder holding
        it as ``results/`` (MTEB's results repository and cache).
    split : str
        The split whose ``main_score`` counts (default ``test``).

    Returns
    -------
    list of MtebModel
        One per model, in the order of their folders' names.

    Raises
    ------
    SocmError
        No such folder, no result files, a file that is not an MTEB result (naming it), a
        main score that is not a finite number, two folders naming the same model, results of
        one task under several revisions that tie.
    """
    root = Path(folder)
    if not root.is_dir():
        raise SocmError(f"MTEB results folder not found: {root}")
    if (root / "results").is_dir():
        root = root / "results"
    models: dict[str, MtebModel] = {}
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        found: dict[str, list[tuple[tuple, str, float | None]]] = {}
        name = None
        for rev in sorted(p for p in model_dir.iterdir() if p.is_dir()):
            files = sorted(f for f in rev.glob("*.json") if f.name != "model_meta.json")
            if not files:
                continue
            name = name or _model_name(rev)
            for f in files:
                task, score, version = _task_score(f, split)
                rank = (rev.name not in _UNNAMED, version)
                found.setdefault(task, []).append((rank, rev.name, score))
        if name is None:
            continue
        if name.lower() in models:
            raise SocmError(
                f"{root}: the folders {models[name.lower()].folder.name} and {model_dir.name} "
                f"both hold results of {name}"
            )
        model = MtebModel(name, model_dir)
        for task, options in sorted(found.items()):
            options.sort(key=lambda o: o[0], reverse=True)
            if len(options) > 1 and options[0][0] == options[1][0]:
                revs = ", ".join(o[1] for o in options if o[0] == options[0][0])
                raise SocmError(
                    f"{model_dir}: {task} has results under the revisions {revs} (same mteb "
                    "version): keep one revision folder"
                )
            _, rev_name, score = options[0]
            if score is None:
                model.no_split.append(task)
            else:
                model.scores[task] = score
                model.revisions[task] = rev_name
        models[name.lower()] = model
    if not models:
        raise SocmError(
            f"{root}: no MTEB result files (expected <org>__<model>/<revision>/<Task>.json)"
        )
    return list(models.values())
