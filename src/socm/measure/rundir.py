"""Run folders: where a run's files go, how they are named and read back.

A run folder holds ``summary.json``, ``pairs.parquet`` and ``texts.jsonl`` (``socm measure``) and
``<name>.parquet``, ``<name>_summary.json``, ``<name>_info.json`` per analysis (``layers``,
``mechanism``); every file is written atomically (:mod:`socm.files`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from socm.core.schema import BUILTIN_COLUMNS, averaged_names
from socm.errors import SocmError
from socm.files import versions

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


Check = Callable[[Any], bool]


def _is_int(lo: int = 0) -> Check:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo


def _is_num(lo: float = -math.inf, hi: float = math.inf) -> Check:
    return lambda v: (
        isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
        and lo <= v <= hi
    )


def _or_none(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_interval(v: Any) -> bool:
    return v is None or (
        isinstance(v, list) and len(v) == 2 and all(map(_is_num(), v)) and v[0] <= v[1]
    )


def _is_parts(v: Any) -> bool:
    return (
        isinstance(v, dict)
        and _is_int()(v.get("count"))
        and isinstance(v.get("rows"), list)
        and len(v["rows"]) == v["count"]
        and all(map(_is_int(), v["rows"]))
    )


def _is_quantiles(v: Any) -> bool:
    return isinstance(v, dict) and all(map(_or_none(_is_num()), v.values()))


#: The fields of a measure summary a reader may use, and what each must be: the required ones
#: first (:data:`_REQUIRED_SUMMARY_KEYS`), then those checked when present. Every other
#: ``avg_<column>`` must be a finite number, its ``_ci95`` an interval and its ``_se`` a
#: number >= 0 (or None).
_SUMMARY_CHECKS: dict[str, Check] = {
    "model": _is_str,
    "corpus": _is_str,
    "numerics": lambda v: v in ("exact", "paper"),
    "n_texts": _is_int(2),
    "n_pairs": _is_int(1),
    "pairs": lambda v: v in ("all", "sampled", "listed"),
    "revision": _or_none(_is_str),
    "model_path": _or_none(_is_str),
    "layer": lambda v: v == "last" or _is_int(-(2**31))(v),
    "token_policy": lambda v: isinstance(v, dict),
    "config": lambda v: isinstance(v, dict),
    "n_truncated": _is_int(),
    "n_dropped_empty": _is_int(),
    "n_d_sigma_over_1": _is_int(),
    "n_population": _or_none(_is_int()),
    "pairs_possible": _or_none(_is_int()),
    "ci_level": _is_num(0.0, 1.0),
    "socm_quantiles": _is_quantiles,
    "avg_normalized_spread": _is_num(0.0),
    "share_spread_over_2": _is_num(0.0, 1.0),
    "pairs_file": lambda v: isinstance(v, bool),
    "pairs_parts": _is_parts,
    "by_label": lambda v: isinstance(v, dict) and all(isinstance(x, dict) for x in v.values()),
}


def _check_of(key: str) -> Check | None:
    if key in _SUMMARY_CHECKS:
        return _SUMMARY_CHECKS[key]
    if key.startswith("avg_") and key.endswith("_ci95"):
        return _is_interval
    if key.startswith("avg_") and key.endswith("_se"):
        return _or_none(_is_num(0.0))
    if key.startswith("avg_"):
        return _is_num()
    return None


def _is_top_pair(v: Any) -> bool:
    numbers = ("cosine", "d_mu", "d_sigma", "socm", "relative_d_sigma")
    return (
        isinstance(v, dict)
        and _is_int(1)(v.get("rank"))
        and all(_is_num()(v.get(k)) for k in numbers if k in v)
        and all(_is_str(v.get(k)) for k in ("text1", "text2"))
    )


#: The fields of a mine summary a reader may use, and what each must be when present
#: (``model``, ``corpus`` and ``n_texts`` required; readers take what else a folder of an older
#: or newer socm has, and a command that needs the settings checks ``config`` itself).
_MINE_CHECKS: dict[str, Check] = {
    "command": lambda v: v == "mine",
    "model": _is_str,
    "corpus": _is_str,
    "numerics": lambda v: v in ("exact", "paper"),
    "config": lambda v: isinstance(v, dict),
    "n_texts": _is_int(1),
    "top_pairs": lambda v: isinstance(v, list) and all(map(_is_top_pair, v)),
    "revision": _or_none(_is_str),
    "token_policy": lambda v: isinstance(v, dict),
    "cache_dtype": lambda v: v in ("float32", "float16"),
    "n_texts_corpus": _is_int(),
    "n_candidates": _is_int(),
    "n_kept": _is_int(),
    "neighbors": _is_int(1),
    "top_k": _or_none(_is_int(1)),
    "max_per_text": _or_none(_is_int(1)),
    "min_tokens": _or_none(_is_int()),
    "rank_by": _is_str,
    "n_truncated": _is_int(),
    "n_dropped_empty": _is_int(),
    "n_duplicates_kept": _is_int(),
    "max_length": _or_none(_is_int(1)),
    "avg_normalized_spread": _is_num(0.0),
    "neighbor_info": lambda v: isinstance(v, dict),
    "timings": lambda v: isinstance(v, dict) and all(map(_is_num(0.0), v.values())),
}
_MINE_REQUIRED = ("model", "corpus", "n_texts")


def _problem(
    data: Any, required: tuple[str, ...], check_of: Callable[[str], Check | None], kind: str
) -> str | None:
    """Why ``data`` is not a ``kind``, or None when it has every ``required`` key and every
    field a reader may use has its type and a possible value (finite averages, counts >= 0,
    intervals lo <= hi, ...)."""
    if not isinstance(data, dict):
        return f"not a {kind} (a JSON {type(data).__name__}, not an object)"
    missing = [k for k in required if k not in data]
    if missing:
        return f"not a {kind} (missing {', '.join(missing)})"
    wrong = [k for k, v in data.items() if (check := check_of(k)) is not None and not check(v)]
    if not wrong:
        return None
    shown = ", ".join(f"{k}: {data[k]!r}"[:60] for k in wrong[:3])
    return f"not a {kind} (wrong type or value of {shown})"


def _summary_problem(data: Any) -> str | None:
    """Why ``data`` is not a measure summary (:func:`_problem`), or None."""
    return _problem(data, _REQUIRED_SUMMARY_KEYS, _check_of, "socm summary")


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
        is not a mine summary: not JSON, a required field missing, or a field of the wrong type
        or an impossible value (:data:`_MINE_CHECKS`); the message names the file.
    """
    path = run_file(run, "mine_summary.json")
    data = _read_json(path, "rerun socm mine")
    problem = _problem(data, _MINE_REQUIRED, _MINE_CHECKS.get, "socm mine summary")
    if problem:
        raise SocmError(f"{path}: {problem}; rerun socm mine")
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
        The summary. It has at least ``model``, ``corpus`` and ``numerics`` (text),
        ``n_texts`` and ``n_pairs`` (whole numbers) and ``avg_socm``, ``avg_d_mu`` and
        ``avg_d_sigma`` (finite numbers); every other field a reader uses has its type and a
        possible value when present (:data:`_SUMMARY_CHECKS`).

    Raises
    ------
    SocmError
        The folder or file is missing, the file is not valid UTF-8 JSON, not a JSON object,
        lacks a required key or holds a field of the wrong type or an impossible value (NaN,
        a negative count, ...); the message names the file.
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
