"""Hugging Face datasets as corpora: ``hf:NAME[:CONFIG][@SPLIT]`` and ``save_to_disk`` folders.

``NAME`` is what :func:`datasets.load_dataset` takes (a hub id such as ``BeIR/scifact``, or a
local folder of data files); ``CONFIG`` its configuration and ``SPLIT`` its split (default: the
only split, else an error listing them). A folder written by ``Dataset.save_to_disk`` (or
``DatasetDict.save_to_disk``, with ``@SPLIT``) is read with :func:`datasets.load_from_disk`,
offline. The PyPI package ``datasets`` is an optional extra (``pip install 'socm[datasets]'``).

Columns: the text column ``text`` (``--text-column``), the id column ``id``, else ``_id`` (BEIR's
name), else the row number (``--id-column``). A dataset whose id column is ``_id`` and which has
a ``title`` column is read as BEIR reads it: ``title + " " + text`` (``no_title`` drops titles;
:func:`socm.inputs.records.titled`).

Whether a sample is drawn from a stream (:func:`should_stream`): a dataset on the hub whose
split holds more than :data:`STREAM_ABOVE_ROWS` rows, or whose size its metadata does not say,
is read as a stream (``streaming=True``) and sampled with a seeded reservoir
(:func:`socm.inputs.corpus.reservoir_sample`) without storing the dataset; a smaller one, a local
folder and a saved dataset are loaded and sampled as files are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from socm.errors import SocmError
from socm.inputs.records import pick_columns, titled

__all__ = [
    "HF_PREFIX",
    "STREAM_ABOVE_ROWS",
    "HFSpec",
    "is_saved_dataset",
    "open_rows",
    "parse_hf",
    "should_stream",
]

HF_PREFIX = "hf:"
#: Hub datasets with more rows than this in the split (or of unknown size) are sampled from a
#: stream.
STREAM_ABOVE_ROWS = 1_000_000


@dataclass(frozen=True)
class HFSpec:
    """A dataset, its configuration and its split, as ``hf:NAME[:CONFIG][@SPLIT]`` names them."""

    name: str
    config: str | None = None
    split: str | None = None

    @property
    def label(self) -> str:
        """The spec as written (the corpus's name)."""
        return (
            HF_PREFIX
            + self.name
            + (f":{self.config}" if self.config else "")
            + (f"@{self.split}" if self.split else "")
        )

    @property
    def saved(self) -> bool:
        """Whether ``name`` is a folder written by ``save_to_disk``."""
        return is_saved_dataset(Path(self.name))


def parse_hf(source: str) -> HFSpec:
    """The parts of ``hf:NAME[:CONFIG][@SPLIT]`` (the ``hf:`` prefix optional).

    Examples
    --------
    >>> parse_hf("hf:BeIR/scifact:corpus@corpus")
    HFSpec(name='BeIR/scifact', config='corpus', split='corpus')
    >>> parse_hf("hf:stsb_multi_mt:en").split is None
    True

    Raises
    ------
    SocmError
        An empty name, configuration or split.
    """
    body = source[len(HF_PREFIX) :] if source.startswith(HF_PREFIX) else source
    body, at, split = body.rpartition("@") if "@" in body else (body, "", "")
    name, colon, config = body.partition(":")
    if not name or (colon and not config) or (at and not split):
        raise SocmError(
            f"--corpus {source}: expected hf:NAME[:CONFIG][@SPLIT], e.g. hf:BeIR/scifact:corpus"
        )
    return HFSpec(name, config or None, split or None)


def is_saved_dataset(path: Path) -> bool:
    """Whether ``path`` is a folder written by ``Dataset.save_to_disk`` or
    ``DatasetDict.save_to_disk``."""
    return path.is_dir() and (
        (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()
    )


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise SocmError(
            "Hugging Face datasets as corpora need the PyPI package datasets: "
            "pip install 'socm[datasets]'"
        ) from None
    return datasets


def _fail(spec: HFSpec, exc: Exception) -> SocmError:
    first = (str(exc).strip().splitlines() or [""])[0]
    return SocmError(f"cannot load the dataset {spec.label} ({type(exc).__name__}: {first})")


def should_stream(spec: HFSpec) -> bool:
    """Whether a sample of ``spec`` is drawn from a stream: a dataset on the hub (not a local
    folder) whose split has more than :data:`STREAM_ABOVE_ROWS` rows, or whose metadata does
    not give its size. Reads the metadata only (no data files)."""
    if spec.saved or Path(spec.name).exists():
        return False
    datasets = _datasets()
    try:
        info = datasets.load_dataset_builder(spec.name, spec.config).info
    except Exception as exc:  # the hub unreachable, no such dataset, ...
        raise _fail(spec, exc) from None
    splits = info.splits or {}
    if spec.split is None and len(splits) == 1:
        split = next(iter(splits.values()))
    else:
        split = splits.get(spec.split) if spec.split else None
    rows = getattr(split, "num_examples", None)
    return not rows or rows > STREAM_ABOVE_ROWS


def _one_split(spec: HFSpec, found: Any) -> Any:
    """The split of a dataset dictionary that ``spec`` names (or its only one)."""
    names = list(found.keys())
    if spec.split is None:
        if len(names) == 1:
            return found[names[0]]
        raise SocmError(
            f"{spec.label} has the splits {', '.join(names)}: name one as {spec.label}@SPLIT"
        )
    if spec.split not in names:
        raise SocmError(f"{spec.label}: no split {spec.split!r} (splits: {', '.join(names)})")
    return found[spec.split]


def _open(spec: HFSpec, streaming: bool) -> Any:
    """The dataset (a ``Dataset``, or an ``IterableDataset`` when streaming) of one split."""
    datasets = _datasets()
    if spec.saved:
        if spec.config:
            raise SocmError(f"{spec.label}: a saved dataset has no configurations")
        try:
            found = datasets.load_from_disk(spec.name)
        except Exception as exc:
            raise _fail(spec, exc) from None
        return _one_split(spec, found) if hasattr(found, "keys") else found
    try:
        found = datasets.load_dataset(spec.name, spec.config, split=spec.split, streaming=streaming)
    except Exception as exc:
        if spec.split and "split" in str(exc).lower():
            raise SocmError(f"{spec.label}: no split {spec.split!r} ({str(exc)[:200]})") from None
        raise _fail(spec, exc) from None
    return _one_split(spec, found) if hasattr(found, "keys") else found


def open_rows(
    spec: HFSpec,
    *,
    text_column: str | None = None,
    id_column: str | None = None,
    no_title: bool = False,
    streaming: bool = False,
) -> tuple[Iterator[tuple[object, object, str]], dict]:
    """The raw ``(id, text, where)`` entries of a dataset's split, in its order, and the
    corpus's ``info``.

    Parameters
    ----------
    spec : HFSpec
    text_column, id_column : str, optional
        As for files (defaults ``text``; ``id``, else ``_id``, else the row number).
    no_title : bool
        Leave out the titles of a BEIR dataset.
    streaming : bool
        Read the rows as a stream (nothing stored), else load the split (downloaded once into
        the ``datasets`` cache).

    Raises
    ------
    SocmError
        ``datasets`` not installed, the dataset or split not found, a missing column,
        ``no_title`` for a dataset without BEIR titles.
    """
    ds = _open(spec, streaming)
    columns = list(ds.column_names or [])
    if not columns:  # a stream whose features are not declared: the first row's keys
        columns = list(next(iter(ds), {}).keys())
    t, i = pick_columns(spec.label, columns, text_column, id_column, id_defaults=("id", "_id"))
    text_name, id_name = columns[t], (columns[i] if i is not None else None)
    beir = id_name == "_id" and "title" in columns
    if no_title and not beir:
        raise SocmError(f"--no-title: {spec.label} has no BEIR titles (an _id and a title column)")
    with_title = beir and not no_title
    keep = [c for c in (id_name, text_name, "title" if with_title else None) if c]
    rows = ds.select_columns(keep)
    info = {
        "source": spec.label,
        "dataset": spec.name,
        "config": spec.config,
        "split": spec.split,
        "text_column": text_name,
        "id_column": id_name,
        "titles": with_title,
    }

    def entries() -> Iterator[tuple[object, object, str]]:
        for k, row in enumerate(rows):
            where = f"row {k}"
            text = row[text_name]
            if with_title:
                text = titled(row["title"], text, where, spec.label)
            yield (row[id_name] if id_name else k, text, where)

    return entries(), info
