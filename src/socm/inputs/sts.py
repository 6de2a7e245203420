"""STS-Benchmark files → texts and pairs labelled with their human similarity (a corpus loader).

The original STS-Benchmark release (Cer et al., *SemEval-2017 Task 1: Semantic Textual
Similarity*, 2017; ``sts-{train,dev,test}.csv``) is tab-separated **without** CSV quoting
(sentences contain ``"``): one pair per line,

``genre<TAB>file<TAB>year<TAB>id<TAB>score<TAB>sentence1<TAB>sentence2[<TAB>extra ...]``

with the gold score a human similarity from 0 (unrelated) to 5 (equivalent); some lines carry
extra attribution columns, which are ignored. Lines are split on ``\\t`` only.

Every sentence *occurrence* gets its own text id, ``L<line>:<id>-1`` and ``L<line>:<id>-2``
(the line number keeps ids unique even where an STS id repeats), so every pair of the file is
kept, also one whose two sentences are identical (it scores 0 on every measure). The pair's
label is its gold score as written in the file (e.g. ``"3.800"``), which ``socm validate``
reads as a number.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from socm.errors import SocmError
from socm.inputs.corpus import Corpus
from socm.inputs.text import read_text_file

__all__ = ["load_sts"]

_ROW = "genre, file, year, id, score, sentence1, sentence2; tab-separated"


def load_sts(path: str | Path, *, first: int | None = None) -> tuple[Corpus, np.ndarray, list[str]]:
    """Load an STS-Benchmark file as a corpus with pairs labelled by their gold score.

    A pair with an empty sentence (after stripping white space) is skipped: the corpus'
    ``info["pairs_skipped"]`` counts such pairs, ``n_dropped`` their empty sentences.

    Parameters
    ----------
    path : str or Path
        An STS-B file in its original tab-separated format (see the module docstring).
    first : int or None
        Use only the file's first this many pairs (None: all).

    Returns
    -------
    (Corpus, numpy.ndarray, list of str)
        Two texts per pair (``L<line>:<id>-1``, ``L<line>:<id>-2``, in file order), the (P, 2)
        index pairs ``[[0, 1], [2, 3], ...]``, and one label per pair: the gold score's text.

    Raises
    ------
    SocmError
        A missing file, bytes that are not UTF-8, a line with fewer than 7 tab-separated
        columns or an empty id, a score that is not a finite number (each naming its line), or
        no pair at all.
    """
    path = Path(path)
    if first is not None and first < 1:
        raise SocmError(f"first must be at least 1, got {first}")
    if not path.is_file():
        raise SocmError(f"STS-B file not found: {path}")
    text = read_text_file(path, "STS-B file")
    ids: list[str] = []
    texts: list[str] = []
    labels: list[str] = []
    skipped = empty = 0
    # split on newlines only: str.splitlines would also split sentences at U+2028, U+0085, ...
    for n, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        if first is not None and len(labels) + skipped >= first:
            break
        parts = line.split("\t")
        if len(parts) < 7:
            raise SocmError(f"{path}: line {n} is not an STS-B row ({_ROW})")
        ident, score = parts[3].strip(), parts[4].strip()
        if not ident:
            raise SocmError(f"{path}: line {n} has an empty pair id")
        try:
            value = float(score)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise SocmError(f"{path}: line {n}: the score {score!r} is not a finite number")
        a, b = parts[5].strip(), parts[6].strip()
        if not a or not b:
            skipped += 1
            empty += (not a) + (not b)
            continue
        ids += [f"L{n}:{ident}-1", f"L{n}:{ident}-2"]
        texts += [a, b]
        labels.append(score)
    if not labels:
        what = f" ({skipped} with an empty sentence skipped)" if skipped else ""
        raise SocmError(f"{path}: no STS-B pairs{what}")
    pairs = np.arange(2 * len(labels), dtype=np.int64).reshape(-1, 2)
    corpus = Corpus(
        ids=ids,
        texts=texts,
        name=path.name,
        n_dropped=empty,
        info={"source": str(path.resolve()), "pairs": len(labels), "pairs_skipped": skipped},
    )
    return corpus, pairs, labels
