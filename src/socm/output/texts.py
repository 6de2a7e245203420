"""The texts figure: each text's normalised spread, its length and its mean SOCM.

:func:`texts_figure` has four panels: texts ranked by normalised spread, spread against token
count, the spread histogram with the bound 2 (the share of texts above it written on it), and
each text's mean SOCM against its spread (from ``texts.jsonl``, or computed from the pairs for
older runs, :func:`socm.output.data.read_texts`) with its least-squares line and Pearson r
(:func:`socm.output.data.spread_relation`). One run colours its texts by mean SOCM and names
its three widest-spread texts; several runs are told apart by colour and marker.
:func:`spread_socm_figure` draws that last panel alone, for several runs on one set of axes:
what drives a run's average.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from socm.core.stats import SPREAD_BOUND
from socm.measure.rundir import read_summary
from socm.output.common import run_folders
from socm.output.data import Limits, TextTable, read_texts, spread_relation, spread_share
from socm.output.style import (
    LINESTYLES,
    MARKERS,
    SOCM_CMAP,
    okabe,
    place_labels,
    pyplot,
    run_label,
    run_labels,
    styled,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["spread_socm_figure", "texts_figure"]


def _socm_limits(t: TextTable, socm_range: tuple[float, float] | None) -> tuple[float, float]:
    """Colour limits of one run's per-text mean SOCM: ``socm_range``, else the run's range."""
    finite = t.mean_socm[np.isfinite(t.mean_socm)]
    lo, hi = socm_range or (
        (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    )
    if hi <= lo:
        hi = lo + 1e-6
    return lo, hi


def _draw_texts(
    axes: Any,
    tables: list[TextTable],
    names: list[str],
    lohi: tuple[float, float] | None,
    bins: np.ndarray,
) -> Any:
    """Every run's texts in the four panels; returns the points to colour-bar (one run with
    per-text SOCM, coloured within ``lohi``), else None."""
    (a_rank, a_tok), (a_hist, a_socm) = axes
    single = len(tables) == 1
    sc = None
    for k, t in enumerate(tables):
        color, marker = okabe(k), MARKERS[k % len(MARKERS)]
        order = np.argsort(-t.spread, kind="stable")
        rank = np.arange(1, len(t) + 1)
        xr = rank if single else rank / len(t)
        has_socm = np.isfinite(t.mean_socm).any()
        kw: dict = {"s": 14, "edgecolor": "none"}
        if single and has_socm and lohi is not None:
            kw.update(c=t.mean_socm[order], cmap=SOCM_CMAP, vmin=lohi[0], vmax=lohi[1])
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
            _spread_socm(a_socm, t, "0.2" if single else color, "o" if single else marker)
    return sc


def _spread_socm(ax: Any, t: TextTable, color: str, marker: str, label: str = "") -> float:
    """A run's texts as (spread, mean SOCM) points with their least-squares line; returns r."""
    ax.scatter(t.spread, t.mean_socm, s=14, color=color, marker=marker, alpha=0.6, edgecolor="none")
    rel = spread_relation(t.spread, t.mean_socm)
    if np.isfinite(rel["r"]):
        ok = np.isfinite(t.spread) & np.isfinite(t.mean_socm)
        xs = np.array([t.spread[ok].min(), t.spread[ok].max()])
        ax.plot(
            xs,
            rel["intercept"] + rel["slope"] * xs,
            color=color,
            lw=1.3,
            label=f"{label + ': ' if label else ''}r = {rel['r']:.2f} over {rel['n_texts']:,} "
            "texts",
        )
    return rel["r"]


def _frame_spread_axes(axes: Any, tables: list[TextTable], smax: float) -> None:
    """Limits, the bound 2, titles and labels of the rank and length panels (one run: its
    three widest-spread texts named)."""
    (a_rank, a_tok), (a_hist, a_socm) = axes
    single = len(tables) == 1
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


def _frame_hist_and_socm(a_hist: Any, a_socm: Any, tables: list[TextTable]) -> str:
    """Titles, labels and notes of the histogram and mean-SOCM panels; returns the runs'
    shares of texts with spread above 2 (``"12% / 30%"``)."""
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
    a_socm.set_title("Each text's mean SOCM, with the least-squares line", loc="left")
    if a_socm.get_legend_handles_labels()[0]:
        a_socm.legend(fontsize=8, loc="upper left")
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
    return shares


@styled
def texts_figure(
    runs: str | Path | list[str | Path],
    limits: Limits | None = None,
    socm_range: tuple[float, float] | None = None,
    spread_max: float | None = None,
) -> Figure:
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
    runs = run_folders(runs)
    tables = [read_texts(r, limits) for r in runs]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.6), layout="constrained")
    single = len(runs) == 1
    lohi = _socm_limits(tables[0], socm_range) if single else None
    all_spread = np.concatenate([t.spread[np.isfinite(t.spread)] for t in tables])
    smax = spread_max or max(float(all_spread.max()) if len(all_spread) else 2.5, 2.2) * 1.05
    bins = np.linspace(0, smax, 40)
    sc = _draw_texts(axes, tables, run_labels(runs), lohi, bins)
    _frame_spread_axes(axes, tables, smax)
    shares = _frame_hist_and_socm(axes[1][0], axes[1][1], tables)
    if sc is not None:
        fig.colorbar(sc, ax=axes[0].tolist(), label="text's mean SOCM", shrink=0.9)
    if not single:
        fig.legend(
            *axes[1][0].get_legend_handles_labels(),
            loc="outside lower center",
            fontsize=8,
            ncols=1,
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


@styled
def spread_socm_figure(
    runs: str | Path | list[str | Path],
    limits: Limits | None = None,
    labels: list[str] | None = None,
) -> Figure:
    """Each text's mean SOCM against its normalised spread, every run on one set of axes,
    with each run's least-squares line and Pearson r.

    Parameters
    ----------
    runs : str, Path or list of them
        Measure run folders.
    limits : Limits, optional
        Passed on to the pair scan when per-text means are computed from ``pairs.parquet``.
    labels : list of str, optional
        The runs' labels (None: :func:`socm.output.style.run_labels`).

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    plt = pyplot()
    runs = run_folders(runs)
    labels = labels or run_labels(runs)
    fig, ax = plt.subplots(figsize=(8.4, 4.6 + 0.2 * len(runs)), layout="constrained")
    for k, run in enumerate(runs):
        t = read_texts(run, limits)
        _spread_socm(ax, t, okabe(k), MARKERS[k % len(MARKERS)], labels[k])
    ax.axvline(SPREAD_BOUND, color="0.25", lw=0.9, ls=(0, (4, 3)))
    ax.set_xlabel(r"normalised spread tr $\Sigma$ of the text")
    ax.set_ylabel("mean SOCM over the text's pairs")
    ax.set_title("What drives the average: a text's mean SOCM against its spread", loc="left")
    if ax.get_legend_handles_labels()[0]:
        fig.legend(loc="outside lower center", fontsize=8.5)
    return fig
