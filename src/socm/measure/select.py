"""Which texts and pairs a run scores: sampling texts, listed pairs and sampled pairs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from socm.encode.encoder import Encoder
from socm.errors import SocmError
from socm.inputs.corpus import Corpus, load_corpus, load_sample
from socm.inputs.pair_list import pairs_from_ids, read_pairs_file
from socm.measure.config import DEFAULT_N_TEXTS, MeasureConfig, make_encoder
from socm.measure.writer import RunWriter, default_run_dir

__all__ = ["Prepared", "pair_index_from_linear", "prepare", "sample_pairs", "select_texts"]


def pair_index_from_linear(p: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) of the ``p``-th pair in ``itertools.combinations(range(n), 2)`` order.

    Rows before ``i`` hold :math:`S(i) = i n - i(i+1)/2` pairs; ``i`` is the largest with
    :math:`S(i) \\le p` (the quadratic formula, then an integer correction for rounding).
    """
    p = np.asarray(p, dtype=np.int64)
    b = 2 * n - 1
    i = np.floor((b - np.sqrt(np.maximum(b * b - 8.0 * p, 0.0))) / 2).astype(np.int64)
    start = i * n - i * (i + 1) // 2
    i = np.where(start > p, i - 1, i)  # floating-point guard
    start = i * n - i * (i + 1) // 2
    nxt = (i + 1) * n - (i + 1) * (i + 2) // 2
    i = np.where(nxt <= p, i + 1, i)
    start = i * n - i * (i + 1) // 2
    return i, p - start + i + 1


def select_texts(cfg: MeasureConfig) -> tuple[Corpus, np.ndarray | None, list[str | None] | None]:
    """Load the corpus; the texts to encode, the pairs to score (None = all) and their labels.

    Raises
    ------
    SocmError
        Bad corpus or pairs file, too few texts, a bad ``max_pairs``.
    """
    if not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise SocmError(f"--seed must be a non-negative whole number, got {cfg.seed!r}")
    reading = dict(
        text_column=cfg.text_column,
        id_column=cfg.id_column,
        unit=cfg.unit,
        no_header=cfg.no_header,
        no_title=cfg.no_title,
    )
    if cfg.pairs_file:
        corpus = load_corpus(cfg.corpus, **reading)
        if not Path(cfg.pairs_file).is_file():
            raise SocmError(f"pairs file not found: {cfg.pairs_file}")
        if cfg.n_texts is not None:
            raise SocmError(
                "--n-texts cannot be combined with --pairs: the pairs file chooses the texts"
            )
        rows = read_pairs_file(cfg.pairs_file, set(corpus.ids))
        chosen, pairs, labels = pairs_from_ids(corpus, rows)
        chosen.info["n_listed_pairs"] = len(pairs)
        if cfg.max_pairs is not None and cfg.max_pairs < len(pairs):
            rng = np.random.default_rng(cfg.seed)
            keep = np.sort(rng.choice(len(pairs), cfg.max_pairs, replace=False))
            pairs, labels = pairs[keep], [labels[k] for k in keep]
        return chosen, pairs, labels
    if cfg.n_texts == "all":
        chosen = load_corpus(cfg.corpus, **reading)
        chosen.info["n_population"] = len(chosen)
    elif cfg.n_texts is None or isinstance(cfg.n_texts, int):
        n = DEFAULT_N_TEXTS if cfg.n_texts is None else cfg.n_texts
        chosen = load_sample(cfg.corpus, n, cfg.seed, **reading)
    else:
        raise SocmError(f"n_texts must be a whole number or 'all', got {cfg.n_texts!r}")
    if len(chosen) < 2:
        raise SocmError(f"need at least 2 texts to form pairs, got {len(chosen)}")
    return chosen, sample_pairs(len(chosen), cfg.max_pairs, cfg.seed), None


def sample_pairs(n: int, max_pairs: int | None, seed: int) -> np.ndarray | None:
    """``max_pairs`` of the ``n (n - 1) / 2`` pairs of ``n`` texts, drawn without replacement
    with ``numpy.random.default_rng(seed)`` and returned in combinations order as a
    ``(max_pairs, 2)`` array; None (all pairs) when ``max_pairs`` is None or not below the
    number of pairs.

    Raises
    ------
    SocmError
        ``max_pairs`` below 1.
    """
    total = n * (n - 1) // 2
    if max_pairs is None or max_pairs >= total:
        return None
    if max_pairs < 1:
        raise SocmError(f"--max-pairs must be at least 1, got {max_pairs}")
    rng = np.random.default_rng(seed)
    lin = np.sort(rng.choice(total, max_pairs, replace=False))
    i, j = pair_index_from_linear(lin, n)
    return np.stack([i, j], axis=1)


@dataclass
class Prepared:
    """What a command works on: texts, pairs (None = all), their labels, the encoder and the
    writer of its run folder (already checked)."""

    texts: Corpus
    pairs: np.ndarray | None
    labels: list[str | None] | None
    encoder: Encoder
    writer: RunWriter

    @property
    def out(self) -> Path:
        """The run folder."""
        return self.writer.out


def prepare(
    cfg: MeasureConfig,
    command: str,
    corpus: Corpus | None = None,
    pairs: np.ndarray | None = None,
    labels: list[str | None] | None = None,
    **encoder_overrides,
) -> Prepared:
    """Select the texts and pairs, check the run folder, then set up the encoder.

    In that order, so that a bad corpus, pairs file or output folder is refused before any
    model is loaded. ``corpus``/``pairs``/``labels`` replace the selection from ``cfg`` (e.g.
    MS MARCO pairs). Shared by ``measure``, ``layers`` and ``mechanism``.
    """
    if corpus is None:
        corpus, pairs, labels = select_texts(cfg)
    if pairs is not None and len(pairs) == 0:
        raise SocmError(f"{corpus.name}: no pairs to score")
    out = Path(cfg.out) if cfg.out else default_run_dir(cfg, corpus.name, len(corpus))
    writer = RunWriter(out, command, cfg)
    return Prepared(corpus, pairs, labels, make_encoder(cfg, **encoder_overrides), writer)
