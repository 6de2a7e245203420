"""One-file HTML report of measure (and mine) runs: the last stage.

The report is one HTML file that opens offline: figures are embedded PNGs, the pair densities
hover (both texts, ids and numbers, :mod:`socm.output.interactive`), and every text from a
corpus is escaped wherever it appears — table cells and attributes by ``html.escape``, the
embedded JSON by :func:`socm.output.interactive.script_json` — and shown by the page's script
with ``textContent`` only; a Content-Security-Policy lets no other script run.

Contents, under a contents bar that stays at the top: the runs' average SOCM ± interval
beside the paper's 12 models, with what each run measured differently from the paper; a
summary (run labels that tell runs apart, the pairs each scored in words that state their
counts — "200,000 sampled of 12,497,500 pairs" —, averages with confidence intervals, Δ to a
backbone run with its paired interval, spreads, the share of pairs with d_Σ > 1, SOCM
quantiles and the largest SOCM scored, a sample's named as such); the SOCM distribution
(histogram and CDF with quantiles and mean ± CI); what drives the average (each text's mean
SOCM against its spread, with the measured r); the SOCM heatmap with the runs on top; each
run's pair density (interactive; one grid of bins and one colour scale for every run, a cell of
one pair visible) and their overlay; the top pairs of each run (at most two per text) with
both texts, ids, token counts, spreads and cosine; the per-text view and table; per-layer
curves with intervals; the correlation with downstream scores; the kept pairs of ``socm mine``
folders (:mod:`socm.output.report.mine`); one settings table with the runs as columns.
Printing (e.g. to PDF) hides the interactive parts.

:func:`build_report` gathers what the sections share
(:class:`socm.output.report.context.ReportContext`), runs the section builders of
:mod:`socm.output.report.sections` in page order and wraps their HTML in the page of
:mod:`socm.output.report.page` (its frame, style, contents and the JSON the script reads).
"""

from __future__ import annotations

import os
from pathlib import Path

from socm.errors import SocmError, warn
from socm.files import atomic_write_bytes
from socm.measure.rundir import read_summary
from socm.output.report.context import ReportContext
from socm.output.report.page import PageData, page_html
from socm.output.report.sections import BUILDERS, run_rows

__all__ = ["build_report", "run_rows", "worst_pairs"]


def worst_pairs(run: Path, k: int = 10, max_per_text: int | None = None) -> list[dict]:
    """The ``k`` pairs with the largest SOCM, with both texts.

    Parameters
    ----------
    run : Path
        A measure run folder.
    k : int
        Pairs wanted.
    max_per_text : int, optional
        A text appears in at most this many of them (None: no limit).

    Returns
    -------
    list of dict
        ``text1_id``, ``text2_id``, ``text1``, ``text2``, ``d_mu``, ``d_sigma``, ``socm``,
        ``cosine``, best first.
    """
    from socm.output.data import read_texts, top_pairs

    texts = read_texts(run)
    by_id = dict(zip(texts.ids, texts.text, strict=True))
    return [
        {**p, "text1": by_id.get(p["text1_id"], ""), "text2": by_id.get(p["text2_id"], "")}
        for p in top_pairs(run, k, max_per_text)
    ]


