"""Lists of text pairs (two columns of text ids, an optional label) for ``--pairs``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from socm.errors import SocmError
from socm.inputs.corpus import Corpus

__all__ = ["pairs_from_ids", "read_pairs_file"]


def read_pairs_file(path: str | Path, known_ids: set[str]) -> list[tuple[str, str, str | None]]:
    """Read two columns of text ids, and an optional third column with a label.

    Columns are separated by tabs, commas or white space; a header line is optional. Labels
    (e.g. ``relevant`` / ``negative``) give per-label averages in the summary.

    Raises
    ------
    SocmError
        Missing file, a line without two columns, or ids not in the corpus (the first few
        are listed).
    """
    path = Path(path)
    if not path.is_file():
        raise SocmError(f"pairs file not found: {path}")
    rows: list[tuple[str, str, str | None]] = []
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        sep = "\t" if "\t" in line else ("," if "," in line else None)
        parts = [x.strip() for x in line.split(sep)]
        if len(parts) < 2:
            raise SocmError(f"{path}: line {k + 1} does not hold two text ids")
        rows.append((parts[0], parts[1], parts[2] if len(parts) > 2 and parts[2] else None))
    if rows and rows[0][0] not in known_ids and rows[0][1] not in known_ids:
        rows = rows[1:]  # a header line
    if not rows:
        raise SocmError(f"{path}: no pairs found")
    unknown = [x for r in rows for x in r[:2] if x not in known_ids]
    if unknown:
        first = list(dict.fromkeys(unknown))[:5]
        raise SocmError(
            f"{path}: {len(set(unknown))} text ids are not in the corpus, e.g. {', '.join(first)}"
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
