"""What every corpus source shares: the :class:`Corpus`, its integrity rules, columns and
records.

A source (a file, a built-in corpus, a Hugging Face dataset) reads its entries as raw
``(id, text, where)`` triples; :func:`finish` applies the rules every source keeps: texts are
strings (stripped; empty ones dropped and counted), ids are strings or integers and unique, and
an error names the line or row (``where``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from socm.errors import SocmError
from socm.inputs.text import has_visible

__all__ = [
    "Corpus",
    "Raw",
    "check_entry",
    "finish",
    "is_beir",
    "pick_columns",
    "record",
    "show_columns",
    "titled",
]


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
        ``"wikipedia"``, ``"wiki1m"``, the file's name or ``hf:<name>``.
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


def check_entry(ident: object, text: object, where: str, name: str) -> str:
    """The stripped text of one entry, after the type rules (a string text; a string or
    integer id; no NUL character in either), or ``""`` for a text without a visible character
    (empty, or only spaces, zero-width or format marks: :func:`socm.inputs.text.has_visible`),
    which the caller drops and counts; raises :class:`SocmError` naming ``where``."""
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
    return s if s and has_visible(s) else ""


def finish(raw: Raw, name: str, info: dict) -> Corpus:
    """A :class:`Corpus` of raw entries: types checked, texts stripped, empty and invisible
    ones dropped and counted, ids unique.

    Raises
    ------
    SocmError
        A text that is not a string, an id that is not a string or integer (naming the line or
        row), duplicate ids, no text at all.
    """
    ids, texts, dropped = [], [], 0
    for ident, text, where in raw:
        s = check_entry(ident, text, where, name)
        if not s:
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


def is_beir(obj: object) -> bool:
    """Whether a record is in BEIR's format (``corpus.jsonl``, ``queries.jsonl``): it has an
    ``_id``."""
    return isinstance(obj, dict) and "_id" in obj


def record(
    obj: object, k: int, where: str, source: object, *, beir: bool = False, no_title: bool = False
) -> tuple[object, object, str]:
    """The raw entry of a JSON record: ``text`` and ``id`` (else the row number ``k``).

    A BEIR record (``beir``: the source's first record has an ``_id``) takes its id from
    ``_id`` and, when it has a ``title`` and ``no_title`` is false, the text
    ``title + " " + text``: BEIR's own convention (its sentence-transformers encoder,
    ``beir.retrieval.models.SentenceBERT.encode_corpus``, joins title and text with a space
    and strips the result).

    Raises
    ------
    SocmError
        A record that is not an object or has no ``text`` (or, in a BEIR source, no ``_id``),
        or a title that is not a string.
    """
    if not isinstance(obj, dict) or "text" not in obj:
        raise SocmError(f'{source}: {where} has no "text" field')
    if not beir:
        return (obj.get("id", k), obj["text"], where)
    if "_id" not in obj:
        raise SocmError(
            f'{source}: {where} has no "_id" field (the first record has one: a BEIR file, '
            "whose records all have _id)"
        )
    text = obj["text"]
    if "title" in obj and not no_title:
        text = titled(obj["title"], text, where, source)
    return (obj["_id"], text, where)


def titled(title: object, text: object, where: str, source: object) -> object:
    """BEIR's text of a titled document: ``title + " " + text`` (stripped later, as BEIR
    strips it). A text that is not a string is left for :func:`check_entry` to refuse.

    Raises
    ------
    SocmError
        A title that is not a string (naming ``where``).
    """
    if not isinstance(title, str):
        kind = "null" if title is None else type(title).__name__
        raise SocmError(
            f"{source}: {where}: the title is {kind}, not a string (--no-title leaves titles out)"
        )
    return title + " " + text if isinstance(text, str) else text


def show_columns(header: Sequence[str], width: int = 40) -> str:
    """Column names for a message, each cut to ``width`` characters."""
    return ", ".join(h if len(h) <= width else h[: width - 1] + "…" for h in header)


def pick_columns(
    where: object,
    header: Sequence[str],
    text_column: str | None,
    id_column: str | None,
    *,
    id_defaults: Sequence[str] = ("id",),
    hint: str = "",
) -> tuple[int, int | None]:
    """Positions of the text column (default ``text``) and the id column (default: the first
    of ``id_defaults`` present, else None: row numbers) among ``header``.

    Raises
    ------
    SocmError
        A missing column, naming the columns there are (and ``hint``, when given).
    """
    header = list(header)
    text_column = text_column or "text"
    if text_column not in header:
        raise SocmError(
            f"{where}: no column {text_column!r} (columns: {show_columns(header)}); "
            + (hint or "choose one with --text-column")
        )
    if id_column is not None and id_column not in header:
        raise SocmError(f"{where}: no id column {id_column!r} (columns: {show_columns(header)})")
    if id_column is None:
        id_column = next((c for c in id_defaults if c in header), None)
    return header.index(text_column), (header.index(id_column) if id_column else None)