def _check_out(out: Path) -> None:
    """Refuse an output path the report cannot be written to, before any work.

    Refused: an existing folder, a path under an existing file, a folder (the nearest existing
    one above ``out``) that cannot be written to.
    """
    if out.is_dir():
        raise SocmError(f"--out {out} is a folder: give a file name such as {out / 'report.html'}")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise SocmError(f"--out {out}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SocmError(f"--out {out}: cannot write in {parent} (permission denied)")


def _correlation_view(
    correlation: dict | None,
    measure: list[Path],
    scores_csv: str | Path | None,
    paper_table: bool,
) -> tuple[dict | None, str | None]:
    """What the correlation section draws and why it cannot (a warning), from a given result
    or view, else from ``scores_csv`` / ``paper_table``."""
    from socm.output.data import correlation_view

    if correlation is not None:
        view = (
            correlation
            if "measured" in correlation
            else {"result": correlation, "measured": [], "measured_result": None, "notes": []}
        )
        return view, None
    if scores_csv or paper_table:
        try:
            return correlation_view(measure, scores_csv=scores_csv, paper_table=paper_table), None
        except SocmError as exc:
            warn(f"report: no correlation figure: {exc}")
            return None, str(exc)
    return None, None


def _context(
    runs: list[Path],
    backbone: Path | None,
    families: dict[str, str] | None,
    correlation: dict | None,
    scores_csv: str | Path | None,
    paper_table: bool,
    pair_views: int,
) -> ReportContext:
    """Read what every section shares: summaries, shared limits, labels, text tables."""
    from socm.output.data import is_measure_run, is_mine_run, read_texts, shared_limits
    from socm.output.style import run_labels

    mines = [r for r in runs if is_mine_run(r)]
    measure = [r for r in runs if is_measure_run(r) or not is_mine_run(r)]
    rows = run_rows(measure, backbone)
    summaries = [read_summary(r) for r in measure]
    paired = [r for r in measure if (r / "pairs.parquet").exists()]
    limits = shared_limits(paired)
    labels = dict(zip(runs, run_labels(runs), strict=True))
    for r in mines:
        if r not in measure:
            labels[r] = f"socm mine of {labels[r]}"
    if backbone is not None and Path(backbone) not in labels:
        labels[Path(backbone)] = run_labels([backbone])[0]
    view, corr_error = _correlation_view(correlation, measure, scores_csv, paper_table)
    # per-run text tables (per-text means from texts.jsonl, or streamed from the pairs)
    tables = {r: read_texts(r, limits) for r in measure}
    page = PageData()
    run_index = {}
    for r in measure:
        t = tables[r]
        run_index[r] = page.add_run(labels[r], {t.ids[k]: t.record(k) for k in range(len(t))})
    return ReportContext(
        runs=runs,
        measure=measure,
        mines=mines,
        paired=paired,
        rows=rows,
        summaries=summaries,
        limits=limits,
        labels=labels,
        tables=tables,
        page=page,
        run_index=run_index,
        backbone=backbone,
        families=families,
        view=view,
        corr_error=corr_error,
        pair_views=pair_views,
    )


def build_report(
    runs: list[Path],
    out: Path,
    backbone: Path | None = None,
    correlation: dict | None = None,
    families: dict[str, str] | None = None,
    *,
    scores_csv: str | Path | None = None,
    paper_table: bool = False,
    pair_views: int = 3,
) -> Path:
    """Write a self-contained HTML report of ``runs`` to ``out``.

    Parameters
    ----------
    runs : list of Path
        ``socm measure`` run folders and/or ``socm mine`` folders (``mine_summary.json``).
    out : Path
        The HTML file.
    backbone : Path, optional
        The backbone's run: the summary shows each run's Δ avg SOCM to it.
    correlation : dict, optional
        A :func:`socm.analyses.correlate.correlate` result or a
        :func:`socm.output.data.correlation_view` to draw (instead of ``scores_csv`` /
        ``paper_table``).
    families : dict, optional
        Model → backbone id (arrows in the correlation figure).
    scores_csv : str or Path, optional
        Downstream scores ``model, score`` for the correlation section.
    paper_table : bool
        Correlation section next to the paper's 12 models; a run whose model is not in the
        paper's table is drawn without a score, never an error.
    pair_views : int
        Pairs of each ``socm mine`` folder drawn token by token (0: none; the folder's model
        is loaded for them, and a model that cannot be loaded is named instead).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    SocmError
        An ``out`` that is an existing folder, lies under a file or in a folder that cannot
        be written to (before any work); no run; a run folder that is neither a measure nor a
        mine run, or is incomplete.
    """
    out = Path(out)
    _check_out(out)
    runs = [Path(r) for r in runs]
    if not runs:
        raise SocmError("socm report needs at least one run folder")
    if backbone is not None:
        backbone = Path(backbone)
    ctx = _context(runs, backbone, families, correlation, scores_csv, paper_table, pair_views)
    sections = [s for build in BUILDERS for s in build(ctx)]  # in page order: see BUILDERS
    toc = [(s.anchor, s.toc or s.title) for s in sections]
    body = [piece for s in sections for piece in s.html()]
    document = page_html([ctx.labels[r] for r in runs], toc, body, ctx.page)
    atomic_write_bytes(out, document.encode("utf-8"))
    return out
