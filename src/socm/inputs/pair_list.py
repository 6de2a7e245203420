"""Lists of text pairs (two columns of text ids, an optional label) for ``--pairs``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from socm.errors import SocmError, warn
from socm.inputs.corpus import Corpus
from socm.inputs.text import read_text_file

__all__ = ["FIRST_NAMES", "SECOND_NAMES", "pairs_from_ids", "read_pairs_file"]


#: Column names that make the first row a header: its first cell one of :data:`FIRST_NAMES`
#: and its second one of :data:`SECOND_NAMES` (case-insensitive), a third cell is the label.
FIRST_NAMES = frozenset(
    "text1_id text1 id1 id_1 qid query_id query anchor sentence1 left source a".split()
)
SECOND_NAMES = frozenset(
    "text2_id text2 id2 id_2 pid passage_id doc_id passage document positive negative "
    "sentence2 right target b".split()
)


def _is_header(parts: list[str], known_ids: set[str]) -> bool:
    named = parts[0].lower() in FIRST_NAMES and parts[1].lower() in SECOND_NAMES
    return named and not (parts[0] in known_ids and parts[1] in known_ids)


def read_pairs_file(path: str | Path, known_ids: set[str]) -> list[tuple[str, str, str | None]]:
    """Read two columns of text ids, and an optional third column with a label.

    Columns are separated by tabs, commas or white space. The first row is a header when its
    cells are column names (:data:`FIRST_NAMES`, :data:`SECOND_NAMES`, e.g. ``text1_id,
    text2_id``, ``query<TAB>negative``, ``anchor,positive``, ``id1 id2``) and not both ids of
    the corpus; it is never guessed from its values being unknown. Labels (e.g. ``relevant`` /
    ``negative``) give per-label averages in the summary. Pairs are kept as listed: a pair
    listed twice (also reversed) counts twice, with one warning that gives the counts.

    Raises
    ------
    SocmError
        Missing file, a line without two columns, a pair of a text with itself, or ids not in
        the corpus (the first few are listed).
    """
    path = Path(path)
    if not path.is_file():
        raise SocmError(f"pairs file not found: {path}")
    lines = read_text_file(path, "pairs file").splitlines()
    rows: list[tuple[str, str, str | None]] = []
    where: list[int] = []
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        sep = "\t" if "\t" in line else ("," if "," in line else None)
        parts = [x.strip() for x in line.split(sep)]
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise SocmError(f"{path}: line {k + 1} does not hold two text ids")
        if not rows and not where and _is_header(parts, known_ids):
            where.append(-1)  # the header: not a pair
            continue
        rows.append((parts[0], parts[1], parts[2] if len(parts) > 2 and parts[2] else None))
        where.append(k + 1)
    where = [w for w in where if w > 0]
    if not rows:
        raise SocmError(f"{path}: no pairs found (only a header or empty lines)")
    unknown = [x for r in rows for x in r[:2] if x not in known_ids]
    if unknown:
        first = list(dict.fromkeys(unknown))[:5]
        n = len(set(unknown))
        raise SocmError(
            f"{path}: {n} text id{'s are' if n > 1 else ' is'} not in the corpus, "
            f"e.g. {', '.join(first)}"
        )
    selfs = [w for (a, b, _), w in zip(rows, where, strict=True) if a == b]
    if selfs:
        raise SocmError(
            f"{path}: {len(selfs)} pair(s) of a text with itself (line {selfs[0]}, ...): "
            "their SOCM is 0 by definition; remove them"
        )
    seen: set[frozenset[str]] = set()
    repeats = reversed_ = 0
    ordered: set[tuple[str, str]] = set()
    for a, b, _ in rows:
        key = frozenset((a, b))
        if key in seen:
            repeats += 1
            reversed_ += (b, a) in ordered and (a, b) not in ordered
        seen.add(key)
        ordered.add((a, b))
    if repeats:
        warn(
            f"{path}: {repeats} pair(s) listed more than once ({reversed_} of them reversed); "
            "each listing is scored and counts in the averages"
        )
    return rows


def pairs_from_ids(
    corpus: Corpus, rows: list[tuple[str, str, str | None]]
) -> tuple[Corpus, np.ndarray, list[str | None]]:
    """Restrict ``corpus`` to the texts the pairs name (in corpus order); local index pairs."""
    wanted = set(x for r in rows for x in r[:2])
    chosen = corpus.subset([k for k, ident in enumerate(corpus.ids) if ident in wanted])
    local = {ident: k for k, ident in enumerate(chosen.ids)}
    pairs = np.array([[local[r[0]], local[r[1]]] for r in rows], dtype=np.int64).reshape(-1, 2)
    return chosen, pairs, [r[2] for r in rows]
