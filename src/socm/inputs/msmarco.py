"""MS MARCO-style files → texts and labelled (query, passage) pairs (a corpus loader).

Files (the MS MARCO passage-ranking formats):

* ``collection.tsv``: ``pid<TAB>passage``;
* ``queries.tsv``: ``qid<TAB>query``;
* qrels in TREC format: ``qid 0 pid relevance`` (white space separated).

Pairs: every (query, passage) with relevance ≥ ``min_relevance`` is a ``relevant`` pair; passages
judged for *other* queries (and not for this one) are ``nonrelevant`` pairs (easy negatives),
up to ``negatives_per_query`` per query, sampled with the seed. Text ids are ``q<qid>`` and
``p<pid>``, so queries and passages never collide.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from socm.errors import SocmError
from socm.inputs.corpus import Corpus

__all__ = ["load_msmarco"]


def _tsv(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise SocmError(f"MS MARCO file not found: {path}")
    out = {}
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise SocmError(f"{path}: line {k + 1} is not 'id<TAB>text'")
        out[parts[0].strip()] = parts[1].strip()
    return out


def _qrels(path: Path) -> list[tuple[str, str, int]]:
    if not path.is_file():
        raise SocmError(f"MS MARCO qrels file not found: {path}")
    rows = []
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        parts = line.split()
        try:
            rows.append((parts[0], parts[2], int(parts[3])))
        except (IndexError, ValueError):
            raise SocmError(f"{path}: line {k + 1} is not TREC qrels 'qid 0 pid rel'") from None
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

    Returns
    -------
    (Corpus, numpy.ndarray, list of str)
        The queries and passages used, (P, 2) index pairs (query first), and one label per pair
        (``"relevant"`` or ``"nonrelevant"``).

    Raises
    ------
    SocmError
        Missing or malformed files, qrels naming unknown ids.
    """
    folder = Path(folder)
    passages = _tsv(folder / "collection.tsv")
    queries = _tsv(folder / "queries.tsv")
    judged: dict[str, dict[str, int]] = {}
    for qid, pid, rel in _qrels(folder / qrels):
        if qid not in queries or pid not in passages:
            missing = f"query {qid}" if qid not in queries else f"passage {pid}"
            raise SocmError(f"{folder / qrels}: {missing} is not in the files")
        judged.setdefault(qid, {})[pid] = rel
    qids = [q for q in queries if q in judged][:max_queries]
    if not qids:
        raise SocmError(f"{folder}: no query has judgements")
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
    used_p = sorted({p for _, p, _ in pair_rows}, key=str)
    ids = [f"q{q}" for q in qids] + [f"p{p}" for p in used_p]
    texts = [queries[q] for q in qids] + [passages[p] for p in used_p]
    index = {ident: k for k, ident in enumerate(ids)}
    pairs = np.array([[index[f"q{q}"], index[f"p{p}"]] for q, p, _ in pair_rows], dtype=np.int64)
    corpus = Corpus(
        ids=ids,
        texts=texts,
        name=folder.name,
        info={"source": str(folder.resolve()), "queries": len(qids), "passages": len(used_p)},
    )
    return corpus, pairs, [lab for _, _, lab in pair_rows]
