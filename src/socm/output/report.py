"""One-file HTML report of measure (and mine) runs: the last stage.

The report is one HTML file that opens offline: figures are embedded PNGs, the pair densities
hover (both texts, ids and numbers, :mod:`socm.output.interactive`), and every text from a
corpus is escaped wherever it appears — table cells and attributes by ``html.escape``, the
embedded JSON by :func:`socm.output.interactive.script_json` — and shown by the page's script
with ``textContent`` only; a Content-Security-Policy lets no other script run.

Contents: a table of contents; a summary (averages with confidence intervals when the run's
summary has them, Δ to a backbone run, spreads, the share of pairs with d_Σ > 1, SOCM
quantiles); the SOCM heatmap with the runs on top; each run's pair density (interactive) and,
for several runs, their overlay, all on the same axes; the top pairs of each run (at most two
per text) with both texts, ids, token counts, spreads and cosine; the per-text view and table;
per-layer curves; the correlation with downstream scores; the confusable pairs of ``socm
mine`` folders; settings and versions. Printing (e.g. to PDF) hides the interactive parts.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from socm.errors import SocmError, warn
from socm.files import atomic_write_bytes
from socm.measure.rundir import read_summary, summary_row

__all__ = ["build_report", "run_rows", "worst_pairs"]

TOP_K = 10
"""Top pairs per run in the report."""
MAX_PER_TEXT = 2
"""A text appears in at most this many of a run's top pairs."""
TEXT_ROWS = 20
"""Rows of each run's per-text table."""
MINE_ROWS = 25
"""Confusable pairs shown per mine run."""


