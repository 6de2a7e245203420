"""The report's sections: one builder per section, each returning its HTML pieces.

A builder takes the :class:`ReportContext` (the runs, their summaries, text tables, shared
limits, labels and the page's JSON) and returns a list of :class:`Section` — empty when the
runs have nothing for it. :data:`BUILDERS` lists them in page order: summary, how to read SOCM
(the heatmap), the pairs' densities (interactive), the top pairs, the texts, layer by layer,
the correlation with downstream quality, one section per ``socm mine`` folder, settings and
versions. The builders run in that order because they fill the page's JSON as they go (a
table row refers to the index a pair got there) and the top-pairs table numbers the pairs the
densities marked.

Every text from a corpus (texts, ids, labels, settings) is escaped with ``html.escape``
where it enters a cell, an attribute or a caption; pairs and texts the script shows travel
through :class:`socm.output.report.page.PageData`.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from socm.measure.rundir import read_summary, summary_row
from socm.output.data import Limits, TextTable, mine_data, scan_pairs, top_pairs
from socm.output.report.page import PageData, ci, ci_words, fmt, png, settings_table, short

__all__ = [
    "BUILDERS",
    "MAX_PER_TEXT",
    "MINE_ROWS",
    "SETTINGS",
    "TEXT_ROWS",
    "TOP_K",
    "ReportContext",
    "Section",
    "correlation_section",
    "layers_section",
    "mine_sections",
    "pairs_section",
    "read_section",
    "run_rows",
    "settings_section",
    "summary_section",
    "texts_section",
    "top_pairs_section",
]

TOP_K = 10
"""Top pairs per run in the report."""
MAX_PER_TEXT = 2
"""A text appears in at most this many of a run's top pairs."""
TEXT_ROWS = 20
"""Rows of each run's per-text table."""
MINE_ROWS = 25
"""Listed pairs shown per mine run."""
SETTINGS = (
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
"""Summary fields in a run's settings table (then the versions)."""

esc = html.escape


@dataclass
class Section:
    """One section of the page: its anchor, its title (HTML) and its pieces of HTML."""

    anchor: str
    title: str
    body: list[str] = field(default_factory=list)

    def html(self) -> list[str]:
        """The heading, then the body's pieces."""
        return [f"<h2 id='{self.anchor}'>{self.title}</h2>", *self.body]


@dataclass
class ReportContext:
    """Everything the section builders share.

    Attributes
    ----------
    runs : list of Path
        Every folder, in the order given.
    measure, mines, paired : list of Path
        The measure runs, the ``socm mine`` folders and the measure runs with pairs.
    rows, summaries : list of dict
        Per measure run: :func:`run_rows` and ``summary.json``.
    limits : Limits
        Axis and colour limits shared by every figure.
    labels : dict
        Folder → label (plain text).
    tables : dict
        Measure run → :class:`socm.output.data.TextTable`.
    page : PageData
        The JSON the page's script reads.
    run_index : dict
        Measure run → its index in ``page``.
    backbone : Path or None
        The backbone's run.
    families : dict or None
        Model → backbone (correlation arrows).
    view : dict or None
        What the correlation figure draws.
    corr_error : str or None
        Why there is no correlation figure.
    tops : dict
        Paired run → its top pairs and their indices in ``page`` (filled by
        :func:`pairs_section`, read by :func:`top_pairs_section`).
    """

    runs: list[Path]
    measure: list[Path]
    mines: list[Path]
    paired: list[Path]
    rows: list[dict]
    summaries: list[dict]
    limits: Limits
    labels: dict[Path, str]
    tables: dict[Path, TextTable]
    page: PageData
    run_index: dict[Path, int]
    backbone: Path | None = None
    families: dict[str, str] | None = None
    view: dict | None = None
    corr_error: str | None = None
    tops: dict[Path, list[tuple[dict, int]]] = field(default_factory=dict)


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


# ---------------------------------------------------------------------------------- summary
def _summary_row(ctx: ReportContext, r: Path, row: dict, s: dict) -> str:
    """One run's row of the summary table."""
    delta = "—" if row["delta_vs_backbone"] is None else f"{row['delta_vs_backbone']:+.5f}"
    interval = ci(s, "avg_socm")
    half = "—" if interval is None else f"± {(interval[1] - interval[0]) / 2:.5f}"
    n_over = s.get("n_d_sigma_over_1")
    if n_over is None and r in ctx.paired:
        n_over = scan_pairs(r, ctx.limits).n_d_sigma_over_1
    share = (
        "—" if n_over is None or not s["n_pairs"] else f"{n_over:,} ({n_over / s['n_pairs']:.1%})"
    )
    spread_share = row["share_spread_over_2"]
    native = " (native pooling)" if s.get("pooling") == "model" else ""
    return (
        f"<tr><td class='l'>{esc(str(row['model']) + native)}</td>"
        f"<td class='l'>{esc(str(row['corpus']))}</td>"
        f"<td>{row['n_texts']:,}</td><td>{row['n_pairs']:,}</td>"
        f"<td>{fmt(row['avg_socm'])}</td><td>{half}</td><td>{delta}</td>"
        f"<td>{fmt(row['avg_d_mu'])}</td><td>{fmt(row['avg_d_sigma'])}</td>"
        f"<td>{fmt(row['avg_normalized_spread'], '.4f')}</td>"
        f"<td>{fmt(spread_share, '.1%')}</td><td>{share}</td>"
        f"<td>{esc(str(row['numerics']))}</td></tr>"
    )


def _intervals(ctx: ReportContext) -> list[str]:
    """The runs' averages with their confidence intervals, as a list (two empty pieces when
    no run has intervals)."""
    with_ci = [(r, s) for r, s in zip(ctx.measure, ctx.summaries, strict=True) if ci(s, "avg_socm")]
    body = ["<ul class='muted'>" if with_ci else ""]
    for r, s in with_ci:
        words = ", ".join(
            ci_words(s, k, lab)
            for k, lab in (
                ("avg_socm", "avg SOCM"),
                ("avg_d_mu", "avg d_μ"),
                ("avg_d_sigma", "avg d_Σ"),
            )
        )
        method = f" (intervals: {esc(str(s['ci_method']))})" if s.get("ci_method") else ""
        body.append(f"<li>{esc(ctx.labels[r])}: {esc(words)}{method}</li>")
    body.append("</ul>" if with_ci else "")
    return body


def _quantiles(ctx: ReportContext) -> list[str]:
    """The table of each run's SOCM quantiles and largest SOCM."""
    body = [
        "<h3>SOCM quantiles</h3><table><tr><th class='l'>run</th><th>q10</th><th>median</th>"
        "<th>q90</th><th>q99</th><th>max</th></tr>"
    ]
    for r, s in zip(ctx.measure, ctx.summaries, strict=True):
        q = s.get("socm_quantiles") or {}
        top = (
            fmt(float(scan_pairs(r, ctx.limits).top["socm"][0]), ".4f")
            if r in ctx.paired and scan_pairs(r, ctx.limits).n_pairs
            else "—"
        )
        body.append(
            f"<tr><td class='l'>{esc(ctx.labels[r])}</td>"
            + "".join(f"<td>{fmt(q.get(k), '.4f')}</td>" for k in ("0.1", "0.5", "0.9", "0.99"))
            + f"<td>{top}</td></tr>"
        )
    body.append("</table>")
    return body


def summary_section(ctx: ReportContext) -> list[Section]:
    """Averages (with intervals), Δ to the backbone, spreads, d_Σ > 1, SOCM quantiles."""
    if not ctx.measure:
        return []
    body = [
        "<div class='scroll'><table><tr><th class='l'>model</th><th class='l'>corpus</th>"
        "<th>texts</th>"
        "<th>pairs</th><th>avg SOCM</th><th>± CI</th><th>Δ vs backbone</th>"
        "<th>avg d<sub>μ</sub></th><th>avg d<sub>Σ</sub></th><th>avg spread</th>"
        "<th>texts with spread &gt; 2</th><th>pairs with d<sub>Σ</sub> &gt; 1</th>"
        "<th>numerics</th></tr>"
    ]
    for r, row, s in zip(ctx.measure, ctx.rows, ctx.summaries, strict=True):
        body.append(_summary_row(ctx, r, row, s))
    body.append("</table></div>")
    if ctx.backbone:
        body.append(f"<p class='muted'>Backbone: {esc(str(ctx.backbone))}.</p>")
    body += _intervals(ctx)
    body += _quantiles(ctx)
    return [Section("summary", "Summary", body)]


# ---------------------------------------------------------------------------------- heatmap
def read_section(ctx: ReportContext) -> list[Section]:
    """How to read SOCM: the heatmap with the runs' pairs on top."""
    from socm.output.heatmap import heatmap

    if not ctx.measure:
        return []
    fig = heatmap(overlay=ctx.paired or None, limits=ctx.limits if ctx.paired else None)
    body = [
        f"<figure><img alt='SOCM heatmap' src='{png(fig)}'><figcaption>SOCM = (1 − "
        "d<sub>μ</sub>) · d<sub>Σ</sub>: the top-left corner is collapse (similar means, "
        "different token distributions). d<sub>Σ</sub> exceeds 1 only when a text's "
        "normalised spread exceeds 2; the axis covers every pair of the runs. Lines: the "
        "regions holding 50% and 90% of each run's pairs; markers: the runs' means. Top "
        "axis: the cosine of the mean-pooled embeddings, 1 − 2d<sub>μ</sub>.</figcaption>"
        "</figure>"
    ]
    return [Section("read", "How to read SOCM", body)]


# ---------------------------------------------------------------------------------- pairs
def _hover_cells(ctx: ReportContext, r: Path, k: int) -> list[tuple]:
    """The hover cells of run ``r``'s density: each cell's highest-SOCM pair, added to the
    page's JSON; (x0, y0, x1, y1, pair index) in data coordinates."""
    limits = ctx.limits
    scan = scan_pairs(r, limits)
    g = scan.grid
    c = scan.cells
    cells = []
    for n in range(len(c["row"])):
        pidx = ctx.page.pair(
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
    return cells


def _pair_density(ctx: ReportContext, r: Path) -> str:
    """Run ``r``'s pair density with its hover overlay; its top pairs go to ``ctx.tops``."""
    from socm.output.interactive import overlay_figure
    from socm.output.scatter import scatter
    from socm.output.style import axes_box

    k = ctx.run_index[r]
    limits = ctx.limits
    scan = scan_pairs(r, limits)
    picks = top_pairs(r, TOP_K, MAX_PER_TEXT, limits)
    ctx.tops[r] = [
        (p, ctx.page.pair(k, p, f"#{n} of the top pairs (at most {MAX_PER_TEXT} per text)"))
        for n, p in enumerate(picks, 1)
    ]
    fig = scatter(r, limits=limits, top_k=TOP_K, max_per_text=MAX_PER_TEXT)
    ax = next(a for a in fig.axes if a.get_label() == "pairs")
    image, box = axes_box(fig, ax)
    cells = _hover_cells(ctx, r, k)
    table = ctx.tables[r]
    where = table.index()

    def text_of(tid: str) -> str:
        return table.text[where[tid]] if tid in where else ""

    markers = [
        (
            p["d_mu"],
            p["d_sigma"],
            pidx,
            f"#{n}: SOCM {p['socm']:.4f}, d_mu {p['d_mu']:.4f}, d_sigma "
            f"{p['d_sigma']:.4f}\n[{p['text1_id']}] {short(text_of(p['text1_id']))}\n"
            f"[{p['text2_id']}] {short(text_of(p['text2_id']))}",
        )
        for n, (p, pidx) in enumerate(ctx.tops[r], 1)
    ]
    return overlay_figure(
        image,
        box,
        k,
        limits.d_mu,
        limits.d_sigma,
        cells,
        markers,
        alt=f"pair density of {ctx.labels[r]}",
        caption=f"{esc(ctx.labels[r])}: all {scan.n_pairs:,} pairs; "
        f"{scan.n_d_sigma_over_1 / max(scan.n_pairs, 1):.1%} have "
        "d<sub>Σ</sub> &gt; 1.",
    )


def pairs_section(ctx: ReportContext) -> list[Section]:
    """Each run's pair density (hover: a cell's highest-SOCM pair, the marked top pairs) and,
    for several runs, their overlay; fills ``ctx.tops``."""
    from socm.output.scatter import scatter

    if not ctx.paired:
        return []
    body = [
        "<p class='muted'>Every pair, as a density (streamed from pairs.parquet), on the "
        "same axes for every run. Hover the plot: each cell shows its highest-SOCM pair "
        "(both texts, ids, numbers); circles 1–10 are the pairs of the top-pairs table.</p>",
        "<div class='grid'>",
    ]
    body += [_pair_density(ctx, r) for r in ctx.paired]
    body.append("</div>")
    if len(ctx.paired) > 1:
        fig = scatter(ctx.paired, limits=ctx.limits)
        body.append(
            f"<figure><img alt='all runs overlaid' src='{png(fig)}'><figcaption>The runs "
            "overlaid: regions holding 50% and 90% of each run's pairs, means, marginal "
            "densities.</figcaption></figure>"
        )
    return [Section("pairs", "Pairs in the (d<sub>μ</sub>, d<sub>Σ</sub>) plane", body)]


# ---------------------------------------------------------------------------------- top pairs
def _top_pairs_table(ctx: ReportContext, r: Path) -> list[str]:
    """Run ``r``'s top pairs: both texts, ids, tokens, spreads, cosine and the numbers."""
    k = ctx.run_index[r]
    t = ctx.tables[r]
    where = t.index()
    body = [
        f"<h3>{esc(ctx.labels[r])}</h3><table class='pairs'><tr><th>#</th>"
        "<th class='l'>text 1</th><th class='l'>text 2</th><th class='l'>ids</th>"
        "<th>tokens</th><th>spread tr Σ</th><th>cosine</th><th>d<sub>μ</sub></th>"
        "<th>d<sub>Σ</sub></th><th>SOCM</th></tr>"
    ]

    def cell(idx: int | None, arr: np.ndarray, spec: str) -> str:
        return "—" if idx is None else fmt(arr[idx], spec)

    for n, (p, pidx) in enumerate(ctx.tops[r], 1):
        a, b = where.get(p["text1_id"]), where.get(p["text2_id"])
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
    return body


def top_pairs_section(ctx: ReportContext) -> list[Section]:
    """Each run's top pairs by SOCM (at most :data:`MAX_PER_TEXT` per text), hover-linked to
    the densities (after :func:`pairs_section`)."""
    if not ctx.paired:
        return []
    body = [
        f"<p class='muted'>The {TOP_K} pairs with the highest SOCM of each run, each text in "
        f"at most {MAX_PER_TEXT} of them (so that one long text does not fill the table). "
        "Cosine = 1 − 2d<sub>μ</sub> of the mean-pooled embeddings. Hover a row to see it "
        "in the plot.</p>"
    ]
    for r in ctx.paired:
        body += _top_pairs_table(ctx, r)
    return [Section("top-pairs", "Top pairs by SOCM", body)]


# ---------------------------------------------------------------------------------- texts
def _texts_table(ctx: ReportContext, r: Path) -> list[str]:
    """Run ``r``'s :data:`TEXT_ROWS` texts of highest mean SOCM (file order without it)."""
    k = ctx.run_index[r]
    t = ctx.tables[r]
    has = np.isfinite(t.mean_socm)
    key = np.where(has, t.mean_socm, -np.inf)
    order = np.argsort(-key, kind="stable")[:TEXT_ROWS]
    what = "highest mean SOCM" if has.any() else "file order (no per-text SOCM)"
    if not has.any():
        order = np.arange(min(TEXT_ROWS, len(t)))
    body = [
        f"<h3>{esc(ctx.labels[r])}: {len(order)} of {len(t):,} texts, by {what}</h3>"
        "<p class='muted'>Hover a row for the whole text; every text is in the run's "
        "texts.jsonl.</p>"
        "<table class='pairs'><tr><th>#</th><th class='l'>id</th><th class='l'>text</th>"
        "<th>tokens</th><th>spread tr Σ</th><th>mean SOCM</th><th>mean d<sub>μ</sub></th>"
        "<th>mean d<sub>Σ</sub></th><th>pairs</th></tr>"
    ]
    for n, i in enumerate(order, 1):
        tidx = ctx.page.text(k, t.ids[i])
        body.append(
            f"<tr data-text='{k}:{tidx}'><td class='num'>{n}</td>"
            f"<td class='id'>{esc(t.ids[i])}</td>"
            f"<td class='txt'><div class='clamp'>{esc(t.text[i])}</div></td>"
            f"<td class='num'>{int(t.n_tokens[i])}{' (cut)' if t.truncated[i] else ''}"
            f"</td><td class='num'>{fmt(t.spread[i], '.3f')}</td>"
            f"<td class='num'>{fmt(t.mean_socm[i], '.4f')}</td>"
            f"<td class='num'>{fmt(t.mean_d_mu[i], '.4f')}</td>"
            f"<td class='num'>{fmt(t.mean_d_sigma[i], '.4f')}</td>"
            f"<td class='num'>{int(t.n_pairs[i]):,}</td></tr>"
        )
    body.append("</table>")
    if t.source == "pairs.parquet":
        body.append(
            "<p class='muted'>Per-text means computed from pairs.parquet (this run's "
            "texts.jsonl does not hold them).</p>"
        )
    return body


def texts_section(ctx: ReportContext) -> list[Section]:
    """Each run's texts figure (same colour scale and spread axis for all) and text table."""
    from socm.output.texts import texts_figure

    if not ctx.measure:
        return []
    tables = ctx.tables
    finite = np.concatenate(
        [tables[r].mean_socm[np.isfinite(tables[r].mean_socm)] for r in ctx.measure]
    )
    socm_range = (float(finite.min()), float(finite.max())) if len(finite) else None
    spreads = np.concatenate([tables[r].spread[np.isfinite(tables[r].spread)] for r in ctx.measure])
    spread_max = max(float(spreads.max()) if len(spreads) else 2.5, 2.2) * 1.05
    body = [
        "<p class='muted'>Per text: the normalised spread tr Σ (2 is the bound: d<sub>Σ</sub>"
        " ≤ 1 when both texts' spreads are at most 2), the number of tokens measured and "
        "the mean SOCM over the text's pairs (the same colour scale for every run).</p>"
    ]
    for r in ctx.measure:
        fig = texts_figure(r, limits=ctx.limits, socm_range=socm_range, spread_max=spread_max)
        body.append(
            f"<figure><img alt='texts of {esc(ctx.labels[r])}' src='{png(fig)}'>"
            f"<figcaption>{esc(ctx.labels[r])}.</figcaption></figure>"
        )
        body += _texts_table(ctx, r)
    return [Section("texts", "Texts", body)]


# ---------------------------------------------------------------------------------- layers
def layers_section(ctx: ReportContext) -> list[Section]:
    """Per-layer curves of the runs that have them (also by relative depth when the runs'
    models differ in depth)."""
    from socm.output.layers import LAYER_DEFINITIONS, layer_depth, layers_figure

    layered = [
        r
        for r in ctx.measure
        if (r / "layers.parquet").is_file() or (r / "mechanism.parquet").is_file()
    ]
    if not layered:
        return []
    fig = layers_figure(layered)
    body = [
        f"<figure><img alt='layers' src='{png(fig)}'><figcaption>Median over texts with "
        f"interquartile band. {esc(LAYER_DEFINITIONS)}</figcaption></figure>"
    ]
    depths = {layer_depth(r) for r in layered}
    if len(depths) > 1:
        fig = layers_figure(layered, relative=True)
        body.append(
            f"<figure><img alt='layers by relative depth' src='{png(fig)}'><figcaption>"
            "The same by relative depth (layer / number of layers), so models of different "
            "depths compare.</figcaption></figure>"
        )
    return [Section("layers", "Layer by layer", body)]


# ---------------------------------------------------------------------------------- correlation
def correlation_section(ctx: ReportContext) -> list[Section]:
    """Average SOCM against downstream scores (or why there is no such figure)."""
    from socm.output.correlation import correlation_figure

    view = ctx.view
    if view is None and not ctx.corr_error:
        return []
    if ctx.corr_error or view is None:
        body = [f"<p class='note'>No correlation figure: {esc(str(ctx.corr_error))}</p>"]
        return [Section("correlation", "Collapse and downstream quality", body)]
    fig = correlation_figure(
        view["result"],
        ctx.families,
        measured=view.get("measured"),
        measured_result=view.get("measured_result"),
        score_source=view.get("score_source"),
    )
    body = [f"<figure><img alt='correlation' src='{png(fig)}'></figure>"]
    notes = list(dict.fromkeys(view.get("notes", [])))
    if notes:
        body.append(f"<p class='muted'>{esc('; '.join(notes))}.</p>")
    return [Section("correlation", "Collapse and downstream quality", body)]


# ---------------------------------------------------------------------------------- mine
def _mine_pairs_table(data: dict, page: PageData, k: int) -> list[str]:
    """A mine folder's best candidate pairs, both texts and every number."""
    body = [
        "<div class='scroll'><table class='pairs'><tr><th>rank</th><th class='l'>text 1</th>"
        "<th class='l'>text 2</th>"
        "<th class='l'>ids</th><th>tokens</th><th>spread tr Σ</th><th>cosine</th>"
        "<th title='percent of random pairs of the corpus with a lower cosine'>cosine pct</th>"
        "<th title='where each text stands among the other&#39;s nearest texts (-: not among "
        "them)'>ranks</th>"
        "<th>d<sub>μ</sub></th><th>d<sub>Σ</sub></th><th>relative d<sub>Σ</sub></th>"
        "<th>SOCM</th></tr>"
    ]
    for n, p in enumerate(data["pairs"], 1):
        pidx = page.pair(k, p, f"mine rank {p.get('rank') if p.get('rank') is not None else n}")
        body.append(
            f"<tr data-pair='{k}:{pidx}'><td class='num'>"
            f"{esc(str(p['rank'])) if p.get('rank') is not None else n}</td>"
            f"<td class='txt'>{esc(str(p.get('text1') or ''))}</td>"
            f"<td class='txt'>{esc(str(p.get('text2') or ''))}</td>"
            f"<td class='id'>{esc(str(p['text1_id']))}<br>{esc(str(p['text2_id']))}</td>"
            f"<td class='num'>{fmt(p.get('n_tokens1'), '.0f')} / "
            f"{fmt(p.get('n_tokens2'), '.0f')}</td>"
            f"<td class='num'>{fmt(p.get('spread1'), '.3f')} / {fmt(p.get('spread2'), '.3f')}"
            f"</td><td class='num'>{fmt(p.get('cosine'), '.4f')}</td>"
            f"<td class='num'>{fmt(p.get('cosine_percentile'), '.2f')}</td>"
            f"<td class='num'>{_ranks(p)}</td>"
            f"<td class='num'>{fmt(p.get('d_mu'), '.4f')}</td>"
            f"<td class='num'>{fmt(p.get('d_sigma'), '.4f')}</td>"
            f"<td class='num'>{fmt(p.get('relative_d_sigma'), '.4f')}</td>"
            f"<td class='num'>{fmt(p.get('socm'), '.4f')}</td></tr>"
        )
    body.append("</table></div>")
    return body


def _ranks(p: dict) -> str:
    """``3/1``: where text 2 stands among text 1's nearest texts and text 1 among text 2's
    (``-``: not among them; empty for a mine folder written before these were recorded)."""
    r1, r2 = p.get("neighbor_rank_1"), p.get("neighbor_rank_2")
    if "neighbor_rank_1" not in p or (r1 is None and r2 is None and "cosine_percentile" not in p):
        return ""
    return "/".join("-" if not r else str(int(r)) for r in (r1, r2))


def _by_relative_d_sigma(t: dict) -> float:
    """Sort key: the larger a text's neighbours' mean relative d_Σ, the earlier (unknown:
    last)."""
    v = t.get("neighbor_mean_relative_d_sigma")
    try:
        return -float(v) if v is not None and math.isfinite(float(v)) else math.inf
    except (TypeError, ValueError):
        return math.inf


def _mine_texts_table(data: dict, page: PageData, k: int) -> list[str]:
    """A mine folder's :data:`TEXT_ROWS` texts with the largest mean relative d_Σ to their
    neighbours."""
    ranked = sorted(data["texts"], key=_by_relative_d_sigma)[:TEXT_ROWS]
    body = [
        f"<h3>{len(ranked)} of {len(data['texts']):,} texts, by mean relative "
        "d<sub>Σ</sub> to their neighbours</h3><table class='pairs'><tr><th>#</th>"
        "<th class='l'>id</th><th class='l'>text</th><th>tokens</th><th>spread tr Σ</th>"
        "<th>neighbours' mean cosine</th><th>neighbours' mean relative d<sub>Σ</sub></th>"
        "</tr>"
    ]
    for n, t in enumerate(ranked, 1):
        tid = str(t.get("id"))
        tidx = page.text(k, tid)
        body.append(
            f"<tr data-text='{k}:{tidx}'><td class='num'>{n}</td>"
            f"<td class='id'>{esc(tid)}</td><td class='txt'><div class='clamp'>"
            f"{esc(str(t.get('text') or ''))}</div></td>"
            f"<td class='num'>{fmt(t.get('n_tokens'), '.0f')}</td>"
            f"<td class='num'>{fmt(t.get('normalized_spread'), '.3f')}</td>"
            f"<td class='num'>{fmt(t.get('neighbor_mean_cosine'), '.4f')}</td>"
            f"<td class='num'>{fmt(t.get('neighbor_mean_relative_d_sigma'), '.4f')}</td></tr>"
        )
    body.append("</table>")
    return body


def _mine_section(run: Path, m: int, label: str, page: PageData) -> Section:
    """The section of one ``socm mine`` folder: its listed pairs and texts."""
    data = mine_data(run, MINE_ROWS)
    s = data["summary"]
    texts = {str(t.get("id")): t for t in data["texts"] if t.get("id") is not None}
    k = page.add_run(label, texts)
    bits = [
        f"{esc(str(key))}: {esc(str(s[key]))}"
        for key in ("model", "corpus", "n_texts", "neighbors", "rank_by", "n_candidates")
        if s.get(key) is not None
    ]
    left = sum(int(s.get(f"n_{w}_excluded") or 0) for w in ("fragments", "duplicates"))
    scored = s.get("n_candidates")
    body = [
        f"<p class='muted'>socm mine — {'; '.join(bits)}. The first {len(data['pairs'])} of "
        f"the {data['n_candidates']:,} pairs kept"
        + (f" from {scored:,} scored candidate pairs" if isinstance(scored, int) else "")
        + " (each text's nearest neighbours by cosine), ranked by how differently their "
        "tokens are distributed"
        + (f"; {left:,} fragments and repeated texts left out" if left else "")
        + ". Relative d<sub>Σ</sub> = BW² / (tr Σ₁ + tr Σ₂) ∈ [0, 1]. Tested against human "
        "similarity on STS-B, no shape score marked the pairs humans rate less similar beyond "
        "what the cosine says: these are pairs mean pooling puts close although their token "
        "distributions differ, not pairs shown to be different to a reader.</p>"
    ]
    body += _mine_pairs_table(data, page, k)
    if data["texts"]:
        body += _mine_texts_table(data, page, k)
    return Section(f"mine-{m + 1}", f"Near pairs whose tokens differ most: {esc(label)}", body)


def mine_sections(ctx: ReportContext) -> list[Section]:
    """One section per ``socm mine`` folder."""
    return [_mine_section(r, m, ctx.labels[r], ctx.page) for m, r in enumerate(ctx.mines)]


# ---------------------------------------------------------------------------------- settings
def settings_section(ctx: ReportContext) -> list[Section]:
    """Every run's settings and versions (always present)."""
    body: list[str] = []
    for r, s in zip(ctx.measure, ctx.summaries, strict=True):
        settings = {k: s.get(k) for k in SETTINGS if k in s or not k.startswith("ci_")}
        settings.update({f"version {p}": ver for p, ver in s.get("versions", {}).items()})
        body += settings_table(str(r), settings)
    for r in ctx.mines:
        try:
            ms = json.loads((r / "mine_summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            ms = {}
        if isinstance(ms, dict):
            flat = {k: v for k, v in ms.items() if k != "versions"}
            flat.update({f"version {p}": v for p, v in (ms.get("versions") or {}).items()})
            body += settings_table(str(r), flat)
    return [Section("settings", "Settings and versions", body)]


BUILDERS: tuple[Callable[[ReportContext], list[Section]], ...] = (
    summary_section,
    read_section,
    pairs_section,
    top_pairs_section,
    texts_section,
    layers_section,
    correlation_section,
    mine_sections,
    settings_section,
)
"""The section builders in page order (the order they must run in)."""
