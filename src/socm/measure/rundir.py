"""Run folders: where a run's files go, how they are named and read back.

A run folder holds ``summary.json``, ``pairs.parquet`` and ``texts.jsonl`` (``socm measure``) and
``<name>.parquet``, ``<name>_summary.json``, ``<name>_info.json`` per analysis (``layers``,
``mechanism``); every file is written atomically (:mod:`socm.files`).
"""

from __future__ import annotations

import json
import platform
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from socm.core.schema import BUILTIN_COLUMNS, averaged_names
from socm.errors import SocmError

__all__ = [
    "SUMMARY_FIELDS",
    "pairs_dataset",
    "per_layer_table",
    "read_mine_summary",
    "read_summary",
    "run_file",
    "slug",
    "summary_row",
    "versions",
]

# Keys every summary.json written by socm measure has (checked by read_summary): the averages
# of the built-in averaged pair columns, SOCM first.
_REQUIRED_SUMMARY_KEYS = (
    "model",
    "corpus",
    "n_texts",
    "n_pairs",
    "numerics",
    *(f"avg_{name}" for name in averaged_names(BUILTIN_COLUMNS)),
)
#: The per-run figures tables show (``summary_row``); optional ones may be missing.
SUMMARY_FIELDS = (*_REQUIRED_SUMMARY_KEYS, "avg_normalized_spread", "share_spread_over_2")


def slug(name: str, keep_org: bool = False) -> str:
    """A file-name-safe form of a model id or corpus name.

    ``keep_org=False`` keeps the last path component (``org/name`` -> ``name``);
    ``keep_org=True`` keeps the whole id (``org/name`` -> ``org__name``).
    """
    text = name.strip("/").replace("/", "__") if keep_org else name.rstrip("/").split("/")[-1]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


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


#: The record of each kind of run folder, the command that writes it and its other files.
_KINDS = {
    "socm measure": ("summary.json", ("pairs.parquet", "texts.jsonl")),
    "socm mine": ("mine_summary.json", ("candidates.parquet", "texts.parquet")),
}


def run_file(run: str | Path, name: str) -> Path:
    """Path of ``name`` in run folder ``run``; a clear error when the folder or file is
    missing, saying what the folder is when it holds another kind of run."""
    path = Path(run) / name
    if not Path(run).is_dir():
        raise SocmError(f"run folder not found: {run}")
    if not path.exists():
        wanted = [c for c, (record, files) in _KINDS.items() if name in (record, *files)]
        for command, (record, _files) in _KINDS.items():
            if wanted and command not in wanted and (Path(run) / record).is_file():
                raise SocmError(
                    f"{run} is a {command} run folder ({record}), not a {wanted[0]} run "
                    f"(it has no {name})"
                )
        raise SocmError(f"{run}: missing {name} (incomplete run folder)")
    return path


def pairs_dataset(path: str | Path) -> Any:
    """A run's ``pairs.parquet`` as a :class:`pyarrow.dataset.Dataset`: one file (a local
    run), or a folder of ``part-*.parquet`` files (a cluster run: one part per task, read in
    part order, which is the order of the tiles or of the listed pairs).

    Raises
    ------
    SocmError
        A folder without parts.
    """
    import pyarrow.dataset as pads

    path = Path(path)
    if path.is_dir():
        parts = sorted(path.glob("part-*.parquet"), key=_part_number)
        if not parts:
            raise SocmError(f"{path}: a pairs folder without part-*.parquet files")
        return pads.dataset([str(p) for p in parts], format="parquet")
    return pads.dataset(str(path), format="parquet")


def iter_pairs_batches(
    path: str | Path, columns: list[str], batch_size: int = 1 << 16
) -> Iterator[Any]:
    """Record batches of ``columns`` of a run's ``pairs.parquet`` (a file, or a folder of
    parts in part order), one file and one row group at a time
    (:meth:`pyarrow.parquet.ParquetFile.iter_batches`), so memory stays at a batch whatever
    the size of the run (a dataset scan, or pre-buffered reading, would read ahead)."""
    import pyarrow.parquet as pq

    for file in pairs_dataset(path).files:
        # no pre-buffering: it reads a whole file's column chunks ahead (memory ~ the run)
        with pq.ParquetFile(file, pre_buffer=False, buffer_size=1 << 20) as pf:
            yield from pf.iter_batches(batch_size=batch_size, columns=columns)


def _part_number(path: Path) -> tuple[int, str]:
    """``part-000012.parquet`` -> (12, name): parts in task order, past a million too."""
    digits = path.name[len("part-") : -len(".parquet")]
    return (int(digits) if digits.isdigit() else -1, path.name)


_TEXT_KEYS = ("model", "corpus", "numerics")


def _summary_problem(data: Any) -> str | None:
    """Why ``data`` is not a measure summary, or None when it has the required keys and types."""
    if not isinstance(data, dict):
        return f"not a socm summary (a JSON {type(data).__name__}, not an object)"
    missing = [k for k in _REQUIRED_SUMMARY_KEYS if k not in data]
    if missing:
        return f"not a socm summary (missing {', '.join(missing)})"
    wrong = [
        k
        for k in _REQUIRED_SUMMARY_KEYS
        if (
            not isinstance(data[k], str)
            if k in _TEXT_KEYS
            else isinstance(data[k], bool) or not isinstance(data[k], int | float)
        )
    ]
    if wrong:
        return f"not a socm summary (wrong type of {', '.join(wrong)})"
    return None


def _read_json(path: Path, hint: str) -> Any:
    """A run record's JSON, or one line naming the file and what is wrong with it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SocmError(f"{path}: not valid UTF-8; {hint}") from None
    except json.JSONDecodeError as exc:
        raise SocmError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); {hint}"
        ) from None
    except OSError as exc:
        raise SocmError(f"{path}: cannot be read ({exc.strerror or exc}); {hint}") from None


def read_mine_summary(run: str | Path) -> dict:
    """A mine run's ``mine_summary.json``, checked.

    Raises
    ------
    SocmError
        The folder or file is missing (saying so when the folder is a measure run), or the file
        is not a mine summary; the message names the file.
    """
    path = run_file(run, "mine_summary.json")
    data = _read_json(path, "rerun socm mine")
    if not isinstance(data, dict) or data.get("command") != "mine":
        raise SocmError(f"{path}: not a socm mine summary; rerun socm mine")
    return data


def read_summary(run: str | Path) -> dict:
    """A measure run's ``summary.json``, checked.

    Parameters
    ----------
    run : str or Path
        The run folder.

    Returns
    -------
    dict
        The summary. It has at least ``model``, ``corpus`` and ``numerics`` (text) and
        ``n_texts``, ``n_pairs``, ``avg_socm``, ``avg_d_mu`` and ``avg_d_sigma`` (numbers;
        non-finite ones are kept, for the caller to judge).

    Raises
    ------
    SocmError
        The folder or file is missing, the file is not valid UTF-8 JSON, not a JSON object, or
        lacks a required key; the message names the file.
    """
    path = run_file(run, "summary.json")
    hint = "rerun socm measure"
    data = _read_json(path, hint)
    problem = _summary_problem(data)
    if problem:
        raise SocmError(f"{path}: {problem}; {hint}")
    return data


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
