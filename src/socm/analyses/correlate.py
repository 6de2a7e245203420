"""``socm correlate``: collapse vs downstream quality across models (an analysis stage).

Hara et al. (2026, Sec. 6) report that models with less second-order collapse score higher
downstream: Spearman ρ = −0.678 (p ≈ 0.015) between the average SOCM on Wikipedia and MTEB(eng,
v2) over their 12 models. This module joins per-model collapse figures (``socm measure`` run
folders, or a CSV ``model, avg_socm[, avg_normalized_spread]``) with downstream scores from

* a user CSV ``model, score``;
* the table shipped with the package (:func:`socm.inputs.paper_table.load_paper_table`: the
  paper's 12 models, their MTEB(eng, v2) scores read off its figure, ±0.005, and their
  published average SOCM);
* an offline evaluator, :func:`sts_spearman`: STS-Benchmark Spearman correlation between the
  cosine similarity of mean-pooled embeddings and the gold scores;

and reports Spearman's ρ and its p-value (``scipy.stats.spearmanr``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from socm.errors import SocmError
from socm.inputs.paper_table import paper_rows
from socm.measure.config import MeasureConfig, make_encoder
from socm.measure.rundir import read_summary, summary_row

__all__ = [
    "correlate",
    "correlate_runs",
    "format_correlation",
    "read_collapse_csv",
    "read_run_summaries",
    "read_scores_csv",
    "read_stsb",
    "sts_spearman",
    "stsb_scores",
]


def _key(model: str) -> str:
    return model.rstrip("/").split("/")[-1].lower()


def read_run_summaries(paths: list[str | Path]) -> list[dict]:
    """The summary fields (:data:`socm.measure.rundir.SUMMARY_FIELDS`), run folder and settings
    of measure runs."""
    rows = []
    for p in paths:
        s = read_summary(p)
        rows.append({**summary_row(s, p), "config": s.get("config", {})})
    return rows


def _read_csv(path: str | Path, needed: tuple[str, ...]) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise SocmError(f"file not found: {path}")
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise SocmError(
                f"{path}: missing column(s) {', '.join(missing)} "
                f"(columns: {', '.join(reader.fieldnames or [])})"
            )
        rows = []
        for k, row in enumerate(reader):
            try:
                rows.append({c: (row[c] if c == "model" else float(row[c])) for c in row if c})
            except (TypeError, ValueError):
                raise SocmError(f"{path}: line {k + 2} has a non-numeric value") from None
    return rows


def read_collapse_csv(path: str | Path) -> list[dict]:
    """Rows ``model, avg_socm[, avg_normalized_spread]`` from a CSV file."""
    return _read_csv(path, ("model", "avg_socm"))


def read_scores_csv(path: str | Path) -> dict[str, float]:
    """``model -> score`` from a CSV file with columns ``model, score``."""
    return {r["model"]: r["score"] for r in _read_csv(path, ("model", "score"))}


def read_stsb(path: str | Path) -> tuple[list[str], list[str], np.ndarray]:
    """STS-Benchmark in its original format: tab-separated, no quoting.

    Columns: genre, file, year, id, score (0-5), sentence1, sentence2[, extra].
    """
    path = Path(path)
    if not path.is_file():
        raise SocmError(f"STS-B file not found: {path}")
    s1, s2, gold = [], [], []
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        parts = line.split("\t")
        try:
            score = float(parts[4])
            a, b = parts[5], parts[6]
        except (IndexError, ValueError):
            raise SocmError(
                f"{path}: line {k + 1} is not an STS-B row (genre, file, year, id, score, "
                "sentence1, sentence2; tab-separated)"
            ) from None
        s1.append(a)
        s2.append(b)
        gold.append(score)
    if not gold:
        raise SocmError(f"{path}: no STS-B rows")
    return s1, s2, np.array(gold)


def sts_spearman(encoder, path: str | Path, progress: bool = False) -> float:
    """STS-B Spearman ρ of cos(mean-pooled embeddings) vs gold scores, for one encoder.

    Mean pooling averages the tokens the encoder keeps (every token by default, as
    sentence-transformers' mean pooling does).
    """
    from scipy.stats import spearmanr

    s1, s2, gold = read_stsb(path)
    texts = list(dict.fromkeys(s1 + s2))
    embs = encoder.encode(texts, progress=progress).embeddings
    pooled = {t: e.astype(np.float64).mean(0) for t, e in zip(texts, embs, strict=True)}
    a = np.stack([pooled[t] for t in s1])
    b = np.stack([pooled[t] for t in s2])
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(spearmanr(cos, gold).statistic)


def correlate(rows: list[dict], scores: dict[str, float], source: str) -> dict:
    """Join collapse rows with scores by model and compute Spearman correlations.

    Models match by full id or by their last path component (case-insensitive).

    Returns
    -------
    dict
        ``{"score_source", "n_models", "socm": {"spearman_rho", "p_value"},
        "normalized_spread": {...} or None, "table": [...], "unmatched": [...]}``.

    Raises
    ------
    SocmError
        When fewer than 3 models have both a collapse figure and a score.
    """
    from scipy.stats import spearmanr

    by_key = {_key(m): v for m, v in scores.items()}
    table, unmatched = [], []
    for r in rows:
        score = scores.get(r["model"], by_key.get(_key(r["model"])))
        if score is None:
            unmatched.append(r["model"])
            continue
        table.append(
            {
                "model": r["model"],
                "avg_socm": float(r["avg_socm"]),
                "avg_normalized_spread": (
                    None
                    if r.get("avg_normalized_spread") is None
                    else float(r["avg_normalized_spread"])
                ),
                "score": float(score),
            }
        )
    if len(table) < 3:
        raise SocmError(
            f"need at least 3 models with both collapse figures and scores, got {len(table)}"
            + (f" (no score for: {', '.join(unmatched)})" if unmatched else "")
        )

    def rho(key: str) -> dict | None:
        if any(t[key] is None for t in table):
            return None
        res = spearmanr([t[key] for t in table], [t["score"] for t in table])
        return {"spearman_rho": float(res.statistic), "p_value": float(res.pvalue)}

    return {
        "score_source": source,
        "n_models": len(table),
        "socm": rho("avg_socm"),
        "normalized_spread": rho("avg_normalized_spread"),
        "table": table,
        "unmatched": unmatched,
    }


def stsb_scores(rows: list[dict], path: str | Path, progress: bool = False) -> dict[str, float]:
    """STS-B Spearman (:func:`sts_spearman`) of each row's model, encoded with the settings
    its run used (layer, token policy, ...)."""
    scores = {}
    for r in rows:
        cfg = MeasureConfig.from_dict(r.get("config", {}), model=r["model"])
        scores[r["model"]] = sts_spearman(make_encoder(cfg), path, progress=progress)
    return scores


def correlate_runs(
    runs: list[str | Path],
    *,
    collapse_csv: str | Path | None = None,
    scores_csv: str | Path | None = None,
    paper_table: bool = False,
    stsb: str | Path | None = None,
    dataset: str = "wikipedia",
    progress: bool = False,
) -> dict:
    """Correlate run folders (and/or a collapse CSV) with one source of downstream scores.

    Exactly one of ``scores_csv``, ``paper_table`` and ``stsb``. With ``paper_table`` and no
    runs, the paper's own published average SOCM (column ``dataset``) is used.

    Raises
    ------
    SocmError
        No or several score sources, too few matched models.
    """
    if sum(bool(x) for x in (scores_csv, paper_table, stsb)) != 1:
        raise SocmError("give exactly one score source: --scores CSV, --paper-table or --stsb PATH")
    rows = read_run_summaries(runs)
    if collapse_csv:
        rows += read_collapse_csv(collapse_csv)
    if paper_table:
        paper, scores = paper_rows(dataset)
        return correlate(rows or paper, scores, "MTEB(eng, v2) (paper table)")
    if scores_csv:
        return correlate(rows, read_scores_csv(scores_csv), f"scores from {scores_csv}")
    if not rows:
        raise SocmError("--stsb needs run folders or --collapse-csv naming the models")
    return correlate(rows, stsb_scores(rows, stsb, progress), "STS-B Spearman")


def format_correlation(result: dict) -> str:
    """The joined table and the correlations, as text."""
    lines = [f"{'model':<46} {'avg SOCM':>9} {'spread':>8} {'score':>7}"]
    for t in result["table"]:
        spread = "" if t["avg_normalized_spread"] is None else f"{t['avg_normalized_spread']:.4f}"
        lines.append(f"{t['model']:<46} {t['avg_socm']:>9.5f} {spread:>8} {t['score']:>7.3f}")
    s = result["socm"]
    lines.append(
        f"Spearman(avg SOCM, {result['score_source']}): rho = {s['spearman_rho']:+.3f}, "
        f"p = {s['p_value']:.3g} (n = {result['n_models']})"
    )
    if result["normalized_spread"]:
        n = result["normalized_spread"]
        lines.append(
            f"Spearman(avg normalized spread, {result['score_source']}): "
            f"rho = {n['spearman_rho']:+.3f}, p = {n['p_value']:.3g}"
        )
    if result["unmatched"]:
        lines.append(f"no score for: {', '.join(result['unmatched'])}")
    return "\n".join(lines)
