"""Run folders: where a run's files go, how they are named and read back.

A run folder holds ``summary.json``, ``pairs.parquet`` and ``texts.jsonl`` (``socm measure``) and
``<name>.parquet``, ``<name>_summary.json``, ``<name>_info.json`` per analysis (``layers``,
``mechanism``); every file is written atomically (:mod:`socm.files`).
"""

from __future__ import annotations

import json
import platform
import re
from pathlib import Path
from typing import Any

import numpy as np

from socm.errors import SocmError
from socm.files import atomic_write_json, atomic_write_parquet

__all__ = [
    "SUMMARY_FIELDS",
    "default_out_dir",
    "out_dir",
    "per_layer_table",
    "read_summary",
    "run_file",
    "slug",
    "summary_row",
    "versions",
    "write_per_layer",
]

#: The per-run figures tables show (``summary_row``); optional ones may be missing.
SUMMARY_FIELDS = (
    "model",
    "corpus",
    "n_texts",
    "n_pairs",
    "numerics",
    "avg_socm",
    "avg_d_mu",
    "avg_d_sigma",
    "avg_normalized_spread",
    "share_spread_over_2",
)


def slug(name: str, keep_org: bool = False) -> str:
    """A file-name-safe form of a model id or corpus name.

    ``keep_org=False`` keeps the last path component (``org/name`` -> ``name``);
    ``keep_org=True`` keeps the whole id (``org/name`` -> ``org__name``).
    """
    text = name.strip("/").replace("/", "__") if keep_org else name.rstrip("/").split("/")[-1]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def default_out_dir(model: str, corpus: str, n: int | str) -> Path:
    """``socm-runs/<model-slug>-<corpus>-<n>``."""
    corpus_slug = slug(Path(corpus).stem if Path(corpus).suffix else corpus)
    return Path("socm-runs") / f"{slug(model)}-{corpus_slug}-{n}"


def out_dir(out: str | Path | None, model: str, corpus: str, n: int | str) -> Path:
    """The run folder: ``out`` when given, else :func:`default_out_dir`."""
    return Path(out) if out else default_out_dir(model, corpus, n)


def versions() -> dict[str, str]:
    """Versions of the packages that determine the numbers."""
    import importlib.metadata as md

    found = {"python": platform.python_version()}
    for pkg in ("socm", "torch", "transformers", "tokenizers", "numpy", "scipy"):
        try:
            found[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            found[pkg] = "not installed"
    return found


def run_file(run: str | Path, name: str) -> Path:
    """Path of ``name`` in run folder ``run``; a clear error when the folder or file is missing."""
    path = Path(run) / name
    if not Path(run).is_dir():
        raise SocmError(f"run folder not found: {run}")
    if not path.is_file():
        raise SocmError(f"{run}: missing {name} (incomplete run folder)")
    return path


def read_summary(run: str | Path) -> dict:
    """A measure run's ``summary.json``."""
    return json.loads(run_file(run, "summary.json").read_text(encoding="utf-8"))


def summary_row(summary: dict[str, Any], run: str | Path | None = None) -> dict[str, Any]:
    """The :data:`SUMMARY_FIELDS` of a summary (None where missing), and the run folder."""
    row = {k: summary.get(k) for k in SUMMARY_FIELDS}
    if run is not None:
        row["run"] = str(run)
    return row


def per_layer_table(ids: list[str], layers: np.ndarray, columns: dict[str, Any]) -> Any:
    """A long ``pyarrow.Table``: one row per text and layer (``text_id``, ``layer``, columns).

    ``columns`` maps a name to an ``(n_texts, n_layers)`` array, or to an
    ``(n_texts, n_layers, k)`` array stored as a list column.
    """
    import pyarrow as pa

    n, n_layers = len(ids), len(layers)
    data: dict[str, Any] = {
        "text_id": pa.array(np.repeat(np.array(ids, dtype=object), n_layers).tolist(), pa.string()),
        "layer": np.tile(np.asarray(layers), n),
    }
    for name, values in columns.items():
        values = np.asarray(values)
        if values.ndim == 3:
            data[name] = pa.array(values.reshape(n * n_layers, -1).tolist(), pa.list_(pa.float64()))
        else:
            data[name] = values.reshape(n * n_layers)
    return pa.table(data)


def write_per_layer(out: Path, name: str, table: Any, records: list[dict], info: dict) -> None:
    """``<name>.parquet`` (long table, :func:`per_layer_table`), ``<name>_summary.json``
    (per-layer records) and ``<name>_info.json`` (settings) in run folder ``out``, atomically."""
    atomic_write_parquet(Path(out) / f"{name}.parquet", table)
    atomic_write_json(Path(out) / f"{name}_summary.json", records)
    atomic_write_json(Path(out) / f"{name}_info.json", info)
