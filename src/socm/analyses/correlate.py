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
* an MTEB results folder (:func:`mteb_scores`): each model's mean ``main_score`` on the test
  split over the tasks every compared model has (:mod:`socm.inputs.mteb_results`);

and reports Spearman's ρ and its p-value (``scipy.stats.spearmanr``).
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import numpy as np

from socm.errors import SocmError
from socm.inputs.mteb_results import read_mteb_results
from socm.inputs.paper_table import paper_rows
from socm.inputs.text import read_text_file
from socm.measure.config import MeasureConfig, make_encoder
from socm.measure.rundir import read_summary, summary_row

__all__ = [
    "correlate",
    "correlate_runs",
    "format_correlation",
    "mteb_scores",
    "read_collapse_csv",
    "read_run_summaries",
    "read_scores_csv",
    "read_stsb",
    "sts_spearman",
    "stsb_scores",
]


def _norm(model: str) -> str:
    """A model id as compared: stripped, no trailing ``/``, lower case."""
    return model.strip().rstrip("/").lower()


def _key(model: str) -> str:
    """The last path component of a model id, lower case (``Org/Name`` -> ``name``)."""
    return _norm(model).split("/")[-1]


def _hub_org(model: str) -> str | None:
    """The organisation of a hub-style id ``org/name`` (lower case), None for anything else."""
    m = re.fullmatch(r"([A-Za-z0-9][\w.-]*)/[\w.-]+", model.strip().rstrip("/"))
    return m.group(1).lower() if m else None


