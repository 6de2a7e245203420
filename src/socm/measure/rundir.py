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
    "check_pairs",
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

    When the folder holding ``path`` has a ``summary.json`` (a run folder), the pairs are
    checked against that record first (:func:`check_pairs`): a missing, extra or changed part,
    or a file with another number of pairs, is refused, never read as the whole run.

    Raises
    ------
    SocmError
        A folder without parts; pairs that do not match the run's record.
    """
    import pyarrow.dataset as pads

    path = Path(path)
    files = _pair_files(path)
    if (path.parent / "summary.json").is_file():
        check_pairs(path, read_summary(path.parent), files)
    return pads.dataset([str(p) for p in files], format="parquet")


def _pair_files(path: Path) -> list[Path]:
    """The file, or the parts of a folder in part order."""
    if not path.is_dir():
        return [path]
    parts = sorted(path.glob("part-*.parquet"), key=_part_number)
    if not parts:
        raise SocmError(f"{path}: a pairs folder without part-*.parquet files")
    return parts


_CHECKED: dict[tuple, bool] = {}


def check_pairs(path: Path, summary: dict, files: list[Path] | None = None) -> None:
    """Refuse a ``pairs.parquet`` that is not the one its run recorded.

    A folder of parts must hold exactly ``part-000000`` .. ``part-<count - 1>`` with the rows
    per part of the run's ``summary.json`` (``pairs_parts``: ``count`` and ``rows``); a run
    of an older socm, without that record, must hold contiguous parts. A file, or all parts
    together, must hold the summary's ``n_pairs`` rows. Only the parquet footers are read,
    and a check is remembered while no file changes (name, size, modification time).

    Raises
    ------
    SocmError
        Naming the file or folder, what is missing or different, and what to do.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    files = _pair_files(path) if files is None else files
    try:
        stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    except OSError as exc:
        raise SocmError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    key = (str(path.resolve()), stamp, json.dumps(summary.get("pairs_parts")), summary["n_pairs"])
    if key in _CHECKED:
        return
    hint = "the run folder is damaged; rerun socm measure"
    record = summary.get("pairs_parts")
    try:
        rows = [pq.read_metadata(f).num_rows for f in files]
    except (OSError, ValueError) as exc:
        raise SocmError(
            f"{path}: unreadable parquet ({str(exc).splitlines()[0]}); {hint}"
        ) from None
    if path.is_dir():
        numbers = [_part_number(f)[0] for f in files]
        if isinstance(record, dict) and isinstance(record.get("rows"), list):
            want = list(range(int(record.get("count", len(record["rows"])))))
            if numbers != want:
                gone = sorted(set(want) - set(numbers))
                extra = sorted(set(numbers) - set(want))
                what = (
                    f"part {gone[0]} of {len(want)} is missing"
                    if gone
                    else f"part {extra[0]} is not one of the run's {len(want)} parts"
                )
                raise SocmError(f"{path}: {what}; {hint}")
            for k, (got, expected) in enumerate(zip(rows, record["rows"], strict=True)):
                if got != expected:
                    raise SocmError(
                        f"{files[k]}: {got:,} pairs where the run wrote {expected:,}; {hint}"
                    )
        elif numbers != list(range(len(files))):
            gone = sorted(set(range(max(numbers) + 1)) - set(numbers))
            raise SocmError(f"{path}: part {gone[0] if gone else '?'} is missing; {hint}")
    if sum(rows) != summary["n_pairs"]:
        raise SocmError(
            f"{path}: {sum(rows):,} pairs where the run's summary.json records "
            f"{summary['n_pairs']:,}; {hint}"
        )
    _CHECKED[key] = True
    if len(_CHECKED) > 64:
        _CHECKED.pop(next(iter(_CHECKED)))


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
