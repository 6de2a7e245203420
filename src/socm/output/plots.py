r"""Figures (the "plots/report" stage): matplotlib, PNG, SVG or PDF, one style for all.

Colour is never the only carrier of meaning: SOCM is drawn with ``viridis`` (perceptually
uniform, colour-blind safe, monotone in greyscale), pair counts with ``magma_r``, runs with
Okabe–Ito colours *and* markers or line styles (:mod:`socm.output.style`). Dense grids are
rasterised in vector output. Figures of several runs share their axes and colour limits
(:class:`socm.output.data.Limits`).

* :func:`heatmap` — SOCM :math:`= (1 - d_\mu)\,d_\Sigma` over :math:`(d_\mu, d_\Sigma)`, the
  :math:`d_\Sigma` range covering the data (values above 1 are real), SOCM contours, a cosine
  axis (:math:`\cos = 1 - 2 d_\mu`), optionally runs' pair densities and means on top.
* :func:`scatter` — every pair of a run as a 2-D histogram (streamed from ``pairs.parquet``),
  SOCM contours, the line :math:`d_\Sigma = 1`, the highest-SOCM pairs numbered, marginal
  densities; several runs overlaid as density contours.
* :func:`texts_figure` — per text: normalised spread ranked, against token count, its
  histogram with the bound 2, and each text's mean SOCM.
* :func:`pair_figure` — two texts' unit-mean tokens projected to 2-D (with the share of the
  squared norm the plane holds), means, 75%-mass ellipses, the tokens farthest from their
  mean labelled without collisions, and each text's sorted covariance eigenvalues.
* :func:`layers_figure` — per-layer curves (median, interquartile band; average SOCM per layer
  when computed), by layer or relative depth, one style per run.
* :func:`correlation_figure` — average SOCM vs downstream score: reference models (the paper's
  12), backbone → fine-tuned arrows, and the user's runs marked as measured here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from socm.core.metrics import socm_from_parts
from socm.core.stats import SPREAD_BOUND
from socm.errors import SocmError
from socm.measure.rundir import pairs_dataset, read_summary, run_file
from socm.output.data import (
    Limits,
    read_texts,
    scan_pairs,
    shared_limits,
    socm_surface,
    spread_share,
    top_pairs,
)
from socm.output.style import (
    CONTOUR_COLOR,
    DENSITY_CMAP,
    LINESTYLES,
    MARKERS,
    SOCM_CMAP,
    STYLE,
    TEXT_COLORS,
    figure_bytes,
    hdr_levels,
    okabe,
    place_labels,
    pyplot,
    run_label,
    run_labels,
    save,
    styled,
)

__all__ = [
    "ELLIPSE_K",
    "LAYER_DEFINITIONS",
    "STYLE",
    "correlation_figure",
    "covariance_eigenvalues",
    "figure_bytes",
    "heatmap",
    "layer_depth",
    "layers_figure",
    "pair_figure",
    "pyplot",
    "read_pairs",
    "save",
    "scatter",
    "socm_grid",
    "texts_figure",
]

CMAP = SOCM_CMAP
ELLIPSE_K = math.sqrt(-2 * math.log(0.25))
"""Mahalanobis radius of the 75%-mass ellipse of a 2-D Gaussian: P(r² ≤ k²) = 1 − e^{−k²/2}."""
SOCM_LEVELS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
"""SOCM contour levels (those inside the plotted range are drawn)."""
COSINE = r"cosine $= 1 - 2\,d_\mu$"
X_LABEL = r"$d_\mu$ (distance of the mean-pooled embeddings)"
Y_LABEL = r"$d_\Sigma$ (Bures–Wasserstein distance of the token covariances)"


def _name(model: Any) -> str:
    return str(model).rstrip("/").split("/")[-1]


def _ci_text(summary: dict, key: str = "avg_socm") -> str:
    """`` ± h (95% CI)`` from ``<key>_ci95`` when the summary has it, else ``""``."""
    ci = summary.get(f"{key}_ci95")
    if not isinstance(ci, list | tuple) or len(ci) != 2 or None in ci:
        return ""
    try:
        half = (float(ci[1]) - float(ci[0])) / 2
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(half):
        return ""
    level = summary.get("ci_level") or 0.95
    return f" ± {half:.4f} ({float(level):.0%} CI)"


def _cosine_axis(ax) -> Any:
    """A secondary x-axis on top showing cosine = 1 − 2 d_μ."""
    sec = ax.secondary_xaxis("top", functions=(lambda d: 1 - 2 * d, lambda c: (1 - c) / 2))
    sec.set_xlabel(COSINE, fontsize=9)
    sec.tick_params(labelsize=8)
    return sec


def _socm_contours(
    ax,
    limits: Limits,
    color: str | None = None,
    fontsize: float = 7.5,
    label_x: float = 0.62,
    vmax: float | None = None,
) -> None:
    """SOCM contour lines over the plotted range, labelled near ``label_x`` (share of the
    d_μ range); ``color=None`` picks white or black against the viridis colour (``vmax``)."""
    dmu, dsig, val = socm_surface(limits, 161)
    top = float(val.max())
    levels = [lv for lv in SOCM_LEVELS if lv < top * 0.98]
    if not levels:
        return
    if color is None:  # on viridis: white over the dark half, black over the light half
        mid = 0.5 * (vmax or top)
        colors = ["white" if lv < mid else "black" for lv in levels]
    else:
        colors = [color] * len(levels)
    cs = ax.contour(dmu, dsig, val, levels=levels, colors=colors, linewidths=0.7, alpha=0.9)
    spots = []
    for lv in levels:
        x = label_x * limits.d_mu
        if lv / (1 - x) > 0.75 * limits.d_sigma:  # below the corner notes
            x = 1 - lv / (0.75 * limits.d_sigma)
        if 0 <= x <= limits.d_mu:
            spots.append((x, lv / (1 - x)))
    ax.clabel(cs, fmt=lambda v: f"SOCM {v:g}", fontsize=fontsize, inline_spacing=2, manual=spots)


def _d_sigma_line(ax, limits: Limits, text: bool = True) -> None:
    ax.axhline(1.0, color="0.25", lw=0.9, ls=(0, (4, 3)), zorder=3)
    if text:
        ax.text(
            limits.d_mu * 0.01,
            1.0,
            r"$d_\Sigma = 1$ (bound when both spreads $\leq 2$)",
            ha="left",
            va="bottom",
            fontsize=7.5,
            color="0.2",
            zorder=6,
            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "alpha": 0.7, "lw": 0},
        )


# --------------------------------------------------------------------------- 1. heatmap
def socm_grid(n: int = 201) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""(d_μ grid, d_Σ grid, SOCM) on the unit square (SOCM from ``socm_from_parts``).

    Parameters
    ----------
    n : int
        Grid points per axis.

    Returns
    -------
    tuple of numpy.ndarray
        Three ``(n, n)`` arrays: rows follow :math:`d_\Sigma`, columns :math:`d_\mu`.

    Examples
    --------
    >>> dmu, dsig, val = socm_grid(3)
    >>> float(val[2, 0]), float(val[2, 2])
    (1.0, 0.0)
    """
    dmu, dsig = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n))
    return dmu, dsig, socm_from_parts(dmu, dsig)


