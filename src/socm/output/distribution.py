"""The SOCM distribution: histogram and empirical CDF of the runs' pair SOCM.

:func:`socm_distribution` draws, for one or more runs on the same SOCM axis and bins, the
histogram (density per unit of SOCM) and the empirical CDF of every scored pair's SOCM
(streamed, :func:`socm.output.data.scan_pairs`), the quantiles of ``summary.json`` (q10,
median, q90, q99) marked on the CDF, and the average with its confidence interval as a line
and a band. A run of sampled pairs is named as such: its curves and quantiles are the
sample's.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from socm.errors import SocmError
from socm.measure.rundir import read_summary
from socm.measure.summary import is_sample, pairs_words
from socm.output.common import run_folders
from socm.output.data import Limits, scan_pairs, shared_limits
from socm.output.style import LINESTYLES, MARKERS, okabe, pyplot, run_labels, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["QUANTILES", "socm_distribution"]

QUANTILES = (("0.1", "q10"), ("0.5", "median"), ("0.9", "q90"), ("0.99", "q99"))
"""The quantiles of ``summary.json`` marked on the CDF (key, name)."""


def _interval(summary: dict) -> tuple[float, float] | None:
    ci = summary.get("avg_socm_ci95")
    if not isinstance(ci, list | tuple) or len(ci) != 2 or None in ci:
        return None
    lo, hi = float(ci[0]), float(ci[1])
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


@styled
def socm_distribution(
    runs: str | Path | list[str | Path],
    limits: Limits | None = None,
    labels: list[str] | None = None,
) -> Figure:
    """Histogram and empirical CDF of the SOCM of every scored pair, with quantiles and the
    average ± its interval.

    Parameters
    ----------
    runs : str, Path or list of them
        Measure run folders (runs without ``pairs.parquet`` show only their quantiles and
        average).
    limits : Limits, optional
        SOCM range and bins shared with other figures (None: covering these runs).
    labels : list of str, optional
        The runs' labels (None: :func:`socm.output.style.run_labels`).

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Raises
    ------
    SocmError
        No run folder, or a folder without ``summary.json``.
    """
    plt = pyplot()
    runs = run_folders(runs)
    if not runs:
        raise SocmError("the SOCM distribution needs at least one run folder")
    summaries = [read_summary(r) for r in runs]
    labels = labels or run_labels(runs)
    paired = [r for r in runs if (r / "pairs.parquet").exists()]
    limits = limits or shared_limits(paired)
    fig, (ah, ac) = plt.subplots(1, 2, figsize=(11, 4.6 + 0.2 * len(runs)), layout="constrained")
    single = len(runs) == 1
    top = 0.0
    for k, (run, s, label) in enumerate(zip(runs, summaries, labels, strict=True)):
        color, ls, marker = okabe(k), LINESTYLES[k % len(LINESTYLES)], MARKERS[k % len(MARKERS)]
        sample = " (sample)" if is_sample(s) else ""
        name = f"{label}: {pairs_words(s)}"
        if run in paired:
            scan = scan_pairs(run, limits)
            edges, hist = scan.socm_edges, scan.socm_hist
            n = max(scan.n_pairs, 1)
            dens = hist / (n * np.diff(edges))
            if single:
                ah.stairs(dens, edges, fill=True, color="0.7", label=name)
            else:
                ah.stairs(dens, edges, color=color, ls=ls, lw=1.4, label=name)
            cdf = np.concatenate([[0.0], np.cumsum(hist) / n])
            ac.plot(edges, cdf, color="0.3" if single else color, ls=ls, lw=1.4)
            nz = np.flatnonzero(hist)
            top = max(top, float(edges[nz[-1] + 1]) if len(nz) else 0.0)
        else:
            ah.plot([], [], color=color, ls=ls, label=f"{name} (no pairs.parquet: no curve)")
        q = s.get("socm_quantiles") or {}
        for key, qname in QUANTILES:
            v = q.get(key)
            if v is None:
                continue
            ac.plot([v], [float(key)], marker=marker, ms=6, color=color, mec="black", zorder=6)
            if k == 0:
                ac.annotate(
                    f"{qname}{sample} {v:.3f}" if single else qname,
                    (v, float(key)),
                    xytext=(7, -3),
                    textcoords="offset points",
                    fontsize=8.5,
                    va="top",
                    bbox={"boxstyle": "square,pad=0.1", "fc": "white", "lw": 0, "alpha": 0.8},
                )
            top = max(top, float(v))
        mean, ci = float(s["avg_socm"]), _interval(s)
        for ax in (ah, ac):
            if ci:
                ax.axvspan(ci[0], ci[1], color=color, alpha=0.25, lw=0)
            ax.axvline(mean, color=color, ls=ls, lw=1.1)
    ah.set_xlabel("SOCM of a pair")
    ah.set_ylabel("density")
    ah.set_title("Histogram (same bins for every run)", loc="left", fontsize=10)
    ac.set_xlabel("SOCM of a pair")
    ac.set_ylabel("share of pairs with a lower SOCM")
    ac.set_title("Empirical CDF with quantiles", loc="left", fontsize=10)
    ac.set_ylim(0, 1.02)
    for ax in (ah, ac):
        ax.set_xlim(0, max(top * 1.03, 0.05))
    fig.legend(*ah.get_legend_handles_labels(), loc="outside lower center", fontsize=8.5)
    level = float(summaries[0].get("ci_level") or 0.95)
    exact = all(s.get("socm_quantiles_exact", True) for s in summaries)
    fig.suptitle(
        f"SOCM of every scored pair; vertical line: the average, band: its {level:.0%} "
        "interval" + ("" if exact else "; quantiles from a streaming histogram (see summary.json)"),
        x=0.01,
        ha="left",
        fontsize=10.5,
    )
    return fig
