"""The report's sections: one builder per section, each returning its HTML pieces.

A builder takes the :class:`ReportContext` (the runs, their summaries, text tables, shared
limits, labels and the page's JSON) and returns a list of :class:`Section` — empty when the
runs have nothing for it. :data:`BUILDERS` lists them in page order: the runs beside the
paper's models, the summary, the SOCM distribution, what drives the average, how to read
SOCM (the heatmap), the pairs' densities (interactive), the top pairs, the texts, layer by
layer, the correlation with downstream quality, one section per ``socm mine`` folder
(:mod:`socm.output.report.mine`), settings and versions. The builders run in that order
because they fill the page's JSON as they go (a table row refers to the index a pair got
there) and the top-pairs table numbers the pairs the densities marked.

Every caption states only counts the run's files hold: a run of sampled pairs is named as
such (:func:`socm.measure.summary.pairs_words`) and its largest SOCM is the sample's. Every
text from a corpus (texts, ids, labels, settings) is escaped with ``html.escape`` where it
enters a cell, an attribute or a caption; pairs and texts the script shows travel through
:class:`socm.output.report.page.PageData`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from socm.errors import warn
from socm.measure.rundir import read_mine_summary, read_summary, summary_row
from socm.measure.summary import is_sample, pairs_words
from socm.output.data import scan_pairs, spread_relation, top_pairs
from socm.output.report.context import (
    MAX_PER_TEXT,
    MINE_HIDDEN,
    SETTINGS,
    TEXT_ROWS,
    TOP_K,
    ReportContext,
    Section,
)
from socm.output.report.mine import mine_sections
from socm.output.report.page import (
    ci,
    ci_words,
    fmt,
    png,
    settings_table,
    short,
    text_cell,
)

__all__ = [
    "BUILDERS",
    "correlation_section",
    "distribution_section",
    "drivers_section",
    "layers_section",
    "overview_section",
    "pairs_section",
    "read_section",
    "run_rows",
    "settings_section",
    "summary_section",
    "texts_section",
    "top_pairs_section",
]

esc = html.escape


def run_rows(runs: list[Path], backbone: Path | None = None) -> list[dict]:
    """One summary row per run, with the difference in average SOCM to the backbone run and
    its paired interval (:func:`socm.analyses.compare.paired_delta`).

    Parameters
    ----------
    runs : list of Path
        Measure run folders.
    backbone : Path, optional
        The backbone's run folder.

    Returns
    -------
    list of dict
        :func:`socm.measure.rundir.summary_row` fields, ``delta_vs_backbone`` (None without
        a backbone), ``delta_ci95`` ([low, high] or None) and ``delta_note`` (why there is
        no paired interval, or ``"the backbone"`` for the backbone's own row).
    """
    from socm.analyses.compare import paired_delta

    rows = []
    base = read_summary(backbone) if backbone else None
    for run in runs:
        s = read_summary(run)
        differ = None if base is None else _other_texts(s, base)
        if differ:
            warn(
                f"report: no Δ vs the backbone for {run}: it measured {differ} than the "
                f"backbone {backbone}, so the two averages do not compare like with like"
            )
        row = {
            **summary_row(s, run),
            "delta_vs_backbone": None
            if base is None or differ
            else s["avg_socm"] - base["avg_socm"],
            "delta_ci95": None,
            "delta_note": differ,
        }
        if backbone is not None and not differ:
            if Path(run).resolve() == Path(backbone).resolve():
                row["delta_note"] = "the backbone"
            else:
                paired = paired_delta(Path(backbone), Path(run))
                row["delta_ci95"], row["delta_note"] = paired["ci"], paired["note"]
        rows.append(row)
    return rows


#: What makes two runs' averages comparable: the same texts and pairs, the same numerics.
_SAME_TEXTS = ("corpus", "unit", "n_texts", "n_pairs", "pairs", "seed", "numerics")
_SAME_CONFIG = ("corpus", "text_column", "id_column", "pairs_file", "max_pairs", "n_texts")


def _other_texts(s: dict, base: dict) -> str | None:
    """What differs between a run's texts and pairs and the backbone's (``"another corpus"``,
    ``"other pairs"``, ...), or None when a difference of their averages is one over the same
    pairs."""
    a, b = s.get("config") or {}, base.get("config") or {}
    if s.get("corpus") != base.get("corpus") or a.get("corpus") != b.get("corpus"):
        return "another corpus"
    if s.get("numerics") != base.get("numerics"):
        return "other numerics"
    if any(s.get(k) != base.get(k) for k in _SAME_TEXTS) or any(
        a.get(k) != b.get(k) for k in _SAME_CONFIG
    ):
        return "other texts or pairs"
    return None


# ---------------------------------------------------------------------------------- overview
def overview_section(ctx: ReportContext) -> list[Section]:
    """The runs' average SOCM ± interval beside the paper's 12 models, and what each run
    measured differently from the paper."""
    from socm.output.overview import overview_figure, overview_rows

    if not ctx.measure:
        return []
    labels = [ctx.labels[r] for r in ctx.measure]
    rows = overview_rows(ctx.measure, labels)
    fig = overview_figure(ctx.measure, labels)
    body = [
        f"<figure><img alt='average SOCM of the runs beside the paper' src='{png(fig)}'>"
        "<figcaption>Each run's average SOCM over its pairs with its confidence interval, "
        "beside the averages the paper published for its 12 models on 1,000 wiki1m "
        "sentences. A run measured on another corpus, sample, pairs, numerics, token policy "
        "or layer is drawn hollow: its number is not the paper's measurement, only "
        "beside it.</figcaption></figure>",
        "<table><tr><th class='l'>run</th><th>avg SOCM ± 95% interval</th>"
        "<th>the paper, same model</th><th class='l'>measured differently from the paper"
        "</th></tr>",
    ]
    for r in rows:
        value = fmt(r["avg_socm"], ".4f")
        if r["ci"]:
            value += f" ± {(r['ci'][1] - r['ci'][0]) / 2:.4f}"
        diffs = (
            "<ul>" + "".join(f"<li>{esc(d)}</li>" for d in r["differences"]) + "</ul>"
            if r["differences"]
            else "nothing the summary records"
        )
        body.append(
            f"<tr><td class='l'>{esc(r['label'])}</td><td class='num'>{value}</td>"
            f"<td class='num'>{fmt(r['paper_value'], '.4f')}</td><td class='l'>{diffs}</td>"
            "</tr>"
        )
    body.append("</table>")
    return [Section("overview", "Your runs beside the paper's models", body, "Beside the paper")]


# ---------------------------------------------------------------------------------- summary
def _delta_cell(row: dict) -> str:
    """Δ avg SOCM to the backbone with its paired interval (or why it has none)."""
    if row["delta_note"] == "the backbone":
        return "<td class='num'>backbone</td>"
    if row["delta_vs_backbone"] is None:
        return "<td class='num'>—</td>"
    text = f"{row['delta_vs_backbone']:+.5f}"
    lohi = row["delta_ci95"]
    if lohi:
        half = (lohi[1] - lohi[0]) / 2
        outside = not (lohi[0] <= 0 <= lohi[1])
        text += f" ± {half:.5f}" + (" *" if outside else "")
        return f"<td class='num'>{text}</td>"
    note = row["delta_note"] or "no paired interval"
    return f"<td class='num'>{text}<br><span class='muted wrap'>{esc(note)}</span></td>"


def _summary_row(ctx: ReportContext, r: Path, row: dict, s: dict) -> str:
    """One run's row of the summary table."""
    interval = ci(s, "avg_socm")
    half = "" if interval is None else f" ± {(interval[1] - interval[0]) / 2:.5f}"
    n_over = s.get("n_d_sigma_over_1")
    if n_over is None and r in ctx.paired:
        n_over = scan_pairs(r, ctx.limits).n_d_sigma_over_1
    share = (
        "—" if n_over is None or not s["n_pairs"] else f"{n_over:,} ({n_over / s['n_pairs']:.1%})"
    )
    return (
        f"<tr><td class='l run' title='{esc(str(row['model']))}'>{esc(ctx.labels[r])}</td>"
        f"<td>{row['n_texts']:,}</td><td class='pairs'>{esc(pairs_words(s))}</td>"
        f"<td class='num'>{fmt(row['avg_socm'])}{half}</td>{_delta_cell(row)}"
        f"<td>{fmt(row['avg_d_mu'])}</td><td>{fmt(row['avg_d_sigma'])}</td>"
        f"<td>{fmt(row['avg_normalized_spread'], '.4f')}</td>"
        f"<td>{fmt(row['share_spread_over_2'], '.1%')}</td><td>{share}</td>"
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


def _largest(ctx: ReportContext, r: Path, s: dict) -> str:
    """The largest SOCM the run scored, labelled as a sample's when the pairs were sampled."""
    if r not in ctx.paired or not scan_pairs(r, ctx.limits).n_pairs:
        return "—"
    value = fmt(float(scan_pairs(r, ctx.limits).top["socm"][0]), ".4f")
    return value + (" <span class='muted'>(sample max)</span>" if is_sample(s) else "")


def _quantiles(ctx: ReportContext) -> list[str]:
    """The table of each run's SOCM quantiles and largest SOCM scored."""
    body = [
        "<h3>SOCM quantiles</h3><table><tr><th class='l'>run</th><th class='l'>of</th>"
        "<th>q10</th><th>median</th><th>q90</th><th>q99</th><th>largest scored</th></tr>"
    ]
    for r, s in zip(ctx.measure, ctx.summaries, strict=True):
        q = s.get("socm_quantiles") or {}
        body.append(
            f"<tr><td class='l'>{esc(ctx.labels[r])}</td><td class='l'>"
            f"{esc(pairs_words(s))}</td>"
            + "".join(f"<td>{fmt(q.get(k), '.4f')}</td>" for k in ("0.1", "0.5", "0.9", "0.99"))
            + f"<td>{_largest(ctx, r, s)}</td></tr>"
        )
    body.append("</table>")
    if any(is_sample(s) for s in ctx.summaries):
        body.append(
            "<p class='muted'>A run of sampled pairs gives the quantiles and the largest SOCM "
            "of its sample: the largest of all its texts' pairs may be higher.</p>"
        )
    return body


def summary_section(ctx: ReportContext) -> list[Section]:
    """Averages (with intervals), Δ to the backbone with its paired interval, spreads,
    d_Σ > 1, SOCM quantiles."""
    if not ctx.measure:
        return []
    body = [
        "<div class='scroll'><table class='summary'><tr><th class='l'>run</th><th>texts</th>"
        "<th>pairs</th><th>avg SOCM ± CI</th><th>Δ vs backbone ± paired CI</th>"
        "<th>avg d<sub>μ</sub></th><th>avg d<sub>Σ</sub></th><th>avg spread</th>"
        "<th>texts with spread &gt; 2</th><th>pairs with d<sub>Σ</sub> &gt; 1</th>"
        "<th>numerics</th></tr>"
    ]
    for r, row, s in zip(ctx.measure, ctx.rows, ctx.summaries, strict=True):
        body.append(_summary_row(ctx, r, row, s))
    body.append("</table></div>")
    if ctx.backbone:
        body.append(
            f"<p class='muted'>Backbone: {esc(ctx.labels.get(ctx.backbone, str(ctx.backbone)))}"
            ". Δ ± its paired 95% interval (the per-pair differences of two runs on the same "
            "pairs, socm compare's interval); * the interval excludes 0.</p>"
        )
        for r, row in zip(ctx.measure, ctx.rows, strict=True):
            note = row["delta_note"]
            if note in ("another corpus", "other numerics", "other texts or pairs"):
                body.append(
                    f"<p class='muted'>No Δ for {esc(ctx.labels.get(r, str(r)))}: it measured "
                    f"{esc(note)} than the backbone, so the two averages do not compare like with "
                    "like.</p>"
                )
    body += _intervals(ctx)
    body += _quantiles(ctx)
    return [Section("summary", "Summary", body)]


# ---------------------------------------------------------------------------------- distribution
def distribution_section(ctx: ReportContext) -> list[Section]:
    """The SOCM histogram and empirical CDF of every run, with quantiles and mean ± CI."""
    from socm.output.distribution import socm_distribution

    if not ctx.measure:
        return []
    fig = socm_distribution(ctx.measure, ctx.limits, [ctx.labels[r] for r in ctx.measure])
    counts = "; ".join(
        f"{esc(ctx.labels[r])}: {esc(pairs_words(s))}"
        for r, s in zip(ctx.measure, ctx.summaries, strict=True)
    )
    body = [
        f"<figure><img alt='SOCM distribution' src='{png(fig)}'><figcaption>The SOCM of the "
        f"scored pairs ({counts}) on the same bins: histogram and empirical CDF; markers: "
        "the quantiles of summary.json (q10, median, q90, q99); vertical line: the average, "
        "band: its 95% confidence interval.</figcaption></figure>"
    ]
    return [Section("distribution", "SOCM distribution", body)]


# ---------------------------------------------------------------------------------- drivers
def _relation_words(r: float, n: int) -> str:
    """What a Pearson r between spread and mean SOCM says, in words no stronger than r."""
    if not math.isfinite(r):
        return "no relation measurable (fewer than 3 texts with a mean SOCM)"
    if r >= 0.95:
        how = "almost linear in its spread"
    elif r >= 0.7:
        how = "rises with its spread"
    elif r > -0.3:
        how = "follows its spread only loosely"
    else:
        how = "falls as its spread rises"
    return f"r = {r:.2f} over {n:,} texts: a text's mean SOCM is {how}"


def drivers_section(ctx: ReportContext) -> list[Section]:
    """What drives the average: each text's mean SOCM against its spread, with the measured
    r (only runs with per-text means)."""
    from socm.output.texts import spread_socm_figure

    runs = [r for r in ctx.measure if np.isfinite(ctx.tables[r].mean_socm).any()]
    if not runs:
        return []
    items = []
    for r in runs:
        t = ctx.tables[r]
        rel = spread_relation(t.spread, t.mean_socm)
        slope = (
            f" (least-squares slope {rel['slope']:.3f} per unit of spread)"
            if math.isfinite(rel["slope"])
            else ""
        )
        items.append(
            f"<li>{esc(ctx.labels[r])}: {esc(_relation_words(rel['r'], rel['n_texts']))}"
            f"{esc(slope)}.</li>"
        )
    fig = spread_socm_figure(runs, ctx.limits, [ctx.labels[r] for r in runs])
    body = [
        "<p>A run's average SOCM is the mean of its texts' mean SOCM over their pairs "
        "(exactly so when every pair of the texts is scored, approximately for sampled or "
        "listed pairs), so what sets a text's mean sets the average. Pearson r between a "
        "text's normalised spread tr Σ and its mean SOCM:</p><ul>",
        *items,
        "</ul>",
        f"<figure><img alt='mean SOCM against spread' src='{png(fig)}'><figcaption>Each "
        "text's mean SOCM against its normalised spread, with each run's least-squares line; "
        "dashed: tr Σ = 2, the bound behind d<sub>Σ</sub> ≤ 1.</figcaption></figure>",
    ]
    return [Section("drivers", "What drives the average", body)]


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
        "normalised spread exceeds 2; the axis covers every scored pair of the runs. Lines: "
        "the regions holding 50% and 90% of each run's pairs; markers: the runs' means. Top "
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


def _share_range(ctx: ReportContext) -> tuple[float, float]:
    """One colour range for every run's density: from a single pair of the run with the most
    pairs to the fullest cell of any run (as shares of each run's pairs)."""
    scans = [scan_pairs(r, ctx.limits) for r in ctx.paired]
    scans = [sc for sc in scans if sc.n_pairs]
    if not scans:
        return (1e-6, 1.0)
    lo = min(1.0 / sc.n_pairs for sc in scans)
    hi = max(float(sc.hist.max()) / sc.n_pairs for sc in scans)
    return lo, max(hi, 2 * lo)


def _pair_density(ctx: ReportContext, r: Path, share_range: tuple[float, float] | None) -> str:
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
    fig = scatter(r, limits=limits, top_k=TOP_K, max_per_text=MAX_PER_TEXT, share_range=share_range)
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
    s = read_summary(r)
    return overlay_figure(
        image,
        box,
        k,
        limits.d_mu,
        limits.d_sigma,
        cells,
        markers,
        alt=f"pair density of {ctx.labels[r]}",
        caption=f"{esc(ctx.labels[r])}: {esc(pairs_words(s))}; "
        f"{scan.n_d_sigma_over_1 / max(scan.n_pairs, 1):.1%} of them have "
        "d<sub>Σ</sub> &gt; 1.",
    )


def pairs_section(ctx: ReportContext) -> list[Section]:
    """Each run's pair density (hover: a cell's highest-SOCM pair, the marked top pairs) on
    one colour scale and one grid of bins and, for several runs, their overlay; fills
    ``ctx.tops``."""
    from socm.output.scatter import scatter

    if not ctx.paired:
        return []
    share_range = _share_range(ctx)
    body = [
        "<p class='muted'>Every scored pair, as a density (streamed from pairs.parquet), on "
        f"the same axes, the same {ctx.limits.bins or ''} × {ctx.limits.bins or ''} bins and "
        "one colour scale for every run: the share of the run's pairs in each cell, from a "
        "single pair of the largest run (orange, never white: the highest-SOCM pairs sit in "
        "such cells) to the fullest cell of any run. Hover the plot: each cell shows its "
        "highest-SOCM pair (both texts, ids, numbers); circles 1–10, on leader lines, are the "
        "pairs of the top-pairs table.</p>",
    ]
    body += [
        _pair_density(ctx, r, share_range if len(ctx.paired) > 1 else None) for r in ctx.paired
    ]
    if len(ctx.paired) > 1:
        fig = scatter(ctx.paired, limits=ctx.limits)
        body.append(
            f"<figure><img alt='all runs overlaid' src='{png(fig)}'><figcaption>The runs "
            "overlaid: regions holding 50% and 90% of each run's scored pairs, means, marginal "
            "densities.</figcaption></figure>"
        )
    return [Section("pairs", "Pairs in the (d<sub>μ</sub>, d<sub>Σ</sub>) plane", body)]


# ---------------------------------------------------------------------------------- top pairs
def _top_texts_words(ctx: ReportContext, r: Path) -> str:
    """The top pairs' texts against all of the run's: median spread and length."""
    t = ctx.tables[r]
    where = t.index()
    idx = sorted(
        {
            where[tid]
            for p, _ in ctx.tops[r]
            for tid in (p["text1_id"], p["text2_id"])
            if tid in where
        }
    )
    if not idx or not len(t):
        return ""
    spread = np.nanmedian(t.spread[idx]), np.nanmedian(t.spread)
    tokens = np.median(t.n_tokens[idx]), np.median(t.n_tokens)
    return (
        f"<p class='muted'>The {len(idx)} texts of these pairs: median spread "
        f"{spread[0]:.2f} and median {tokens[0]:.0f} tokens; all {len(t):,} texts of the "
        f"run: {spread[1]:.2f} and {tokens[1]:.0f} tokens.</p>"
    )


def _top_pairs_table(ctx: ReportContext, r: Path) -> list[str]:
    """Run ``r``'s top pairs: both texts, ids, tokens, spreads, cosine and the numbers."""
    k = ctx.run_index[r]
    t = ctx.tables[r]
    where = t.index()
    body = [
        f"<h3>{esc(ctx.labels[r])}</h3>",
        _top_texts_words(ctx, r),
        "<table class='pairs'><tr><th>#</th>"
        "<th class='l'>text 1</th><th class='l'>text 2</th><th class='l'>ids</th>"
        "<th>tokens</th><th>spread tr Σ</th><th>cosine</th><th>d<sub>μ</sub></th>"
        "<th>d<sub>Σ</sub></th><th>SOCM</th></tr>",
    ]

    def cell(idx: int | None, arr: np.ndarray, spec: str) -> str:
        return "—" if idx is None else fmt(arr[idx], spec)

    for n, (p, pidx) in enumerate(ctx.tops[r], 1):
        a, b = where.get(p["text1_id"]), where.get(p["text2_id"])
        body.append(
            f"<tr data-pair='{k}:{pidx}'><td class='num'>{n}</td>"
            + text_cell(t.text[a] if a is not None else "")
            + text_cell(t.text[b] if b is not None else "")
            + f"<td class='id'>{esc(p['text1_id'])}<br>{esc(p['text2_id'])}</td>"
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
        f"<p class='muted'>The {TOP_K} scored pairs with the highest SOCM of each run, each "
        f"text in at most {MAX_PER_TEXT} of them (so that one long text does not fill the "
        "table); a run of sampled pairs shows its sample's. Cosine = 1 − 2d<sub>μ</sub> of "
        "the mean-pooled embeddings. Long texts are cut to four lines: hover a row for both "
        "whole texts, and to see the pair in the plot.</p>"
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
    """Per-layer curves of the runs that have them (log axes where a panel spans more than
    a factor :data:`socm.output.layers.LOG_SPAN`; also by relative depth when the runs'
    models differ in depth), naming the runs that lack a quantity."""
    from socm.output.layers import LOG_SPAN, layer_depth, layers_figure, missing_metrics

    layered = [
        r
        for r in ctx.measure
        if (r / "layers.parquet").is_file() or (r / "mechanism.parquet").is_file()
    ]
    if not layered:
        return []
    fig = layers_figure(layered, log="auto")
    body = [
        f"<figure><img alt='layers' src='{png(fig)}'><figcaption>Per-text quantities: median "
        "over texts with interquartile band; averages over pairs: with their 95% confidence "
        "interval as a band (layer results written before socm layers recorded intervals "
        "have none). A panel whose values span more than a factor "
        f"{LOG_SPAN:g} has a log scale.</figcaption></figure>"
    ]
    without = [r for r in ctx.measure if r not in layered]
    lack = missing_metrics(layered)
    notes = []
    if without:
        notes.append(
            "no socm layers or socm mechanism results: "
            + "; ".join(esc(ctx.labels[r]) for r in without)
        )
    for title, runs in lack.items():
        notes.append(
            f"{esc(title)} not measured for " + "; ".join(esc(ctx.labels[r]) for r in runs)
        )
    if notes:
        body.append("<p class='note'>" + ". ".join(notes) + ".</p>")
    depths = {layer_depth(r) for r in layered}
    if len(depths) > 1:
        fig = layers_figure(layered, relative=True, log="auto")
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


# ---------------------------------------------------------------------------------- settings
def settings_section(ctx: ReportContext) -> list[Section]:
    """Every run's settings and versions in one table, runs as columns, the rows where they
    differ highlighted (always present)."""
    columns: dict[str, dict] = {}
    for r, s in zip(ctx.measure, ctx.summaries, strict=True):
        settings = {k: s.get(k) for k in SETTINGS if k in s or not k.startswith("ci_")}
        settings.update({f"version {p}": ver for p, ver in s.get("versions", {}).items()})
        columns[ctx.labels[r]] = settings
    for r in ctx.mines:
        ms = read_mine_summary(r)
        flat = {k: v for k, v in ms.items() if k not in MINE_HIDDEN}
        versions = ms.get("versions") if isinstance(ms.get("versions"), dict) else {}
        flat.update({f"version {p}": v for p, v in versions.items()})
        columns[ctx.labels[r]] = flat
    body = [
        "<p class='muted'>One column per run; highlighted: the settings in which the runs "
        "differ. Folders: "
        + "; ".join(f"{esc(ctx.labels[r])}: <code>{esc(str(r))}</code>" for r in ctx.runs)
        + ".</p>",
        *settings_table(columns),
    ]
    return [Section("settings", "Settings and versions", body)]


BUILDERS: tuple[Callable[[ReportContext], list[Section]], ...] = (
    overview_section,
    summary_section,
    distribution_section,
    drivers_section,
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