def _density_contours(ax, scan, color: str, ls: Any, fill: bool = True) -> None:
    """The 50% and 90% highest-density regions of a run's pairs, lightly smoothed."""
    from scipy.ndimage import gaussian_filter

    h = gaussian_filter(scan.hist.astype(float), 1.0)
    levels = hdr_levels(h, (0.9, 0.5))
    if len(levels) < 1 or h.max() <= 0:
        return
    xc = (scan.mu_edges[:-1] + scan.mu_edges[1:]) / 2
    yc = (scan.sigma_edges[:-1] + scan.sigma_edges[1:]) / 2
    if fill:
        ax.contourf(xc, yc, h, levels=[levels[0], h.max() * 1.01], colors=[color], alpha=0.12)
    ax.contour(
        xc,
        yc,
        h,
        levels=levels,
        colors=[color],
        linewidths=[1.0, 1.6][: len(levels)],
        linestyles=[ls],
    )


@styled
def heatmap(
    overlay: list[str | Path] | None = None,
    limits: Limits | None = None,
):
    r"""SOCM over :math:`(d_\mu, d_\Sigma)`, corners explained; optionally runs on top.

    Parameters
    ----------
    overlay : list of str or Path, optional
        Measure runs whose pairs are drawn on top: the regions holding 50% and 90% of each
        run's pairs and its mean :math:`(\bar d_\mu, \bar d_\Sigma)`.
    limits : Limits, optional
        Axis and colour limits (None: :math:`d_\Sigma` up to 1.5, or what the runs need).

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    from matplotlib.lines import Line2D

    plt = pyplot()
    overlay = [Path(r) for r in overlay or []]
    if limits is None:
        limits = shared_limits(overlay) if overlay else Limits(1.0, 1.5, 1.5)
        limits = Limits(1.0, max(limits.d_sigma, 1.5), max(limits.socm, limits.d_sigma, 1.5))
    limits = Limits(1.0, max(limits.d_sigma, 1.5), limits.socm)
    fig, ax = plt.subplots(figsize=(6.6, 5.6))
    dmu, dsig, val = socm_surface(limits, 301)
    im = ax.pcolormesh(
        dmu, dsig, val, cmap=SOCM_CMAP, vmin=0, vmax=limits.socm, shading="auto", rasterized=True
    )
    _socm_contours(ax, limits, vmax=limits.socm)
    _d_sigma_line(ax, limits)
    box = {"boxstyle": "round,pad=0.3", "fc": "white", "alpha": 0.8, "lw": 0}
    corners = [
        (0.02, 0.02, "similar means, similar covariances:\nSOCM ≈ 0", "left", "bottom"),
        (0.98, 0.02, "different means, similar covariances:\nSOCM ≈ 0", "right", "bottom"),
        (0.02, 0.98, "similar means, different covariances:\ncollapse (SOCM high)", "left", "top"),
        (0.98, 0.98, "different means,\ndifferent covariances:\nSOCM ≈ 0", "right", "top"),
    ]
    for x, y, text, ha, va in corners:
        ax.text(x, y, text, ha=ha, va=va, fontsize=7.5, bbox=box, transform=ax.transAxes, zorder=7)
    handles = []
    names = run_labels(overlay)
    for k, run in enumerate(overlay):
        scan = scan_pairs(run, limits)
        color, ls = _overlay_color(k, len(overlay)), LINESTYLES[k % len(LINESTYLES)]
        _density_contours(ax, scan, color, ls, fill=False)
        ax.plot(
            [scan.mean("d_mu")],
            [scan.mean("d_sigma")],
            marker=MARKERS[k % len(MARKERS)],
            ms=9,
            color=color,
            mec="black",
            mew=0.8,
            zorder=8,
        )
        handles.append(
            Line2D(
                [],
                [],
                color=color,
                ls=ls,
                marker=MARKERS[k % len(MARKERS)],
                mec="black",
                label=names[k],
            )
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, limits.d_sigma)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    _cosine_axis(ax)
    ax.set_title(r"SOCM $= (1 - d_\mu)\, d_\Sigma$: what mean pooling loses", pad=28)
    fig.colorbar(
        im,
        ax=ax,
        label="SOCM (dark: none, light: collapse)",
        extend="max" if float(val.max()) > limits.socm else "neither",
    )
    if handles:
        ax.legend(
            handles=handles,
            frameon=True,
            facecolor="0.78",
            edgecolor="none",
            loc="upper center",
            bbox_to_anchor=(0.5, -0.13),
            fontsize=8,
            title="lines: 50% / 90% of a run's pairs; marker: its mean",
            title_fontsize=8,
        )
    return fig


def _overlay_color(k: int, n: int) -> str:
    """Run colours for overlays on viridis: the Okabe–Ito hues that stand out on it."""
    picks = ["#D55E00", "#FFFFFF", "#CC79A7", "#000000", "#E69F00", "#56B4E9"]
    # white and black read on viridis; the legend sits on grey so that white shows
    return picks[k % len(picks)]


# --------------------------------------------------------------------------- 2. scatter
def read_pairs(run: Path, max_points: int = 20_000, seed: int = 0) -> tuple[dict, int]:
    """A run's pairs (d_mu, d_sigma, socm), subsampled reproducibly; returns (columns, total).

    Kept for callers that want points; the figures stream the whole file instead
    (:func:`socm.output.data.scan_pairs`).
    """
    pairs = pairs_dataset(run_file(run, "pairs.parquet"))
    table = pairs.to_table(columns=["d_mu", "d_sigma", "socm"])
    cols = {k: table.column(k).to_numpy() for k in ("d_mu", "d_sigma", "socm")}
    total = len(cols["socm"])
    if total > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(total, max_points, replace=False))
        cols = {k: v[idx] for k, v in cols.items()}
    return cols, total


def _marginals(top, right, scans: list, colors: list[str], styles: list) -> None:
    """Marginal densities (per unit of d_μ and d_Σ) of each scan."""
    for scan, color, ls in zip(scans, colors, styles, strict=True):
        n = max(scan.n_pairs, 1)
        wx = np.diff(scan.mu_edges)
        wy = np.diff(scan.sigma_edges)
        dx = scan.mu_hist / (n * wx)
        dy = scan.sigma_hist / (n * wy)
        if len(scans) == 1:
            top.stairs(dx, scan.mu_edges, fill=True, color="0.55", alpha=0.8)
            right.stairs(
                dy, scan.sigma_edges, fill=True, color="0.55", alpha=0.8, orientation="horizontal"
            )
        else:
            top.stairs(dx, scan.mu_edges, color=color, ls=ls, lw=1.3)
            right.stairs(dy, scan.sigma_edges, color=color, ls=ls, lw=1.3, orientation="horizontal")
    top.set_ylabel("density", fontsize=8)
    right.set_xlabel("density", fontsize=8)
    right.axhline(1.0, color="0.25", lw=0.9, ls=(0, (4, 3)))
    right.text(
        0.97,
        1.0,
        r"$d_\Sigma = 1$",
        ha="right",
        va="bottom",
        fontsize=7.5,
        color="0.2",
        transform=right.get_yaxis_transform(),
    )


@styled
def scatter(
    run: str | Path | list[str | Path],
    max_points: int | None = None,
    seed: int = 0,
    limits: Limits | None = None,
    top_k: int = 10,
    max_per_text: int = 2,
):
    r"""Every pair of one or more runs in the :math:`(d_\mu, d_\Sigma)` plane.

    One run: a 2-D histogram of all its pairs (pairs per cell, log scale), SOCM contours,
    the line :math:`d_\Sigma = 1`, its ``top_k`` highest-SOCM pairs numbered (each text in
    at most ``max_per_text`` of them, the numbering of the report's table) and marginal
    densities. Several runs: each run's 50% and 90% highest-density regions and its mean, on
    the same axes, with marginal densities. ``pairs.parquet`` is streamed in batches.

    Parameters
    ----------
    run : str, Path or list of them
        Measure run folder(s).
    max_points : int, optional
        Ignored (kept for compatibility: the figure shows every pair as a density).
    seed : int
        Ignored (no subsample is drawn).
    limits : Limits, optional
        Axis limits (None: covering every pair of the runs).
    top_k : int
        Pairs numbered (one run).
    max_per_text : int
        At most this many numbered pairs per text.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Raises
    ------
    SocmError
        A missing run folder, ``summary.json`` or ``pairs.parquet``.
    """
    from matplotlib.colors import LogNorm
    from matplotlib.lines import Line2D

    plt = pyplot()
    runs = [Path(r) for r in (run if isinstance(run, list | tuple) else [run])]
    if not runs:
        raise SocmError("scatter needs at least one run folder")
    summaries = [read_summary(r) for r in runs]
    for r in runs:
        run_file(r, "pairs.parquet")
    limits = limits or shared_limits(runs)
    scans = [scan_pairs(r, limits) for r in runs]
    single = len(runs) == 1
    fig = plt.figure(figsize=(7.4, 6.9) if single else (6.6, 6.9))
    grid = fig.add_gridspec(
        2,
        3,
        width_ratios=(4, 1, 0.18 if single else 0.001),
        height_ratios=(1.1, 4),
        wspace=0.1,
        hspace=0.06,
        left=0.11,
        right=0.9 if single else 0.97,
        bottom=0.13,
        top=0.86,
    )
    ax = fig.add_subplot(grid[1, 0], label="pairs")
    top = fig.add_subplot(grid[0, 0], sharex=ax)
    right = fig.add_subplot(grid[1, 1], sharey=ax)
    cax = fig.add_subplot(grid[1, 2])
    colors = [okabe(k) for k in range(len(runs))]
    styles = [LINESTYLES[k % len(LINESTYLES)] for k in range(len(runs))]
    if len(runs) == 1:
        scan, s = scans[0], summaries[0]
        h = np.ma.masked_equal(scan.hist, 0)
        mesh = ax.pcolormesh(
            scan.mu_edges,
            scan.sigma_edges,
            h,
            cmap=DENSITY_CMAP,
            norm=LogNorm(vmin=1, vmax=max(2, int(scan.hist.max()))),
            rasterized=True,
        )
        fig.colorbar(mesh, cax=cax, label="pairs per cell (log scale)")
        _socm_contours(ax, limits, color=CONTOUR_COLOR, label_x=0.1)
        picks = top_pairs(runs[0], top_k, max_per_text, limits) if top_k else []
        if picks:
            xs = [p["d_mu"] for p in picks]
            ys = [p["d_sigma"] for p in picks]
            ax.scatter(xs, ys, s=46, facecolor="white", edgecolor="#009E73", lw=1.6, zorder=8)
            place_labels(
                ax,
                xs,
                ys,
                [str(k) for k in range(1, len(picks) + 1)],
                colors="black",
                fontsize=7.5,
            )
        title = (
            f"{run_label(runs[0])}\n{s['n_texts']:,} texts, all {scan.n_pairs:,} pairs: "
            f"avg SOCM {s['avg_socm']:.4f}{_ci_text(s)}"
        )
        cell = (
            f"cell {np.diff(scan.mu_edges)[0]:.2g} × {np.diff(scan.sigma_edges)[0]:.2g}; "
            f"circles 1–{len(picks)}: the highest-SOCM pairs (≤ {max_per_text} per text); "
            if picks
            else ""
        )
        note = (
            f"{cell}{scan.n_d_sigma_over_1 / max(scan.n_pairs, 1):.1%} of pairs have "
            rf"$d_\Sigma > 1$ (above the dashed line, possible only when a text's spread "
            f"exceeds 2); numerics: {s['numerics']}"
        )
    else:
        cax.set_visible(False)
        _socm_contours(ax, limits, color="0.55", label_x=0.1)
        handles = []
        for k, scan in enumerate(scans):
            _density_contours(ax, scan, colors[k], styles[k])
            ax.plot(
                [scan.mean("d_mu")],
                [scan.mean("d_sigma")],
                marker=MARKERS[k % len(MARKERS)],
                ms=8,
                color=colors[k],
                mec="black",
                mew=0.7,
                zorder=8,
                ls="none",
            )
            handles.append(
                Line2D(
                    [],
                    [],
                    color=colors[k],
                    ls=styles[k],
                    marker=MARKERS[k % len(MARKERS)],
                    mec="black",
                    label=f"{run_labels(runs)[k]}: avg SOCM "
                    f"{summaries[k]['avg_socm']:.4f}{_ci_text(summaries[k])}",
                )
            )
        fig.legend(
            handles=handles,
            loc="lower center",
            bbox_to_anchor=(0.5, -0.02 - 0.035 * len(runs)),
            fontsize=8,
            ncols=1,
        )
        title = f"{len(runs)} runs, all pairs of each"
        note = (
            "lines: the regions holding 50% (thick) and 90% (thin) of a run's pairs; "
            "marker: its mean; grey: SOCM contours"
        )
    _d_sigma_line(ax, limits, text=False)
    ax.set_xlim(0, limits.d_mu)
    ax.set_ylim(0, limits.d_sigma)
    _marginals(top, right, scans, colors, styles)
    top.tick_params(labelbottom=False)
    right.tick_params(labelleft=False)
    _cosine_axis(top)
    ax.set_xlabel(r"$d_\mu$")
    ax.set_ylabel(r"$d_\Sigma$")
    fig.suptitle(title, x=0.11, ha="left", fontsize=10, y=0.995)
    import textwrap

    fig.text(0.11, 0.005, textwrap.fill(note, 125), fontsize=7.5, color="0.25", va="bottom")
    return fig


# --------------------------------------------------------------------------- 3. texts
@styled
def texts_figure(
    runs: str | Path | list[str | Path],
    limits: Limits | None = None,
    socm_range: tuple[float, float] | None = None,
    spread_max: float | None = None,
):
    """Per-text view: normalised spread ranked, vs token count, its histogram, mean SOCM.

    Parameters
    ----------
    runs : str, Path or list of them
        Measure run folder(s); one run colours texts by their mean SOCM, several runs are
        told apart by colour and marker.
    limits : Limits, optional
        Passed on to the pair scan when per-text means are computed from ``pairs.parquet``.
    socm_range : (float, float), optional
        Colour limits of the per-text mean SOCM (None: this run's range).
    spread_max : float, optional
        Upper limit of the spread axes (None: the runs' largest spread), so that several
        figures share their axes.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    plt = pyplot()
    runs = [Path(r) for r in (runs if isinstance(runs, list | tuple) else [runs])]
    tables = [read_texts(r, limits) for r in runs]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.6), layout="constrained")
    (a_rank, a_tok), (a_hist, a_socm) = axes
    single = len(runs) == 1
    sc = None
    if single:
        t = tables[0]
        finite = t.mean_socm[np.isfinite(t.mean_socm)]
        lo, hi = socm_range or (
            (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
        )
        if hi <= lo:
            hi = lo + 1e-6
    all_spread = np.concatenate([t.spread[np.isfinite(t.spread)] for t in tables])
    smax = spread_max or max(float(all_spread.max()) if len(all_spread) else 2.5, 2.2) * 1.05
    bins = np.linspace(0, smax, 40)
    names = run_labels(runs)
    for k, t in enumerate(tables):
        color, marker = okabe(k), MARKERS[k % len(MARKERS)]
        order = np.argsort(-t.spread, kind="stable")
        rank = np.arange(1, len(t) + 1)
        xr = rank if single else rank / len(t)
        has_socm = np.isfinite(t.mean_socm).any()
        kw: dict = {"s": 14, "edgecolor": "none"}
        if single and has_socm:
            kw.update(c=t.mean_socm[order], cmap=SOCM_CMAP, vmin=lo, vmax=hi)
        else:
            kw.update(color=color, marker=marker, alpha=0.75)
        label = names[k]
        sc_rank = a_rank.scatter(xr, t.spread[order], label=label, **kw)
        kw2 = dict(kw)
        if single and has_socm:
            kw2["c"] = t.mean_socm
        a_tok.scatter(t.n_tokens, t.spread, **kw2)
        if single:
            sc = sc_rank if has_socm else None
        a_hist.hist(
            t.spread[np.isfinite(t.spread)],
            bins=bins,
            density=True,
            histtype="stepfilled" if single else "step",
            color="0.55" if single else color,
            lw=1.4,
            ls=LINESTYLES[k % len(LINESTYLES)],
            label=label,
        )
        if has_socm:
            a_socm.scatter(
                t.spread,
                t.mean_socm,
                s=14,
                color="0.2" if single else color,
                marker="o" if single else marker,
                alpha=0.7,
                edgecolor="none",
            )
    for ax in (a_rank, a_tok):
        ax.axhline(SPREAD_BOUND, color="0.25", lw=0.9, ls=(0, (4, 3)))
        ax.set_ylabel(r"normalised spread tr $\Sigma$")
        ax.set_ylim(0, smax)
    a_hist.set_xlim(0, smax)
    a_socm.set_xlim(0, smax)
    if single and len(tables[0]):  # name the three widest-spread texts
        t = tables[0]
        far = np.argsort(-np.nan_to_num(t.spread, nan=-np.inf), kind="stable")[:3]
        place_labels(
            a_tok,
            [float(t.n_tokens[i]) for i in far],
            [float(t.spread[i]) for i in far],
            [t.ids[i] if len(t.ids[i]) <= 28 else t.ids[i][:27] + "…" for i in far],
            fontsize=7,
        )
    a_rank.set_xlabel("text rank by spread (1 = largest)" if single else "rank / texts")
    a_rank.set_title("Texts ranked by normalised spread", loc="left")
    a_tok.set_xlabel("tokens measured")
    a_tok.set_title("Spread vs text length", loc="left")
    if any(t.n_tokens.max(initial=0) > 60 for t in tables):
        from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

        a_tok.set_xscale("log")
        a_tok.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        a_tok.xaxis.set_major_formatter(ScalarFormatter())
        a_tok.xaxis.set_minor_formatter(NullFormatter())
    a_hist.axvline(SPREAD_BOUND, color="0.25", lw=0.9, ls=(0, (4, 3)))
    shares = " / ".join(f"{spread_share(t.spread):.0%}" for t in tables)
    a_hist.text(
        0.98,
        0.97,
        f"dashed: tr Σ = 2\ntexts above 2: {shares}",
        va="top",
        ha="right",
        fontsize=8,
        color="0.2",
        transform=a_hist.transAxes,
    )
    a_hist.set_xlabel(r"normalised spread tr $\Sigma$")
    a_hist.set_ylabel("density")
    a_hist.set_title("Spread histogram (2 = the bound behind $d_\\Sigma \\leq 1$)", loc="left")
    a_socm.axvline(SPREAD_BOUND, color="0.25", lw=0.9, ls=(0, (4, 3)))
    a_socm.set_xlabel(r"normalised spread tr $\Sigma$")
    a_socm.set_ylabel("mean SOCM over the text's pairs")
    a_socm.set_title("Each text's mean SOCM", loc="left")
    if not any(np.isfinite(t.mean_socm).any() for t in tables):
        a_socm.text(
            0.5,
            0.5,
            "no per-text SOCM\n(run without pairs.parquet)",
            ha="center",
            va="center",
            transform=a_socm.transAxes,
            color="0.4",
        )
    if sc is not None:
        fig.colorbar(sc, ax=axes[0].tolist(), label="text's mean SOCM", shrink=0.9)
    if not single:
        fig.legend(
            *a_hist.get_legend_handles_labels(), loc="outside lower center", fontsize=8, ncols=1
        )
    s = read_summary(runs[0]) if single else None
    fig.suptitle(
        (
            f"{run_label(runs[0])}: {len(tables[0]):,} texts, {shares} with spread > 2"
            if s
            else f"Per-text view of {len(runs)} runs"
        ),
        x=0.06,
        ha="left",
        fontsize=10,
    )
    return fig


# --------------------------------------------------------------------------- 4. pair
def _project(tokens: list[np.ndarray], means: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Top-2 right singular vectors of the stacked tokens and means (truncated SVD, uncentred)
    and the share of the stack's squared norm they hold."""
    stack = np.vstack([*tokens, *[m[None] for m in means]])
    _, s, vt = np.linalg.svd(stack, full_matrices=False)
    share = float((s[:2] ** 2).sum() / (s**2).sum()) if s.size else math.nan
    return vt[:2].T, share


def _ellipse(ax, pts: np.ndarray, color: str, ls: str = "-") -> None:
    from matplotlib.patches import Ellipse

    if len(pts) < 2:
        return
    cov = np.cov(pts.T, bias=True)
    w, v = np.linalg.eigh(cov)
    w = np.clip(w, 0, None)
    angle = math.degrees(math.atan2(v[1, 1], v[0, 1]))
    ax.add_patch(
        Ellipse(
            pts.mean(0),
            2 * ELLIPSE_K * math.sqrt(w[1]),
            2 * ELLIPSE_K * math.sqrt(w[0]),
            angle=angle,
            fc=color,
            alpha=0.12,
            ec=color,
            lw=1.5,
            ls=ls,
        )
    )
    ax.add_patch(
        Ellipse(
            pts.mean(0),
            2 * ELLIPSE_K * math.sqrt(w[1]),
            2 * ELLIPSE_K * math.sqrt(w[0]),
            angle=angle,
            fc="none",
            ec=color,
            lw=1.5,
            ls=ls,
        )
    )


def covariance_eigenvalues(tokens: np.ndarray) -> np.ndarray:
    r"""Eigenvalues of a text's token covariance :math:`\Sigma`, largest first (nonzero ones).

    Parameters
    ----------
    tokens : numpy.ndarray, shape (n, D)
        Unit-mean token embeddings :math:`\tilde X`.

    Returns
    -------
    numpy.ndarray
        At most :math:`n - 1` eigenvalues; they sum to the normalised spread
        :math:`\operatorname{tr}\Sigma`.

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    >>> covariance_eigenvalues(x).round(3).tolist()
    [2.0, 0.5]
    """
    x = np.asarray(tokens, dtype=np.float64)
    c = x - x.mean(0)
    s = np.linalg.svd(c, compute_uv=False)
    ev = s**2 / len(x)
    return ev[ev > ev.max(initial=0) * 1e-12] if ev.size else ev


def _farthest(tok: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` tokens farthest from their text's mean (all when fewer)."""
    d = np.linalg.norm(tok - tok.mean(0), axis=1)
    return np.argsort(-d, kind="stable")[: min(k, len(tok))]


@styled
def pair_figure(
    panels: list[dict],
    label_k: int = 8,
    percentiles: list[dict | None] | None = None,
):
    """One column per model: the tokens in 2-D above, the covariance spectra below.

    Parameters
    ----------
    panels : list of dict
        :func:`socm.analyses.pair.pair_panel` results: ``model``, ``texts``, ``tokens``
        (unit-mean arrays), ``labels`` (token strings), ``d_mu``, ``d_sigma``, ``socm`` and
        optionally ``normalized_spread``.
    label_k : int
        Label at most this many tokens per text: those farthest from their text's mean
        (placed so that labels do not collide).
    percentiles : list of dict or None, optional
        Per panel, :func:`socm.output.data.socm_percentile` of the pair within a run (with
        ``run`` naming it), or None.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    plt = pyplot()
    n = len(panels)
    fig, axes = plt.subplots(
        2, n, figsize=(6.4 * n, 9.4), squeeze=False, gridspec_kw={"height_ratios": (3, 1.5)}
    )
    percentiles = percentiles or [None] * n
    text_markers = ("o", "^")
    for col, (p, pct) in enumerate(zip(panels, percentiles, strict=True)):
        ax, ax_ev = axes[0, col], axes[1, col]
        means = [t.mean(0) for t in p["tokens"]]
        basis, share = _project(p["tokens"], means)
        spreads = p.get("normalized_spread") or [
            float(covariance_eigenvalues(t).sum()) for t in p["tokens"]
        ]
        projected = []
        for k, (tok, mean, color) in enumerate(zip(p["tokens"], means, TEXT_COLORS, strict=True)):
            pts = tok @ basis
            projected.append(pts)
            ax.scatter(
                pts[:, 0],
                pts[:, 1],
                s=22,
                color=color,
                alpha=0.75,
                marker=text_markers[k],
                label=f"text {'AB'[k]}: {len(tok)} tokens, spread tr Σ = {spreads[k]:.3f}",
            )
            m = mean @ basis
            ax.scatter([m[0]], [m[1]], marker="*", s=340, color=color, ec="k", lw=0.8, zorder=5)
            _ellipse(ax, pts, color, "-" if k == 0 else "--")
        ax.set_aspect("equal", adjustable="datalim")
        title = (
            f"{_name(p['model'])}\n$d_\\mu$ = {p['d_mu']:.4f} (cosine {1 - 2 * p['d_mu']:.3f}), "
            f"$d_\\Sigma$ = {p['d_sigma']:.4f}, SOCM = {p['socm']:.4f}"
        )
        if pct:
            import textwrap

            title += "\n" + textwrap.fill(
                f"SOCM above {pct['percentile']:.1f}% of the {pct['n_pairs']:,} pairs of "
                f"{pct.get('label', 'the run')}",
                62,
            )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("SVD component 1")
        ax.set_ylabel("SVD component 2")
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.1),
            fontsize=8,
            ncols=1,
            title=f"★ mean, ellipse: 75% of tokens; the plane holds {share:.0%} of the "
            "squared norm of tokens and means",
            title_fontsize=7.5,
        )
        # spectra
        for k, tok in enumerate(p["tokens"]):
            ev = covariance_eigenvalues(tok)
            ax_ev.plot(
                np.arange(1, len(ev) + 1),
                ev,
                marker=text_markers[k],
                ms=3.5,
                color=TEXT_COLORS[k],
                ls="-" if k == 0 else "--",
                label=f"text {'AB'[k]} (sum = tr Σ = {spreads[k]:.3f})",
            )
        ax_ev.set_yscale("log")
        ax_ev.xaxis.get_major_locator().set_params(integer=True)
        ax_ev.set_xlabel("eigenvalue rank")
        ax_ev.set_ylabel("covariance eigenvalue")
        ax_ev.set_title(
            "Shape of each text's tokens: sorted eigenvalues of Σ", fontsize=9, loc="left"
        )
        ax_ev.legend(fontsize=7.5)
    fig.tight_layout()
    for col, p in enumerate(panels):
        ax = axes[0, col]
        means = [t.mean(0) for t in p["tokens"]]
        basis, _ = _project(p["tokens"], means)
        xs, ys, labels, colors = [], [], [], []
        every = []
        for k, tok in enumerate(p["tokens"]):
            pts = tok @ basis
            every += [tuple(q) for q in pts]
            for i in _farthest(tok, label_k):
                xs.append(float(pts[i, 0]))
                ys.append(float(pts[i, 1]))
                labels.append(str(p["labels"][k][i]))
                colors.append(TEXT_COLORS[k])
        place_labels(ax, xs, ys, labels, colors=colors, fontsize=7, avoid=every)
    a, b = panels[0]["texts"]
    fig.suptitle(
        f"A: {a[:100]}{'…' if len(a) > 100 else ''}\nB: {b[:100]}{'…' if len(b) > 100 else ''}",
        fontsize=9,
        y=1.035,
        x=0.02,
        ha="left",
    )
    return fig


# --------------------------------------------------------------------------- 5. layers
_LAYER_METRICS = [
    ("layers.parquet", "normalized_spread", r"Normalised spread tr $\Sigma$", r"tr $\Sigma$"),
    ("layers.parquet", "avg_cos", "Mean cosine of a text's tokens", "mean cosine"),
    ("layers_summary.json", "avg_socm", "Average SOCM over pairs", "avg SOCM"),
    ("mechanism.parquet", "lambda", r"$\lambda$: attention contraction", r"$\lambda$"),
    ("mechanism.parquet", "r", r"$r = S(H)/\|\mu(Y)\|^2$", "r"),
    ("mechanism.parquet", "C", r"$C$: token-wise map's spread ratio", "C"),
]
LAYER_DEFINITIONS = (
    "H: a layer's input tokens; Y = H + attention output (the residual, before the first "
    "LayerNorm); X = g(Y): the layer's output after the token-wise map g (LayerNorm, feed-forward "
    "+ residual, LayerNorm). S(M): mean squared distance of tokens to their mean; μ: the mean. "
    "λ = mean over heads of ‖W_o W_v‖² ‖PA‖²_F/(n − 1) (< 1: attention pulls tokens together); "
    "r = S(H)/‖μ(Y)‖²; C = [S(X)/‖μ(X)‖²] / [S(Y)/‖μ(Y)‖²]. Median over texts, band: "
    "interquartile range; average SOCM: mean over pairs (socm layers --socm)."
)


def _has_layer_socm(run: Path) -> bool:
    import json

    f = run / "layers_summary.json"
    if not f.is_file():
        return False
    try:
        recs = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(recs, list) and any(
        isinstance(r, dict) and r.get("avg_socm") is not None for r in recs
    )


def layer_depth(run: str | Path) -> int | None:
    """Number of transformer layers L of a run (its largest layer index; None: unknown).

    Parameters
    ----------
    run : str or Path
        A run folder with ``layers.parquet`` or ``mechanism.parquet``.

    Returns
    -------
    int or None
        L.
    """
    import pyarrow.parquet as pq

    run = Path(run)
    best = None
    for name in ("layers.parquet", "mechanism.parquet"):
        f = run / name
        if f.is_file():
            layers = pq.read_table(f, columns=["layer"]).column("layer").to_numpy()
            if len(layers):
                best = max(best or 0, int(layers.max()))
    return best


@styled
def layers_figure(runs: list[str | Path], relative: bool = False):
    """Per-layer curves, one style per run, for what the runs contain.

    Panels: normalised spread (with the bound 2), mean within-text cosine, average SOCM per
    layer (``socm layers --socm``), and the mechanism quantities λ (with 1), r and C; every
    panel shares the same x-axis.

    Parameters
    ----------
    runs : list of str or Path
        Run folders with ``socm layers`` and/or ``socm mechanism`` results.
    relative : bool
        x = layer / L (L: the run's number of transformer layers), so models of different
        depths compare.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Raises
    ------
    SocmError
        No run has per-layer results.
    """
    import json

    import pyarrow.parquet as pq

    plt = pyplot()
    runs = [Path(r) for r in runs]
    present = []
    for m in _LAYER_METRICS:
        if m[1] == "avg_socm":
            if any(_has_layer_socm(r) for r in runs):
                present.append(m)
        elif any((r / m[0]).is_file() for r in runs):
            present.append(m)
    if not present:
        raise SocmError(
            f"{runs[0]}: missing layers.parquet (run socm layers or socm mechanism first)"
        )
    ncols = min(3, len(present))
    nrows = math.ceil(len(present) / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(4.7 * ncols, 3.3 * nrows + 0.9 + 0.2 * len(runs)),
        squeeze=False,
        sharex=True,
        layout="constrained",
    )
    depths = {r: layer_depth(r) for r in runs}
    xmax = 0.0
    handles: dict[str, Any] = {}
    for ax, (fname, col, title, ylabel) in zip(axes.flat, present, strict=False):
        for k, run in enumerate(runs):
            f = run / fname
            if not f.is_file():
                continue
            color, marker, ls = okabe(k), MARKERS[k % len(MARKERS)], LINESTYLES[k % 4]
            scale = 1.0 / depths[run] if relative and depths[run] else 1.0
            if fname.endswith(".json"):
                recs = json.loads(f.read_text(encoding="utf-8"))
                recs = [r for r in recs if isinstance(r, dict) and r.get(col) is not None]
                if not recs:
                    continue
                xs = np.array([r["layer"] for r in recs], dtype=float)
                ys = np.array([r[col] for r in recs], dtype=float)
                (line,) = ax.plot(xs * scale, ys, marker=marker, ms=3.5, color=color, ls=ls)
            else:
                t = pq.read_table(f, columns=["layer", col]).to_pydict()
                layer, val = np.array(t["layer"]), np.array(t[col], dtype=float)
                xs = np.unique(layer)
                q = np.array([np.nanquantile(val[layer == x], [0.25, 0.5, 0.75]) for x in xs])
                (line,) = ax.plot(xs * scale, q[:, 1], marker=marker, ms=3.5, color=color, ls=ls)
                ax.fill_between(xs * scale, q[:, 0], q[:, 2], color=color, alpha=0.15, lw=0)
            xmax = max(xmax, float(xs.max() * scale))
            handles.setdefault(str(run), line)
        if col == "normalized_spread":
            ax.axhline(SPREAD_BOUND, color="0.25", lw=0.9, ls=(0, (4, 3)))
            ax.text(
                0.02,
                SPREAD_BOUND,
                " 2: the bound behind $d_\\Sigma \\leq 1$",
                ha="left",
                va="top",
                fontsize=7.5,
                color="0.25",
                transform=ax.get_yaxis_transform(),
            )
        if col in ("lambda", "C"):
            ax.axhline(1.0, color="0.25", lw=0.9, ls=(0, (4, 3)))
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel)
    for ax in list(axes.flat)[len(present) :]:
        ax.set_visible(False)
    for ax in axes.flat:
        ax.set_xlim(-0.03 * max(xmax, 1) if not relative else -0.03, xmax * 1.03 if xmax else 1)
        ax.tick_params(labelbottom=True)
        ax.set_xlabel(
            "relative depth: layer / L (0 = embeddings)" if relative else "layer (0 = embeddings)"
        )
    if not relative:
        for ax in axes.flat:
            ax.xaxis.get_major_locator().set_params(integer=True)
    names = dict(zip(map(str, runs), run_labels(runs), strict=True))
    labels = [names[str(r)] for r in runs if str(r) in handles]
    fig.legend(
        [handles[str(r)] for r in runs if str(r) in handles],
        labels,
        loc="outside upper center",
        ncols=1 if len(labels) > 2 else len(labels),
        fontsize=8,
    )
    fig.suptitle("Layer by layer", fontsize=11, x=0.02, ha="left")
    if any(p[0] == "mechanism.parquet" for p in present):
        import textwrap

        width = int(ncols * 4.7 * 72 / (0.55 * 7) * 0.9)  # 7-pt characters across the figure
        fig.supxlabel(
            textwrap.fill(LAYER_DEFINITIONS, width), fontsize=7, color="0.25", x=0.01, ha="left"
        )
    return fig


# --------------------------------------------------------------------------- 6. correlation
@styled
def correlation_figure(
    result: dict | None,
    families: dict[str, str] | None = None,
    measured: list[dict] | None = None,
    measured_result: dict | None = None,
    score_source: str | None = None,
):
    """Average SOCM (x) vs downstream score (y): reference models and runs measured here.

    Parameters
    ----------
    result : dict or None
        A :func:`socm.analyses.correlate.correlate` result: the reference models (e.g. the
        paper's 12, ``--paper-table``), drawn by family, with their Spearman ρ.
    families : dict, optional
        Model → backbone; an arrow goes from a backbone to each fine-tuned model of it when
        both are drawn.
    measured : list of dict, optional
        Runs measured here: ``model``, ``avg_socm``, ``score`` (None when unknown: drawn in a
        strip below the axes, x only), ``numerics``, optional ``ci`` (low, high) and ``run``.
        A dotted line joins a run to the reference point of the same model.
    measured_result : dict, optional
        The correlation over the measured runs (shown in the title when given).
    score_source : str, optional
        What the scores are (the y-axis label; None: from ``result``).

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Raises
    ------
    SocmError
        Nothing to draw.
    """
    plt = pyplot()
    families = families or {}
    measured = measured or []
    table = (result or {}).get("table", [])
    if not table and not measured:
        raise SocmError("nothing to draw: no model with an average SOCM")
    scored = [m for m in measured if m.get("score") is not None]
    unscored = [m for m in measured if m.get("score") is None]
    if unscored:
        fig, (ax, strip) = plt.subplots(
            2,
            1,
            figsize=(10.4, 6.9),
            sharex=True,
            gridspec_kw={"height_ratios": (6, 0.25 + 0.3 * len(unscored)), "hspace": 0.08},
        )
    else:
        fig, ax = plt.subplots(figsize=(10.4, 6.2))
        strip = None
    paper = "paper" in str((result or {}).get("score_source", ""))
    fams = sorted({families.get(t["model"], "other") for t in table})
    marker = {f: MARKERS[k % len(MARKERS)] for k, f in enumerate(fams)}
    color = {f: okabe(k) for k, f in enumerate(fams)}
    pos = {t["model"]: (t["avg_socm"], t["score"]) for t in table}
    for fam in fams:
        pts = [t for t in table if families.get(t["model"], "other") == fam]
        if paper:
            ax.errorbar(
                [t["avg_socm"] for t in pts],
                [t["score"] for t in pts],
                yerr=0.005,
                fmt="none",
                ecolor=color[fam],
                elinewidth=0.8,
                alpha=0.7,
            )
        ax.scatter(
            [t["avg_socm"] for t in pts],
            [t["score"] for t in pts],
            marker=marker[fam],
            s=62,
            color=color[fam],
            edgecolor="k",
            lw=0.5,
            zorder=4,
            label=(_name(fam) + " family" if fam != "other" else "other")
            + (" (paper)" if paper else ""),
        )
    for model, base in families.items():
        if model != base and model in pos and base in pos:
            fam = families.get(model, "other")
            ax.annotate(
                "",
                xy=pos[model],
                xytext=pos[base],
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": color.get(fam, "0.5"),
                    "lw": 0.8,
                    "alpha": 0.5,
                    "shrinkA": 5,
                    "shrinkB": 6,
                    "mutation_scale": 9,
                },
                zorder=2,
            )

    def here(m: dict) -> str:
        where = run_label(m["run"]) if m.get("run") else _name(m["model"])
        return f"{where} [here, {m.get('numerics') or '?'}]"

    if scored:
        ax.scatter(
            [m["avg_socm"] for m in scored],
            [m["score"] for m in scored],
            marker="*",
            s=230,
            color="#F0E442",
            edgecolor="k",
            lw=0.9,
            zorder=6,
            label="measured here",
        )
        for m in scored:
            if m.get("ci"):
                lo, hi = m["ci"]
                ax.plot([lo, hi], [m["score"]] * 2, color="k", lw=1.2, zorder=5)
            ref = next((pos[t] for t in pos if _name(t).lower() == _name(m["model"]).lower()), None)
            if ref:
                ax.plot(
                    [ref[0], m["avg_socm"]],
                    [ref[1], m["score"]],
                    ls=":",
                    color="0.3",
                    lw=1.0,
                    zorder=3,
                )
    ax.margins(0.08)
    source = (
        score_source or (result or measured_result or {}).get("score_source") or "downstream score"
    )
    ax.set_ylabel(source)
    if strip is not None:
        ys = np.arange(len(unscored))[::-1]
        strip.scatter(
            [m["avg_socm"] for m in unscored],
            ys,
            marker="*",
            s=160,
            color="white",
            edgecolor="k",
            lw=0.9,
            zorder=6,
        )
        for m in unscored:
            if m.get("ci"):
                lo, hi = m["ci"]
                strip.plot([lo, hi], [ys[unscored.index(m)]] * 2, color="k", lw=1.2)
        strip.set_ylim(-0.7, len(unscored) - 0.3)
        strip.set_yticks([])
        strip.spines["left"].set_visible(False)
        strip.set_ylabel("no score", rotation=0, ha="right", va="center", fontsize=8)
        strip.set_xlabel("average SOCM (lower: less collapse)")
        ax.tick_params(labelbottom=False)
    else:
        ax.set_xlabel("average SOCM (lower: less collapse)")
    parts = []
    if result and result.get("socm"):
        s = result["socm"]
        parts.append(
            f"{'paper models' if paper else 'models'}: Spearman ρ = {s['spearman_rho']:.3f}, "
            f"p = {s['p_value']:.3g} (n = {result['n_models']})"
        )
    if measured_result and measured_result.get("socm"):
        s = measured_result["socm"]
        parts.append(
            f"measured here: ρ = {s['spearman_rho']:.3f}, p = {s['p_value']:.3g} "
            f"(n = {measured_result['n_models']})"
        )
    if not parts:
        parts.append("fewer than 3 models with a score: no Spearman ρ")
    ax.set_title("Collapse vs downstream quality\n" + "; ".join(parts), fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    if unscored:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], marker="*", ms=11, mfc="white", mec="k", ls="none"))
        labels.append("measured here, no score")
    ax.legend(handles, labels, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    notes = []
    if paper:
        notes.append(
            "Paper points: MTEB(eng, v2) scores read off the paper's figure (±0.005, bars) and "
            "the paper's published average SOCM (its numerics: float32, ε = 1e-9, about 0.006 "
            "below exact at D = 384). Arrows: backbone → fine-tuned."
        )
    if measured:
        nums = sorted({str(m.get("numerics")) for m in measured})
        notes.append(
            f"Stars: runs measured here (numerics: {', '.join(nums)}; bar: 95% CI when known)"
            + (
                "; a dotted line joins a run to the paper's point of the same model."
                if paper
                else "."
            )
        )
    import textwrap

    fig.subplots_adjust(left=0.08, right=0.7, top=0.9, bottom=0.2 if notes else 0.1)
    fig.text(0.01, 0.01, textwrap.fill(" ".join(notes), 150), fontsize=7, color="0.25", va="bottom")
    labels_colors = [color[families.get(t["model"], "other")] for t in table]
    labels_colors = ["0.3" if c == "#F0E442" else c for c in labels_colors]
    place_labels(
        ax,
        [t["avg_socm"] for t in table] + [m["avg_socm"] for m in scored],
        [t["score"] for t in table] + [m["score"] for m in scored],
        [_name(t["model"]) for t in table] + [here(m) for m in scored],
        colors=labels_colors + ["k"] * len(scored),
        fontsize=7.5,
    )
    if strip is not None:
        place_labels(
            strip,
            [m["avg_socm"] for m in unscored],
            list(np.arange(len(unscored))[::-1].astype(float)),
            [here(m) for m in unscored],
            colors="k",
            fontsize=7.5,
        )
    return fig
