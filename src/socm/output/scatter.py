r"""The scatter: every pair of one or more runs in the :math:`(d_\mu, d_\Sigma)` plane.

:func:`scatter` streams ``pairs.parquet`` (:func:`socm.output.data.scan_pairs`), so any run
fits. One run: a 2-D histogram of all its scored pairs, coloured by the share of the run's
pairs in each cell (log scale, :func:`socm.output.style.density_cmap`: a cell of one pair is a
visible orange, and several runs can share one scale), SOCM contours, the line
:math:`d_\Sigma = 1`, the highest-SOCM pairs numbered on leader lines (each text in at most a
few of them, the numbering of the report's table) and marginal densities. Several runs: each run's
50% and 90% highest-density regions and its mean on the same axes, with marginal densities.
The pair-density axes carry the label ``"pairs"``, so the report can find them for its hover
overlay.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from socm.errors import SocmError
from socm.measure.rundir import read_summary, run_file
from socm.measure.summary import pairs_words
from socm.output.common import cosine_axis, d_sigma_line, density_contours, socm_contours
from socm.output.data import Limits, PairScan, scan_pairs, shared_limits, top_pairs
from socm.output.style import (
    CONTOUR_COLOR,
    LINESTYLES,
    MARKERS,
    density_cmap,
    okabe,
    place_labels,
    pyplot,
    run_label,
    run_labels,
    styled,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["scatter"]


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


def _marginals(top: Any, right: Any, scans: list, colors: list[str], styles: list) -> None:
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


def _panels(fig: Any, single: bool) -> tuple[Any, Any, Any, Any]:
    """The figure's axes: pairs (labelled ``"pairs"``), top and right marginals, colour bar."""
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
    return ax, top, right, cax


def _one_run(
    fig: Any,
    ax: Any,
    cax: Any,
    run: Path,
    summary: dict,
    scan: PairScan,
    limits: Limits,
    top_k: int,
    max_per_text: int,
    share_range: tuple[float, float] | None,
) -> tuple[str, str]:
    """One run's histogram, contours and numbered top pairs; returns (title, note)."""
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import FuncFormatter

    n = max(scan.n_pairs, 1)
    h = np.ma.masked_equal(scan.hist / n, 0)
    lo, hi = share_range or (1.0 / n, max(2.0 / n, float(scan.hist.max()) / n))
    mesh = ax.pcolormesh(
        scan.mu_edges,
        scan.sigma_edges,
        h,
        cmap=density_cmap(),
        norm=LogNorm(vmin=lo, vmax=max(hi, lo * 2)),
        rasterized=True,
    )
    bar = fig.colorbar(mesh, cax=cax)
    bar.set_label(
        "share of the run's pairs in the cell (log scale"
        + ("; one scale for every run)" if share_range else ")"),
        fontsize=8.5,
    )
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:.2g}%"))
    socm_contours(ax, limits, color=CONTOUR_COLOR, label_x=0.1)
    picks = top_pairs(run, top_k, max_per_text, limits) if top_k else []
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
            fontsize=9,
            leaders=True,
        )
    s = summary
    title = (
        f"{run_label(run)}\n{s['n_texts']:,} texts, {pairs_words(s)}: "
        f"avg SOCM {s['avg_socm']:.4f}{_ci_text(s)}"
    )
    cell = (
        f"cell {np.diff(scan.mu_edges)[0]:.2g} × {np.diff(scan.sigma_edges)[0]:.2g}, "
        f"{scan.n_pairs:,} pairs in all; circles 1–{len(picks)}: the highest-SOCM pairs "
        f"(≤ {max_per_text} per text); "
        if picks
        else ""
    )
    note = (
        f"{cell}{scan.n_d_sigma_over_1 / max(scan.n_pairs, 1):.1%} of pairs have "
        rf"$d_\Sigma > 1$ (above the dashed line, possible only when a text's spread "
        f"exceeds 2); numerics: {s['numerics']}"
    )
    return title, note


def _several_runs(
    fig: Any,
    ax: Any,
    cax: Any,
    runs: list[Path],
    summaries: list[dict],
    scans: list[PairScan],
    limits: Limits,
    colors: list[str],
    styles: list,
) -> tuple[str, str]:
    """Each run's density regions and mean, with a legend; returns (title, note)."""
    from matplotlib.lines import Line2D

    cax.set_visible(False)
    socm_contours(ax, limits, color="0.55", label_x=0.1)
    handles = []
    for k, scan in enumerate(scans):
        density_contours(ax, scan, colors[k], styles[k])
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
                label=f"{run_labels(runs)[k]}, {pairs_words(summaries[k])}: avg SOCM "
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
    title = f"{len(runs)} runs, every scored pair of each (counts in the legend)"
    note = (
        "lines: the regions holding 50% (thick) and 90% (thin) of a run's pairs; "
        "marker: its mean; grey: SOCM contours"
    )
    return title, note


@styled
def scatter(
    run: str | Path | list[str | Path],
    max_points: int | None = None,
    seed: int = 0,
    limits: Limits | None = None,
    top_k: int = 10,
    max_per_text: int = 2,
    share_range: tuple[float, float] | None = None,
) -> Figure:
    r"""Every pair of one or more runs in the :math:`(d_\mu, d_\Sigma)` plane.

    One run: a 2-D histogram of all its scored pairs (share of the pairs per cell, log
    scale), SOCM contours, the line :math:`d_\Sigma = 1`, its ``top_k`` highest-SOCM pairs
    numbered on leader lines (each text in at most ``max_per_text`` of them, the numbering of
    the report's table) and marginal densities. Several runs: each run's 50% and 90%
    highest-density regions and its mean, on the same axes, with marginal densities.
    ``pairs.parquet`` is streamed in batches.

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
    share_range : (float, float), optional
        Colour limits of the share of pairs per cell, so that several runs' figures share one
        scale (None: from a single pair to this run's fullest cell).

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Raises
    ------
    SocmError
        A missing run folder, ``summary.json`` or ``pairs.parquet``.
    """
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
    ax, top, right, cax = _panels(fig, single)
    colors = [okabe(k) for k in range(len(runs))]
    styles = [LINESTYLES[k % len(LINESTYLES)] for k in range(len(runs))]
    if single:
        title, note = _one_run(
            fig, ax, cax, runs[0], summaries[0], scans[0], limits, top_k, max_per_text, share_range
        )
    else:
        title, note = _several_runs(fig, ax, cax, runs, summaries, scans, limits, colors, styles)
    d_sigma_line(ax, limits, text=False)
    ax.set_xlim(0, limits.d_mu)
    ax.set_ylim(0, limits.d_sigma)
    _marginals(top, right, scans, colors, styles)
    top.tick_params(labelbottom=False)
    right.tick_params(labelleft=False)
    cosine_axis(top)
    ax.set_xlabel(r"$d_\mu$")
    ax.set_ylabel(r"$d_\Sigma$")
    fig.suptitle(title, x=0.11, ha="left", fontsize=10.5, y=0.995)
    fig.text(0.11, 0.005, textwrap.fill(note, 110), fontsize=8.5, color="0.25", va="bottom")
    return fig
