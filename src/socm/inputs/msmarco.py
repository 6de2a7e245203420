"""MS MARCO-style files → texts and labelled (query, passage) pairs (a corpus loader).

Files (the MS MARCO passage-ranking formats):

* ``collection.tsv``: ``pid<TAB>passage``;
* ``queries.tsv``: ``qid<TAB>query``;
* qrels in TREC format: ``qid 0 pid relevance`` (white space separated).

Pairs: every (query, passage) with relevance ≥ ``min_relevance`` is a ``relevant`` pair; passages
judged for *other* queries (and not for this one) are ``nonrelevant`` pairs (easy negatives),
up to ``negatives_per_query`` per query, sampled with the seed. Text ids are ``q<qid>`` and
``p<pid>``, so queries and passages never collide.

An id given twice in a file is refused (which text is meant?); an empty query or passage is
dropped with the judgements that name it, and the counts go into the corpus' ``info``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from socm.errors import SocmError
from socm.inputs.corpus import Corpus
from socm.inputs.text import read_text_file

__all__ = ["load_msmarco"]


def _lines(path: Path, what: str) -> list[str]:
    """The file's lines (UTF-8, an optional byte-order mark; ``\\n`` or ``\\r\\n`` endings)."""
    if not path.is_file():
        raise SocmError(f"MS MARCO {what} not found: {path}")
    text = read_text_file(path, f"MS MARCO {what}")
    # split on newlines only: str.splitlines would also split texts at U+2028, U+0085, ...
    return [ln.removesuffix("\r") for ln in text.split("\n")]