def _finite(value: object, what: str, where: str) -> float:
    """``value`` as a finite float, or a :class:`SocmError` naming ``where`` and ``what``."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SocmError(f"{where}: {what} is {value!r}, not a number") from None
    if not math.isfinite(x):
        raise SocmError(f"{where}: {what} is {value!r}, not a finite number")
    return x


def _where(row: dict) -> str:
    """Where a collapse row came from, for messages."""
    return str(row.get("source") or row.get("run") or "the collapse rows")


def _refuse_duplicates(rows: list[dict]) -> None:
    """Refuse a model listed more than once (same id, case-insensitive) among ``rows``."""
    seen: dict[str, list[dict]] = {}
    for r in rows:
        seen.setdefault(_norm(r["model"]), []).append(r)
    dupes = [group for group in seen.values() if len(group) > 1]
    if dupes:
        listed = "; ".join(
            f"{group[0]['model']} ({', '.join(_where(r) for r in group)})" for group in dupes
        )
        raise SocmError(
            f"model listed more than once: {listed}; correlate needs one collapse figure per model"
        )


def read_run_summaries(paths: list[str | Path]) -> list[dict]:
    """The summary fields (:data:`socm.measure.rundir.SUMMARY_FIELDS`), run folder and settings
    of measure runs.

    Parameters
    ----------
    paths : list of str or Path
        Run folders of ``socm measure``.

    Returns
    -------
    list of dict
        One row per run: the summary fields, ``run``, ``config`` and ``source`` (the
        ``summary.json`` path).

    Raises
    ------
    SocmError
        A missing or corrupt summary, or an average SOCM or normalized spread that is not a
        finite number (the message names the file and the model).
    """
    rows = []
    for p in paths:
        s = read_summary(p)
        source = str(Path(p) / "summary.json")
        row = {**summary_row(s, p), "config": s.get("config", {}), "source": source}
        where = f"{source} (model {row['model']})"
        row["avg_socm"] = _finite(row["avg_socm"], "avg_socm", where)
        if row["avg_normalized_spread"] is not None:
            row["avg_normalized_spread"] = _finite(
                row["avg_normalized_spread"], "avg_normalized_spread", where
            )
        rows.append(row)
    return rows


def _read_csv(
    path: str | Path, needed: tuple[str, ...], optional: tuple[str, ...] = ()
) -> list[dict]:
    """Rows of a CSV file with a ``model`` column and numeric columns ``needed`` + ``optional``.

    Other columns are ignored; an Excel byte-order mark is accepted; rows with every read
    column blank are skipped; a blank optional value reads as None. Each row gets a ``source``
    (``"<path> line <n>"``).
    """
    path = Path(path)
    if not path.is_file():
        raise SocmError(f"file not found: {path}")
    text = read_text_file(path, "CSV file")
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        records = [(reader.line_num, rec) for rec in reader]  # line_num: where a row ends
    except csv.Error as exc:
        raise SocmError(f"{path}: not a readable CSV file ({exc})") from None
    header = [c.strip() for c in records[0][1]] if records else []
    missing = [c for c in needed if c not in header]
    if missing:
        raise SocmError(
            f"{path}: missing column(s) {', '.join(missing)} (columns: {', '.join(header)})"
        )
    wanted = [c for c in (*needed, *optional) if c in header]
    twice = [c for c in wanted if header.count(c) > 1]
    if twice:
        raise SocmError(f"{path}: column(s) {', '.join(twice)} appear more than once")
    col = {c: header.index(c) for c in wanted}
    rows: list[dict] = []
    lines: dict[str, tuple[str, list[int]]] = {}  # model as compared -> (as written, lines)
    for n, rec in records[1:]:
        values = {c: (rec[k].strip() if k < len(rec) else "") for c, k in col.items()}
        if not any(values.values()):
            continue
        model = values["model"]
        if not model:
            raise SocmError(f"{path}: line {n}: the model is blank")
        where = f"{path}: line {n} (model {model})"
        row: dict = {"model": model}
        for c in wanted:
            if c == "model":
                continue
            if not values[c] and c in optional:
                row[c] = None
                continue
            row[c] = _finite(values[c], c, where)
        row["source"] = f"{path} line {n}"
        rows.append(row)
        lines.setdefault(_norm(model), (model, []))[1].append(n)
    dupes = [(model, ns) for model, ns in lines.values() if len(ns) > 1]
    if dupes:
        listed = "; ".join(f"{m} (lines {', '.join(map(str, ns))})" for m, ns in dupes)
        raise SocmError(f"{path}: model listed more than once: {listed}")
    if not rows:
        raise SocmError(f"{path}: no rows")
    return rows


def read_collapse_csv(path: str | Path) -> list[dict]:
    """Rows ``model, avg_socm[, avg_normalized_spread]`` from a CSV file.

    Parameters
    ----------
    path : str or Path
        A CSV file with a header; other columns are ignored.

    Returns
    -------
    list of dict
        ``{"model", "avg_socm", "avg_normalized_spread" (None when absent or blank),
        "source"}`` per row.

    Raises
    ------
    SocmError
        A missing file or column, a value that is not a finite number, a model listed twice.
    """
    rows = _read_csv(path, ("model", "avg_socm"), ("avg_normalized_spread",))
    for r in rows:
        r.setdefault("avg_normalized_spread", None)
    return rows


def read_scores_csv(path: str | Path) -> dict[str, float]:
    """``model -> score`` from a CSV file with columns ``model, score``.

    Parameters
    ----------
    path : str or Path
        A CSV file with a header; other columns are ignored.

    Returns
    -------
    dict of str to float
        One finite score per model.

    Raises
    ------
    SocmError
        A missing file or column, a value that is not a finite number, a model listed twice.
    """
    return {r["model"]: r["score"] for r in _read_csv(path, ("model", "score"))}


def read_stsb(path: str | Path) -> tuple[list[str], list[str], np.ndarray]:
    """STS-Benchmark in its original format: tab-separated, no quoting.

    Columns: genre, file, year, id, score (0-5), sentence1, sentence2[, extra].
    """
    path = Path(path)
    if not path.is_file():
        raise SocmError(f"STS-B file not found: {path}")
    s1, s2, gold = [], [], []
    for k, line in enumerate(read_text_file(path, "STS-B file").splitlines()):
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


def _match(model: str, scores: dict[str, float]) -> str | None:
    """The key of ``scores`` that names ``model``, None when none does.

    A model matches a score by its full id, else by its last path component (both
    case-insensitive). Several candidates, or hub ids of different organisations sharing a
    name (``org1/m`` vs ``org2/m``), are refused as ambiguous.
    """
    exact = [m for m in scores if _norm(m) == _norm(model)]
    if exact:
        return exact[0]
    found = [m for m in scores if _key(m) == _key(model)]
    if len(found) > 1:
        raise SocmError(
            f"model {model} is ambiguous: the scores name {', '.join(found)}; "
            "use the same full ids in both"
        )
    if found:
        org, other = _hub_org(model), _hub_org(found[0])
        if org and other and org != other:
            raise SocmError(
                f"model {model} is ambiguous: the scores name {found[0]}, a different model "
                "with the same name; use the same full ids in both"
            )
        return found[0]
    return None


def correlate(rows: list[dict], scores: dict[str, float], source: str) -> dict:
    """Join collapse rows with scores by model and compute Spearman correlations.

    Models match by full id or by their last path component (case-insensitive); a match that
    could name two different models is refused, never guessed.

    Parameters
    ----------
    rows : list of dict
        ``{"model", "avg_socm"[, "avg_normalized_spread"]}`` per model (optionally ``source``
        or ``run``, named in messages).
    scores : dict of str to float
        Downstream score per model.
    source : str
        What the scores are, for the output.

    Returns
    -------
    dict
        ``{"score_source", "n_models", "socm": {"spearman_rho", "p_value"},
        "normalized_spread": {...} or None, "table": [...], "unmatched": [...], "notes": [...]}``.

    Raises
    ------
    SocmError
        A model listed twice, an ambiguous match, a value that is not a finite number, fewer
        than 3 models with both a collapse figure and a score, or every model with the same
        average SOCM or the same score (Spearman's ρ is undefined then).
    """
    from scipy.stats import spearmanr

    _refuse_duplicates(rows)
    _refuse_duplicates([{"model": m, "source": "the scores"} for m in scores])
    table, unmatched, used = [], [], {}
    for r in rows:
        key = _match(r["model"], scores)
        if key is None:
            unmatched.append(r["model"])
            continue
        used.setdefault(key, []).append(r["model"])
        where = f"{_where(r)} (model {r['model']})"
        spread = r.get("avg_normalized_spread")
        table.append(
            {
                "model": r["model"],
                "avg_socm": _finite(r["avg_socm"], "avg_socm", where),
                "avg_normalized_spread": (
                    None if spread is None else _finite(spread, "avg_normalized_spread", where)
                ),
                "score": _finite(scores[key], "score", f"{source} (model {key})"),
            }
        )
    shared = {k: ms for k, ms in used.items() if len(ms) > 1}
    if shared:
        listed = "; ".join(
            f"{' and '.join(ms)} would each take the score of {k}" for k, ms in shared.items()
        )
        raise SocmError(f"ambiguous models: {listed}; use the same full ids in both")
    if len(table) < 3:
        raise SocmError(
            f"need at least 3 models with both collapse figures and scores, got {len(table)}"
            + (f" (no score for: {', '.join(unmatched)})" if unmatched else "")
        )
    for key, name in (("avg_socm", "average SOCM"), ("score", "score")):
        if len({t[key] for t in table}) == 1:
            raise SocmError(
                f"all {len(table)} models have the same {name} ({table[0][key]:g}): "
                "Spearman's rho is undefined"
            )
    notes = []

    def rho(key: str) -> dict | None:
        values = [t[key] for t in table]
        if any(v is None for v in values):
            return None
        if len(set(values)) == 1:
            notes.append(
                f"all models have the same {key} ({values[0]:g}): its Spearman's rho is undefined"
            )
            return None
        res = spearmanr(values, [t["score"] for t in table])
        return {"spearman_rho": float(res.statistic), "p_value": float(res.pvalue)}

    return {
        "score_source": source,
        "n_models": len(table),
        "socm": rho("avg_socm"),
        "normalized_spread": rho("avg_normalized_spread"),
        "table": table,
        "unmatched": unmatched,
        "notes": notes,
    }


def mteb_scores(
    rows: list[dict], folder: str | Path, tasks: list[str] | None = None
) -> tuple[dict[str, float], dict]:
    """Each row's model's MTEB score: the mean, over the tasks every matched model has, of
    the task's ``main_score`` on the test split (itself the mean over the split's subsets;
    :func:`socm.inputs.mteb_results.read_mteb_results`).

    Models match as in :func:`correlate` (full id, else the last path component). Tasks that
    not every matched model has are left out and named, so that every model's score averages
    the same tasks.

    Parameters
    ----------
    rows : list of dict
        Collapse rows (``model`` each).
    folder : str or Path
        The MTEB results folder (with or without a leading ``results/``).
    tasks : list of str, optional
        The tasks to average (default: every task in the matched models' results).

    Returns
    -------
    scores : dict of str to float
        Model id in the results -> mean main score.
    details : dict
        ``folder``, ``tasks`` (averaged), ``left_out`` (task -> the matched models without
        it), ``no_results`` (rows' models without results).

    Raises
    ------
    SocmError
        An unreadable results folder, a listed task no model has, no task every matched
        model has.
    """
    models = {m.model: m for m in read_mteb_results(folder)}
    matched, no_results = {}, []
    for r in rows:
        key = _match(r["model"], models)
        if key is None:
            no_results.append(r["model"])
        else:
            matched[key] = models[key]
    known = sorted({t for m in models.values() for t in (*m.scores, *m.no_split)})
    if tasks:
        missing = [t for t in tasks if t not in known]
        if missing:
            raise SocmError(
                f"{folder}: no results for the task(s) {', '.join(missing)} "
                f"(tasks there: {', '.join(known[:20])}{', ...' if len(known) > 20 else ''})"
            )
        wanted = list(dict.fromkeys(tasks))
    else:
        wanted = sorted({t for m in matched.values() for t in (*m.scores, *m.no_split)})
    used = [t for t in wanted if all(t in m.scores for m in matched.values())]
    left_out = {
        t: sorted(name for name, m in matched.items() if t not in m.scores)
        for t in wanted
        if t not in used
    }
    if matched and not used:
        raise SocmError(
            f"{folder}: no task has test-split results for every model "
            f"({', '.join(sorted(matched))})"
        )
    scores = {name: sum(m.scores[t] for t in used) / len(used) for name, m in matched.items()}
    details = {
        "folder": str(folder),
        "tasks": used,
        "left_out": left_out,
        "no_results": no_results,
    }
    return scores, details


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
    mteb_results: str | Path | None = None,
    mteb_tasks: list[str] | None = None,
    dataset: str = "wikipedia",
    progress: bool = False,
) -> dict:
    """Correlate run folders (and/or a collapse CSV) with one source of downstream scores.

    Exactly one of ``scores_csv``, ``paper_table``, ``stsb`` and ``mteb_results``. With
    ``paper_table`` and no runs, the paper's own published average SOCM (column ``dataset``)
    is used.

    Parameters
    ----------
    runs : list of str or Path
        ``socm measure`` run folders.
    collapse_csv : str or Path, optional
        More collapse rows (:func:`read_collapse_csv`).
    scores_csv : str or Path, optional
        Downstream scores (:func:`read_scores_csv`).
    paper_table : bool
        Use the paper's MTEB(eng, v2) scores.
    stsb : str or Path, optional
        STS-B file: score each model offline (:func:`stsb_scores`).
    mteb_results : str or Path, optional
        An MTEB results folder: each model's mean main score over the tasks every model has
        (:func:`mteb_scores`).
    mteb_tasks : list of str, optional
        The MTEB tasks to average (default: all of them).
    dataset : str
        Column of the paper's published average SOCM used with ``paper_table`` and no rows.
    progress : bool
        Show progress bars while encoding STS-B.

    Returns
    -------
    dict
        The :func:`correlate` result; with ``mteb_results`` also ``mteb`` (the
        :func:`mteb_scores` details), the tasks used and left out named in ``notes``.

    Raises
    ------
    SocmError
        No or several score sources, a model listed twice, an ambiguous match, a value that is
        not a finite number, too few matched models, constant values.
    """
    if sum(bool(x) for x in (scores_csv, paper_table, stsb, mteb_results)) != 1:
        raise SocmError(
            "give exactly one score source: --scores CSV, --paper-table, --stsb PATH or "
            "--mteb-results DIR"
        )
    if mteb_tasks and not mteb_results:
        raise SocmError("--mteb-tasks chooses tasks of --mteb-results DIR, which is missing")
    rows = read_run_summaries(runs)
    if collapse_csv:
        rows += read_collapse_csv(collapse_csv)
    _refuse_duplicates(rows)  # before any scoring work
    if paper_table:
        paper, scores = paper_rows(dataset)
        return correlate(rows or paper, scores, "MTEB(eng, v2) (paper table)")
    if scores_csv:
        return correlate(rows, read_scores_csv(scores_csv), f"scores from {scores_csv}")
    if not rows:
        flag = "--stsb" if stsb else "--mteb-results"
        raise SocmError(f"{flag} needs run folders or --collapse-csv naming the models")
    if stsb:
        return correlate(rows, stsb_scores(rows, stsb, progress), "STS-B Spearman")
    scores, details = mteb_scores(rows, mteb_results, mteb_tasks)
    n = len(details["tasks"])
    result = correlate(rows, scores, f"MTEB mean main score ({n} task{'s' * (n != 1)}, test)")
    result["mteb"] = details
    result["notes"] = [
        f"MTEB tasks averaged: {', '.join(details['tasks'])}",
        *(
            f"left out {task}: no test-split results for {', '.join(missing)}"
            for task, missing in details["left_out"].items()
        ),
        *result["notes"],
    ]
    return result


def format_correlation(result: dict) -> str:
    """The joined table and the correlations, as text.

    Parameters
    ----------
    result : dict
        A :func:`correlate` result.

    Returns
    -------
    str
        One line per model, then the correlations, unmatched models and notes.
    """
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
    lines += result.get("notes", [])
    return "\n".join(lines)