def run_rows(runs: list[Path], backbone: Path | None = None) -> list[dict]:
    """One summary row per run, with the difference in average SOCM to the backbone run.

    Parameters
    ----------
    runs : list of Path
        Measure run folders.
    backbone : Path, optional
        The backbone's run folder.

    Returns
    -------
    list of dict
        :func:`socm.measure.rundir.summary_row` fields and ``delta_vs_backbone``.
    """
    rows = []
    base = read_summary(backbone)["avg_socm"] if backbone else None
    for run in runs:
        s = read_summary(run)
        rows.append(
            {
                **summary_row(s, run),
                "delta_vs_backbone": None if base is None else s["avg_socm"] - base,
            }
        )
    return rows


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


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1180px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;border-bottom:1px solid #ddd;
padding-bottom:.2em;margin-top:1.8em}h3{font-size:1.05em;margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.3em .55em;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.l,th.l{text-align:left}
table.pairs td.txt{text-align:left;min-width:12em;max-width:28em;overflow-wrap:anywhere}
div.scroll{overflow-x:auto;max-width:100%}
td.id,span.id{font-family:ui-monospace,monospace;font-size:.85em;color:#555;text-align:left;
overflow-wrap:anywhere;min-width:7em;max-width:14em}
div.clamp{display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:3;overflow:hidden}
.num{text-align:right;white-space:nowrap}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.88em;color:#555;max-width:60em}.muted{color:#666;font-size:.9em}
code{background:#f4f4f4;padding:0 .2em}
nav.toc{background:#f7f7f7;border:1px solid #e4e4e4;padding:.4em 1.2em;display:inline-block}
nav.toc ol{margin:.3em 0;padding-left:1.2em}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:1em}
.note{background:#fff8e6;border-left:3px solid #e69f00;padding:.3em .7em}
@media print{
body{max-width:none;margin:0;font-size:10pt}
nav.toc{display:none}
h2{break-after:avoid}h3{break-after:avoid}
figure,tr{break-inside:avoid}
div.clamp{display:block;-webkit-line-clamp:none;overflow:visible}
table{font-size:8.5pt}
.grid{display:block}
a{color:inherit;text-decoration:none}
}
"""


def _fmt(x: Any, spec: str = ".5f") -> str:
    if x is None:
        return "—"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "—"
    return "—" if not math.isfinite(v) else format(v, spec)


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


def _png(fig: Any) -> str:
    from socm.output.style import figure_bytes

    return "data:image/png;base64," + base64.b64encode(figure_bytes(fig, dpi=110)).decode()


def _ci(summary: dict, key: str) -> tuple[float, float] | None:
    """``<key>_ci95`` of a summary as (low, high), None when absent or not two numbers."""
    ci = summary.get(f"{key}_ci95")
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return None
    try:
        lo, hi = float(ci[0]), float(ci[1])
    except (TypeError, ValueError):
        return None
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


def _ci_words(summary: dict, key: str, label: str, spec: str = ".4f") -> str:
    """``avg SOCM 0.4499 ± 0.0087 (95% CI)``, or the value alone without an interval."""
    value = summary.get(key)
    ci = _ci(summary, key)
    if ci is None:
        return f"{label} {_fmt(value, spec)}"
    level = summary.get("ci_level") or 0.95
    return (
        f"{label} {_fmt(value, spec)} ± {_fmt((ci[1] - ci[0]) / 2, spec)} ({float(level):.0%} CI)"
    )


class _Page:
    """The JSON the page's script reads: per run, texts and pairs, indexed."""

    def __init__(self) -> None:
        self.runs: list[dict] = []
        self._text_index: list[dict[str, int]] = []
        self._texts: list[dict[str, dict]] = []

    def add_run(self, label: str, texts: dict[str, dict]) -> int:
        """Register a run and its texts (id → record); returns the run's index."""
        self.runs.append({"label": label, "texts": [], "pairs": []})
        self._text_index.append({})
        self._texts.append(texts)
        return len(self.runs) - 1

    def text(self, run: int, tid: str) -> int:
        """The index of text ``tid`` in run ``run``'s JSON (added on first use)."""
        index = self._text_index[run]
        if tid not in index:
            t = self._texts[run].get(tid, {})
            index[tid] = len(self.runs[run]["texts"])
            self.runs[run]["texts"].append(
                [
                    tid,
                    t.get("text") or "",
                    t.get("n_tokens"),
                    t.get("normalized_spread"),
                    t.get("mean_socm"),
                ]
            )
        return index[tid]

    def pair(self, run: int, p: dict, note: str = "") -> int:
        """Add a pair (ids and numbers) to run ``run``'s JSON; returns its index."""
        pairs = self.runs[run]["pairs"]
        pairs.append(
            [
                self.text(run, str(p["text1_id"])),
                self.text(run, str(p["text2_id"])),
                p.get("d_mu"),
                p.get("d_sigma"),
                p.get("socm"),
                note,
            ]
        )
        return len(pairs) - 1


def _short(text: str, n: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _settings_table(esc, title: str, data: dict) -> list[str]:
    parts = [f"<h3>{esc(title)}</h3><table>"]
    for k, v in data.items():
        val = json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else str(v)
        parts.append(
            f"<tr><th class='l'>{esc(str(k))}</th><td class='l'><code>{esc(val)}</code></td></tr>"
        )
    parts.append("</table>")
    return parts


_SETTINGS = (
    "model",
    "revision",
    "corpus",
    "unit",
    "n_texts",
    "n_pairs",
    "pairs",
    "seed",
    "numerics",
    "layer",
    "token_policy",
    "ci_method",
    "ci_level",
    "timings",
    "device",
    "created",
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
    from socm.output.correlation import correlation_figure
    from socm.output.data import (
        correlation_view,
        is_measure_run,
        is_mine_run,
        read_texts,
        scan_pairs,
        shared_limits,
        top_pairs,
    )
    from socm.output.heatmap import heatmap
    from socm.output.interactive import (
        TOOLTIP_CSS,
        csp,
        overlay_figure,
        script_json,
        script_tag,
    )
    from socm.output.layers import LAYER_DEFINITIONS, layer_depth, layers_figure
    from socm.output.scatter import scatter
    from socm.output.style import axes_box, run_labels
    from socm.output.texts import texts_figure

    out = Path(out)
    _check_out(out)
    runs = [Path(r) for r in runs]
    if not runs:
        raise SocmError("socm report needs at least one run folder")
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
    esc = html.escape
    page = _Page()

    view = None
    corr_error = None
    if correlation is not None:
        view = (
            correlation
            if "measured" in correlation
            else {"result": correlation, "measured": [], "measured_result": None, "notes": []}
        )
    elif scores_csv or paper_table:
        try:
            view = correlation_view(measure, scores_csv=scores_csv, paper_table=paper_table)
        except SocmError as exc:
            corr_error = str(exc)
            warn(f"report: no correlation figure: {exc}")

    # per-run text tables (per-text means from texts.jsonl, or streamed from the pairs)
    tables = {r: read_texts(r, limits) for r in measure}
    run_index = {}
    for r in measure:
        t = tables[r]
        run_index[r] = page.add_run(labels[r], {t.ids[k]: t.record(k) for k in range(len(t))})

    toc: list[tuple[str, str]] = []
    body: list[str] = []

    def section(anchor: str, title: str) -> None:
        toc.append((anchor, title))
        body.append(f"<h2 id='{anchor}'>{title}</h2>")

    # ------------------------------------------------------------------ summary
    if measure:
        section("summary", "Summary")
        body.append(
            "<div class='scroll'><table><tr><th class='l'>model</th><th class='l'>corpus</th>"
            "<th>texts</th>"
            "<th>pairs</th><th>avg SOCM</th><th>± CI</th><th>Δ vs backbone</th>"
            "<th>avg d<sub>μ</sub></th><th>avg d<sub>Σ</sub></th><th>avg spread</th>"
            "<th>texts with spread &gt; 2</th><th>pairs with d<sub>Σ</sub> &gt; 1</th>"
            "<th>numerics</th></tr>"
        )
        for r, row, s in zip(measure, rows, summaries, strict=True):
            delta = "—" if row["delta_vs_backbone"] is None else f"{row['delta_vs_backbone']:+.5f}"
            ci = _ci(s, "avg_socm")
            half = "—" if ci is None else f"± {(ci[1] - ci[0]) / 2:.5f}"
            n_over = s.get("n_d_sigma_over_1")
            if n_over is None and r in paired:
                n_over = scan_pairs(r, limits).n_d_sigma_over_1
            share = (
                "—"
                if n_over is None or not s["n_pairs"]
                else f"{n_over:,} ({n_over / s['n_pairs']:.1%})"
            )
            spread_share = row["share_spread_over_2"]
            body.append(
                f"<tr><td class='l'>{esc(str(row['model']))}</td>"
                f"<td class='l'>{esc(str(row['corpus']))}</td>"
                f"<td>{row['n_texts']:,}</td><td>{row['n_pairs']:,}</td>"
                f"<td>{_fmt(row['avg_socm'])}</td><td>{half}</td><td>{delta}</td>"
                f"<td>{_fmt(row['avg_d_mu'])}</td><td>{_fmt(row['avg_d_sigma'])}</td>"
                f"<td>{_fmt(row['avg_normalized_spread'], '.4f')}</td>"
                f"<td>{_fmt(spread_share, '.1%')}</td><td>{share}</td>"
                f"<td>{esc(str(row['numerics']))}</td></tr>"
            )
        body.append("</table></div>")
        if backbone:
            body.append(f"<p class='muted'>Backbone: {esc(str(backbone))}.</p>")
        with_ci = [(r, s) for r, s in zip(measure, summaries, strict=True) if _ci(s, "avg_socm")]
        body.append("<ul class='muted'>" if with_ci else "")
        for r, s in with_ci:
            words = ", ".join(
                _ci_words(s, k, lab)
                for k, lab in (
                    ("avg_socm", "avg SOCM"),
                    ("avg_d_mu", "avg d_μ"),
                    ("avg_d_sigma", "avg d_Σ"),
                )
            )
            method = f" (intervals: {esc(str(s['ci_method']))})" if s.get("ci_method") else ""
            body.append(f"<li>{esc(labels[r])}: {esc(words)}{method}</li>")
        body.append("</ul>" if with_ci else "")
        body.append(
            "<h3>SOCM quantiles</h3><table><tr><th class='l'>run</th><th>q10</th><th>median</th>"
            "<th>q90</th><th>q99</th><th>max</th></tr>"
        )
        for r, s in zip(measure, summaries, strict=True):
            q = s.get("socm_quantiles") or {}
            top = (
                _fmt(float(scan_pairs(r, limits).top["socm"][0]), ".4f")
                if r in paired and scan_pairs(r, limits).n_pairs
                else "—"
            )
            body.append(
                f"<tr><td class='l'>{esc(labels[r])}</td>"
                + "".join(
                    f"<td>{_fmt(q.get(k), '.4f')}</td>" for k in ("0.1", "0.5", "0.9", "0.99")
                )
                + f"<td>{top}</td></tr>"
            )
        body.append("</table>")

    # ------------------------------------------------------------------ heatmap
    if measure:
        section("read", "How to read SOCM")
        fig = heatmap(overlay=paired or None, limits=limits if paired else None)
        body.append(
            f"<figure><img alt='SOCM heatmap' src='{_png(fig)}'><figcaption>SOCM = (1 − "
            "d<sub>μ</sub>) · d<sub>Σ</sub>: the top-left corner is collapse (similar means, "
            "different token distributions). d<sub>Σ</sub> exceeds 1 only when a text's "
            "normalised spread exceeds 2; the axis covers every pair of the runs. Lines: the "
            "regions holding 50% and 90% of each run's pairs; markers: the runs' means. Top "
            "axis: the cosine of the mean-pooled embeddings, 1 − 2d<sub>μ</sub>.</figcaption>"
            "</figure>"
        )

    # ------------------------------------------------------------------ pairs
    tops: dict[Path, list[tuple[dict, int]]] = {}
    if paired:
        section("pairs", "Pairs in the (d<sub>μ</sub>, d<sub>Σ</sub>) plane")
        body.append(
            "<p class='muted'>Every pair, as a density (streamed from pairs.parquet), on the "
            "same axes for every run. Hover the plot: each cell shows its highest-SOCM pair "
            "(both texts, ids, numbers); circles 1–10 are the pairs of the top-pairs table.</p>"
        )
        body.append("<div class='grid'>")
        for r in paired:
            k = run_index[r]
            scan = scan_pairs(r, limits)
            picks = top_pairs(r, TOP_K, MAX_PER_TEXT, limits)
            tops[r] = [
                (p, page.pair(k, p, f"#{n} of the top pairs (at most {MAX_PER_TEXT} per text)"))
                for n, p in enumerate(picks, 1)
            ]
            fig = scatter(r, limits=limits, top_k=TOP_K, max_per_text=MAX_PER_TEXT)
            ax = next(a for a in fig.axes if a.get_label() == "pairs")
            png, box = axes_box(fig, ax)
            g = scan.grid
            c = scan.cells
            cells = []
            for n in range(len(c["row"])):
                pidx = page.pair(
                    k,
                    {key: c[key][n] for key in ("text1_id", "text2_id", "d_mu", "d_sigma", "socm")},
                    (
                        "the only pair in this cell"
                        if int(c["count"][n]) == 1
                        else f"the highest-SOCM pair of the {int(c['count'][n]):,} in this cell"
                    ),
                )
                x0 = c["cell_mu"][n] / g * limits.d_mu
                y0 = c["cell_sigma"][n] / g * limits.d_sigma
                cells.append((x0, y0, x0 + limits.d_mu / g, y0 + limits.d_sigma / g, pidx))
            texts_by_id = tables[r].index()

            def text_of(tid: str, table=tables[r], where=texts_by_id) -> str:
                return table.text[where[tid]] if tid in where else ""

            markers = [
                (
                    p["d_mu"],
                    p["d_sigma"],
                    pidx,
                    f"#{n}: SOCM {p['socm']:.4f}, d_mu {p['d_mu']:.4f}, d_sigma "
                    f"{p['d_sigma']:.4f}\n[{p['text1_id']}] {_short(text_of(p['text1_id']))}\n"
                    f"[{p['text2_id']}] {_short(text_of(p['text2_id']))}",
                )
                for n, (p, pidx) in enumerate(tops[r], 1)
            ]
            body.append(
                overlay_figure(
                    png,
                    box,
                    k,
                    limits.d_mu,
                    limits.d_sigma,
                    cells,
                    markers,
                    alt=f"pair density of {labels[r]}",
                    caption=f"{esc(labels[r])}: all {scan.n_pairs:,} pairs; "
                    f"{scan.n_d_sigma_over_1 / max(scan.n_pairs, 1):.1%} have "
                    "d<sub>Σ</sub> &gt; 1.",
                )
            )
        body.append("</div>")
        if len(paired) > 1:
            fig = scatter(paired, limits=limits)
            body.append(
                f"<figure><img alt='all runs overlaid' src='{_png(fig)}'><figcaption>The runs "
                "overlaid: regions holding 50% and 90% of each run's pairs, means, marginal "
                "densities.</figcaption></figure>"
            )

    # ------------------------------------------------------------------ top pairs
    if paired:
        section("top-pairs", "Top pairs by SOCM")
        body.append(
            f"<p class='muted'>The {TOP_K} pairs with the highest SOCM of each run, each text in "
            f"at most {MAX_PER_TEXT} of them (so that one long text does not fill the table). "
            "Cosine = 1 − 2d<sub>μ</sub> of the mean-pooled embeddings. Hover a row to see it "
            "in the plot.</p>"
        )
        for r in paired:
            k = run_index[r]
            t = tables[r]
            where = t.index()
            body.append(
                f"<h3>{esc(labels[r])}</h3><table class='pairs'><tr><th>#</th>"
                "<th class='l'>text 1</th><th class='l'>text 2</th><th class='l'>ids</th>"
                "<th>tokens</th><th>spread tr Σ</th><th>cosine</th><th>d<sub>μ</sub></th>"
                "<th>d<sub>Σ</sub></th><th>SOCM</th></tr>"
            )
            for n, (p, pidx) in enumerate(tops[r], 1):
                a, b = where.get(p["text1_id"]), where.get(p["text2_id"])

                def cell(idx, arr, spec):
                    return "—" if idx is None else _fmt(arr[idx], spec)

                body.append(
                    f"<tr data-pair='{k}:{pidx}'><td class='num'>{n}</td>"
                    f"<td class='txt'>{esc(t.text[a] if a is not None else '')}</td>"
                    f"<td class='txt'>{esc(t.text[b] if b is not None else '')}</td>"
                    f"<td class='id'>{esc(p['text1_id'])}<br>{esc(p['text2_id'])}</td>"
                    f"<td class='num'>{cell(a, t.n_tokens, '.0f')} / "
                    f"{cell(b, t.n_tokens, '.0f')}</td><td class='num'>"
                    f"{cell(a, t.spread, '.3f')} / {cell(b, t.spread, '.3f')}</td>"
                    f"<td class='num'>{p['cosine']:.4f}</td><td class='num'>{p['d_mu']:.4f}</td>"
                    f"<td class='num'>{p['d_sigma']:.4f}</td>"
                    f"<td class='num'>{p['socm']:.4f}</td></tr>"
                )
            body.append("</table>")

    # ------------------------------------------------------------------ texts
    if measure:
        section("texts", "Texts")
        finite = np.concatenate(
            [tables[r].mean_socm[np.isfinite(tables[r].mean_socm)] for r in measure]
        )
        socm_range = (float(finite.min()), float(finite.max())) if len(finite) else None
        spreads = np.concatenate([tables[r].spread[np.isfinite(tables[r].spread)] for r in measure])
        spread_max = max(float(spreads.max()) if len(spreads) else 2.5, 2.2) * 1.05
        body.append(
            "<p class='muted'>Per text: the normalised spread tr Σ (2 is the bound: d<sub>Σ</sub>"
            " ≤ 1 when both texts' spreads are at most 2), the number of tokens measured and "
            "the mean SOCM over the text's pairs (the same colour scale for every run).</p>"
        )
        for r in measure:
            k = run_index[r]
            t = tables[r]
            fig = texts_figure(r, limits=limits, socm_range=socm_range, spread_max=spread_max)
            body.append(
                f"<figure><img alt='texts of {esc(labels[r])}' src='{_png(fig)}'>"
                f"<figcaption>{esc(labels[r])}.</figcaption></figure>"
            )
            has = np.isfinite(t.mean_socm)
            key = np.where(has, t.mean_socm, -np.inf)
            order = np.argsort(-key, kind="stable")[:TEXT_ROWS]
            what = "highest mean SOCM" if has.any() else "file order (no per-text SOCM)"
            if not has.any():
                order = np.arange(min(TEXT_ROWS, len(t)))
            body.append(
                f"<h3>{esc(labels[r])}: {len(order)} of {len(t):,} texts, by {what}</h3>"
                "<p class='muted'>Hover a row for the whole text; every text is in the run's "
                "texts.jsonl.</p>"
                "<table class='pairs'><tr><th>#</th><th class='l'>id</th><th class='l'>text</th>"
                "<th>tokens</th><th>spread tr Σ</th><th>mean SOCM</th><th>mean d<sub>μ</sub></th>"
                "<th>mean d<sub>Σ</sub></th><th>pairs</th></tr>"
            )
            for n, i in enumerate(order, 1):
                tidx = page.text(k, t.ids[i])
                body.append(
                    f"<tr data-text='{k}:{tidx}'><td class='num'>{n}</td>"
                    f"<td class='id'>{esc(t.ids[i])}</td>"
                    f"<td class='txt'><div class='clamp'>{esc(t.text[i])}</div></td>"
                    f"<td class='num'>{int(t.n_tokens[i])}{' (cut)' if t.truncated[i] else ''}"
                    f"</td><td class='num'>{_fmt(t.spread[i], '.3f')}</td>"
                    f"<td class='num'>{_fmt(t.mean_socm[i], '.4f')}</td>"
                    f"<td class='num'>{_fmt(t.mean_d_mu[i], '.4f')}</td>"
                    f"<td class='num'>{_fmt(t.mean_d_sigma[i], '.4f')}</td>"
                    f"<td class='num'>{int(t.n_pairs[i]):,}</td></tr>"
                )
            body.append("</table>")
            if t.source == "pairs.parquet":
                body.append(
                    "<p class='muted'>Per-text means computed from pairs.parquet (this run's "
                    "texts.jsonl does not hold them).</p>"
                )

    # ------------------------------------------------------------------ layers
    layered = [
        r
        for r in measure
        if (r / "layers.parquet").is_file() or (r / "mechanism.parquet").is_file()
    ]
    if layered:
        section("layers", "Layer by layer")
        fig = layers_figure(layered)
        body.append(
            f"<figure><img alt='layers' src='{_png(fig)}'><figcaption>Median over texts with "
            f"interquartile band. {esc(LAYER_DEFINITIONS)}</figcaption></figure>"
        )
        depths = {layer_depth(r) for r in layered}
        if len(depths) > 1:
            fig = layers_figure(layered, relative=True)
            body.append(
                f"<figure><img alt='layers by relative depth' src='{_png(fig)}'><figcaption>"
                "The same by relative depth (layer / number of layers), so models of different "
                "depths compare.</figcaption></figure>"
            )

    # ------------------------------------------------------------------ correlation
    if view is not None or corr_error:
        section("correlation", "Collapse and downstream quality")
        if corr_error:
            body.append(f"<p class='note'>No correlation figure: {esc(corr_error)}</p>")
        else:
            fig = correlation_figure(
                view["result"],
                families,
                measured=view.get("measured"),
                measured_result=view.get("measured_result"),
                score_source=view.get("score_source"),
            )
            body.append(f"<figure><img alt='correlation' src='{_png(fig)}'></figure>")
            notes = list(dict.fromkeys(view.get("notes", [])))
            if notes:
                body.append(f"<p class='muted'>{esc('; '.join(notes))}.</p>")

    # ------------------------------------------------------------------ mine
    for m, r in enumerate(mines):
        body += _mine_section(r, m, labels[r], page, section, esc)

    # ------------------------------------------------------------------ settings
    section("settings", "Settings and versions")
    for r, s in zip(measure, summaries, strict=True):
        settings = {k: s.get(k) for k in _SETTINGS if k in s or not k.startswith("ci_")}
        settings.update({f"version {p}": ver for p, ver in s.get("versions", {}).items()})
        body += _settings_table(esc, str(r), settings)
    for r in mines:
        try:
            ms = json.loads((r / "mine_summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            ms = {}
        if isinstance(ms, dict):
            flat = {k: v for k, v in ms.items() if k != "versions"}
            flat.update({f"version {p}": v for p, v in (ms.get("versions") or {}).items()})
            body += _settings_table(esc, str(r), flat)

    nav = (
        "<nav class='toc'><b>Contents</b><ol>"
        + "".join(f"<li><a href='#{a}'>{t}</a></li>" for a, t in toc)
        + "</ol></nav>"
    )
    head = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{csp()}\">"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>socm report</title><style>{CSS}{TOOLTIP_CSS}</style></head><body>"
        "<h1>Second-order collapse report</h1>"
        "<p class='muted'>SOCM = (1 − d<sub>μ</sub>) · d<sub>Σ</sub>: large when two texts' "
        "mean-pooled embeddings agree (small d<sub>μ</sub>) while their token "
        "distributions differ in shape (large Bures–Wasserstein d<sub>Σ</sub>), i.e. "
        "information mean pooling destroys (Hara et al., ACL 2026). Runs: "
        + ", ".join(esc(labels[r]) for r in runs)
        + ". Generated "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.</p>"
    )
    tail = (
        f"<script type='application/json' id='socm-data'>{script_json({'runs': page.runs})}"
        f"</script>{script_tag()}</body></html>"
    )
    atomic_write_bytes(out, "\n".join([head, nav, *body, tail]).encode("utf-8"))
    return out


def _mine_section(run: Path, m: int, label: str, page: _Page, section, esc) -> list[str]:
    """The section of one ``socm mine`` folder: its confusable pairs and texts."""
    from socm.output.data import mine_data

    data = mine_data(run, MINE_ROWS)
    s = data["summary"]
    texts = {str(t.get("id")): t for t in data["texts"] if t.get("id") is not None}
    k = page.add_run(label, texts)
    body: list[str] = []
    anchor = f"mine-{m + 1}"
    section(anchor, f"Confusable pairs: {esc(label)}")
    bits = [
        f"{esc(str(key))}: {esc(str(s[key]))}"
        for key in ("model", "corpus", "n_texts", "neighbors", "rank_by", "n_candidates")
        if s.get(key) is not None
    ]
    body.append(
        f"<p class='muted'>socm mine — {'; '.join(bits)}. The {len(data['pairs'])} best of "
        f"{data['n_candidates']:,} candidate pairs (each text's nearest neighbours by cosine), "
        "best first: pairs whose means nearly agree while their token distributions differ. "
        "Relative d<sub>Σ</sub> = BW² / (tr Σ₁ + tr Σ₂) ∈ [0, 1].</p>"
    )
    body.append(
        "<div class='scroll'><table class='pairs'><tr><th>rank</th><th class='l'>text 1</th>"
        "<th class='l'>text 2</th>"
        "<th class='l'>ids</th><th>tokens</th><th>spread tr Σ</th><th>cosine</th>"
        "<th>d<sub>μ</sub></th><th>d<sub>Σ</sub></th><th>relative d<sub>Σ</sub></th>"
        "<th>SOCM</th></tr>"
    )
    for n, p in enumerate(data["pairs"], 1):
        pidx = page.pair(k, p, f"mine rank {p.get('rank') if p.get('rank') is not None else n}")
        body.append(
            f"<tr data-pair='{k}:{pidx}'><td class='num'>"
            f"{esc(str(p['rank'])) if p.get('rank') is not None else n}</td>"
            f"<td class='txt'>{esc(str(p.get('text1') or ''))}</td>"
            f"<td class='txt'>{esc(str(p.get('text2') or ''))}</td>"
            f"<td class='id'>{esc(str(p['text1_id']))}<br>{esc(str(p['text2_id']))}</td>"
            f"<td class='num'>{_fmt(p.get('n_tokens1'), '.0f')} / "
            f"{_fmt(p.get('n_tokens2'), '.0f')}</td>"
            f"<td class='num'>{_fmt(p.get('spread1'), '.3f')} / {_fmt(p.get('spread2'), '.3f')}"
            f"</td><td class='num'>{_fmt(p.get('cosine'), '.4f')}</td>"
            f"<td class='num'>{_fmt(p.get('d_mu'), '.4f')}</td>"
            f"<td class='num'>{_fmt(p.get('d_sigma'), '.4f')}</td>"
            f"<td class='num'>{_fmt(p.get('relative_d_sigma'), '.4f')}</td>"
            f"<td class='num'>{_fmt(p.get('socm'), '.4f')}</td></tr>"
        )
    body.append("</table></div>")
    if data["texts"]:

        def key(t: dict) -> float:
            v = t.get("neighbor_mean_relative_d_sigma")
            try:
                return -float(v) if v is not None and math.isfinite(float(v)) else math.inf
            except (TypeError, ValueError):
                return math.inf

        ranked = sorted(data["texts"], key=key)[:TEXT_ROWS]
        body.append(
            f"<h3>{len(ranked)} of {len(data['texts']):,} texts, by mean relative "
            "d<sub>Σ</sub> to their neighbours</h3><table class='pairs'><tr><th>#</th>"
            "<th class='l'>id</th><th class='l'>text</th><th>tokens</th><th>spread tr Σ</th>"
            "<th>neighbours' mean cosine</th><th>neighbours' mean relative d<sub>Σ</sub></th>"
            "</tr>"
        )
        for n, t in enumerate(ranked, 1):
            tid = str(t.get("id"))
            tidx = page.text(k, tid)
            body.append(
                f"<tr data-text='{k}:{tidx}'><td class='num'>{n}</td>"
                f"<td class='id'>{esc(tid)}</td><td class='txt'><div class='clamp'>"
                f"{esc(str(t.get('text') or ''))}</div></td>"
                f"<td class='num'>{_fmt(t.get('n_tokens'), '.0f')}</td>"
                f"<td class='num'>{_fmt(t.get('normalized_spread'), '.3f')}</td>"
                f"<td class='num'>{_fmt(t.get('neighbor_mean_cosine'), '.4f')}</td>"
                f"<td class='num'>{_fmt(t.get('neighbor_mean_relative_d_sigma'), '.4f')}</td></tr>"
            )
        body.append("</table>")
    return body