def _tsv(path: Path, what: str) -> tuple[dict[str, str], set[str]]:
    """``id -> text`` of the non-empty texts, and the ids whose text is empty.

    Raises on a line that is not ``id<TAB>text``, an empty id, and an id given twice.
    """
    texts: dict[str, str] = {}
    empty: set[str] = set()
    first: dict[str, int] = {}
    for n, line in enumerate(_lines(path, "file"), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise SocmError(f"{path}: line {n} is not 'id<TAB>text'")
        ident, text = parts[0].strip(), parts[1].strip()
        if not ident:
            raise SocmError(f"{path}: line {n} has an empty {what} id")
        if ident in first:
            raise SocmError(
                f"{path}: line {n}: duplicate {what} id {ident} (first on line {first[ident]})"
            )
        first[ident] = n
        if text:
            texts[ident] = text
        else:
            empty.add(ident)
    return texts, empty


def _qrels(path: Path) -> list[tuple[int, str, str, int]]:
    """``(line, qid, pid, relevance)`` per judgement; a repeated identical judgement once."""
    rows = []
    seen: dict[tuple[str, str], tuple[int, int]] = {}
    for n, line in enumerate(_lines(path, "qrels file"), start=1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            qid, pid, rel = parts[0], parts[2], int(parts[3])
        except (IndexError, ValueError):
            raise SocmError(f"{path}: line {n} is not TREC qrels 'qid 0 pid rel'") from None
        if (qid, pid) in seen:
            first, first_rel = seen[(qid, pid)]
            if first_rel != rel:
                raise SocmError(
                    f"{path}: line {n}: query {qid}, passage {pid} judged {rel} here and "
                    f"{first_rel} on line {first}"
                )
            continue
        seen[(qid, pid)] = (n, rel)
        rows.append((n, qid, pid, rel))
    return rows


def load_msmarco(
    folder: str | Path,
    *,
    qrels: str = "qrels.txt",
    min_relevance: int = 1,
    negatives_per_query: int | None = 100,
    max_queries: int | None = None,
    seed: int = 0,
) -> tuple[Corpus, np.ndarray, list[str]]:
    """Load MS MARCO-style files as a corpus with labelled (query, passage) pairs.

    Queries and passages with an empty text are dropped, and so are the judgements that name
    them; the counts are in the corpus' ``info`` (``empty_queries``, ``empty_passages``,
    ``judgements_skipped``) and ``n_dropped``.

    Parameters
    ----------
    folder : str or Path
        Folder with ``collection.tsv``, ``queries.tsv`` and the qrels file.
    qrels : str
        Name of the qrels file in ``folder``.
    min_relevance : int
        Judgements with at least this relevance make ``relevant`` pairs.
    negatives_per_query : int or None
        At most this many ``nonrelevant`` pairs per query (None: all).
    max_queries : int or None
        Use the first this many judged queries (file order; None: all).
    seed : int
        Seed of the negative sampling.

    Returns
    -------
    (Corpus, numpy.ndarray, list of str)
        The queries and passages used, (P, 2) index pairs (query first), and one label per pair
        (``"relevant"`` or ``"nonrelevant"``).

    Raises
    ------
    SocmError
        Missing or malformed files, an id given twice, qrels naming unknown ids, conflicting
        judgements, no judged query, or no pair at all.
    """
    folder = Path(folder)
    if max_queries is not None and max_queries < 1:
        raise SocmError(f"max_queries must be at least 1, got {max_queries}")
    passages, empty_p = _tsv(folder / "collection.tsv", "passage")
    queries, empty_q = _tsv(folder / "queries.tsv", "query")
    judged: dict[str, dict[str, int]] = {}
    skipped = 0
    for n, qid, pid, rel in _qrels(folder / qrels):
        if qid not in queries and qid not in empty_q:
            raise SocmError(f"{folder / qrels}: line {n}: query {qid} is not in the files")
        if pid not in passages and pid not in empty_p:
            raise SocmError(f"{folder / qrels}: line {n}: passage {pid} is not in the files")
        if qid in empty_q or pid in empty_p:
            skipped += 1
            continue
        judged.setdefault(qid, {})[pid] = rel
    plural = "" if skipped == 1 else "s"
    dropped = (
        f" ({skipped} judgement{plural} of empty queries or passages skipped)" if skipped else ""
    )
    qids = [q for q in queries if q in judged][:max_queries]
    if not qids:
        raise SocmError(f"{folder}: no query has judgements{dropped}")
    rng = np.random.default_rng(seed)
    all_judged = sorted({p for q in judged for p in judged[q]}, key=str)
    pair_rows: list[tuple[str, str, str]] = []
    for q in qids:
        pos = [p for p, rel in judged[q].items() if rel >= min_relevance]
        pair_rows += [(q, p, "relevant") for p in pos]
        others = [p for p in all_judged if p not in judged[q]]
        if negatives_per_query is not None and len(others) > negatives_per_query:
            others = [
                others[k]
                for k in np.sort(rng.choice(len(others), negatives_per_query, replace=False))
            ]
        pair_rows += [(q, p, "nonrelevant") for p in others]
    if not pair_rows:
        raise SocmError(
            f"{folder}: 0 (query, passage) pairs: none of the {len(qids)} queries used has a "
            f"passage judged >= {min_relevance} or one judged for another query{dropped}"
        )
    used_p = sorted({p for _, p, _ in pair_rows}, key=str)
    ids = [f"q{q}" for q in qids] + [f"p{p}" for p in used_p]
    texts = [queries[q] for q in qids] + [passages[p] for p in used_p]
    index = {ident: k for k, ident in enumerate(ids)}
    pairs = np.array([[index[f"q{q}"], index[f"p{p}"]] for q, p, _ in pair_rows], dtype=np.int64)
    corpus = Corpus(
        ids=ids,
        texts=texts,
        name=folder.name,
        n_dropped=len(empty_q) + len(empty_p),
        info={
            "source": str(folder.resolve()),
            "queries": len(qids),
            "passages": len(used_p),
            "empty_queries": len(empty_q),
            "empty_passages": len(empty_p),
            "judgements_skipped": skipped,
        },
    )
    return corpus, pairs, [lab for _, _, lab in pair_rows]
