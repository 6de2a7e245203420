"""The correlation figure: average SOCM against a downstream score.

:func:`correlation_figure` draws reference models (e.g. the paper's 12, with the ±0.005 of
scores read off its figure) by family with backbone → fine-tuned arrows, the runs measured
here as stars (with their 95% intervals, and a dotted line to the reference point of the same
model), runs whose model has no score in a strip below the axes, the Spearman ρ of each set in
the title and what the points are in a note under the figure.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np

from socm.errors import SocmError
from socm.output.common import model_name
from socm.output.style import MARKERS, okabe, place_labels, pyplot, run_label, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["correlation_figure"]

_MEASURED_COLOR = "#F0E442"
"""The stars of runs measured here (Okabe–Ito yellow)."""


def _here(m: dict) -> str:
    """The label of a run measured here: its run label (or model) and numerics."""
    where = run_label(m["run"]) if m.get("run") else model_name(m["model"])
    return f"{where} [here, {m.get('numerics') or '?'}]"


def _axes(plt: Any, unscored: list[dict]) -> tuple[Any, Any, Any]:
    """The figure, its main axes and the strip for unscored runs below (None without them)."""
    if unscored:
        fig, (ax, strip) = plt.subplots(
            2,
            1,
            figsize=(10.4, 6.9),
            sharex=True,
            gridspec_kw={"height_ratios": (6, 0.25 + 0.3 * len(unscored)), "hspace": 0.08},
        )
        return fig, ax, strip
    fig, ax = plt.subplots(figsize=(10.4, 6.2))
    return fig, ax, None


def _reference_points(
    ax: Any, table: list[dict], families: dict[str, str], paper: bool
) -> tuple[dict[str, str], dict[str, tuple[float, float]]]:
    """The reference models by family (error bars for the paper's read-off scores) and the
    backbone → fine-tuned arrows; returns (family → colour, model → point)."""
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
            label=(model_name(fam) + " family" if fam != "other" else "other")
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
    return color, pos


def _measured_points(ax: Any, scored: list[dict], pos: dict[str, tuple[float, float]]) -> None:
    """Runs with a score as stars, their intervals, and a dotted line to the reference point
    of the same model."""
    if not scored:
        return
    ax.scatter(
        [m["avg_socm"] for m in scored],
        [m["score"] for m in scored],
        marker="*",
        s=230,
        color=_MEASURED_COLOR,
        edgecolor="k",
        lw=0.9,
        zorder=6,
        label="measured here",
    )
    for m in scored:
        if m.get("ci"):
            lo, hi = m["ci"]
            ax.plot([lo, hi], [m["score"]] * 2, color="k", lw=1.2, zorder=5)
        name = model_name(m["model"]).lower()
        ref = next((pos[t] for t in pos if model_name(t).lower() == name), None)
        if ref:
            ax.plot(
                [ref[0], m["avg_socm"]],
                [ref[1], m["score"]],
                ls=":",
                color="0.3",
                lw=1.0,
                zorder=3,
            )


def _unscored_strip(ax: Any, strip: Any, unscored: list[dict]) -> None:
    """Runs without a score as white stars in the strip under the axes (x only); the x label
    goes under the strip, else under the axes."""
    if strip is None:
        ax.set_xlabel("average SOCM (lower: less collapse)")
        return
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


def _title(result: dict | None, measured_result: dict | None, paper: bool) -> str:
    """The title: each set's Spearman ρ, p and number of models."""
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
    return "Collapse vs downstream quality\n" + "; ".join(parts)


def _notes(paper: bool, measured: list[dict]) -> list[str]:
    """What the points are: where the paper's numbers come from, what the stars are."""
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
    return notes


def _point_labels(
    ax: Any,
    strip: Any,
    table: list[dict],
    scored: list[dict],
    unscored: list[dict],
    colors: list[str],
) -> None:
    """Name every point without collisions: reference models in their family's colour (the
    yellow one in grey), runs measured here in black."""
    colors = ["0.3" if c == _MEASURED_COLOR else c for c in colors]
    place_labels(
        ax,
        [t["avg_socm"] for t in table] + [m["avg_socm"] for m in scored],
        [t["score"] for t in table] + [m["score"] for m in scored],
        [model_name(t["model"]) for t in table] + [_here(m) for m in scored],
        colors=colors + ["k"] * len(scored),
        fontsize=7.5,
    )
    if strip is not None:
        place_labels(
            strip,
            [m["avg_socm"] for m in unscored],
            list(np.arange(len(unscored))[::-1].astype(float)),
            [_here(m) for m in unscored],
            colors="k",
            fontsize=7.5,
        )


@styled
def correlation_figure(
    result: dict | None,
    families: dict[str, str] | None = None,
    measured: list[dict] | None = None,
    measured_result: dict | None = None,
    score_source: str | None = None,
) -> Figure:
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
    from matplotlib.lines import Line2D

    plt = pyplot()
    families = families or {}
    measured = measured or []
    table = (result or {}).get("table", [])
    if not table and not measured:
        raise SocmError("nothing to draw: no model with an average SOCM")
    scored = [m for m in measured if m.get("score") is not None]
    unscored = [m for m in measured if m.get("score") is None]
    fig, ax, strip = _axes(plt, unscored)
    paper = "paper" in str((result or {}).get("score_source", ""))
    color, pos = _reference_points(ax, table, families, paper)
    _measured_points(ax, scored, pos)
    ax.margins(0.08)
    source = (
        score_source or (result or measured_result or {}).get("score_source") or "downstream score"
    )
    ax.set_ylabel(source)
    _unscored_strip(ax, strip, unscored)
    ax.set_title(_title(result, measured_result, paper), fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    if unscored:
        handles.append(Line2D([], [], marker="*", ms=11, mfc="white", mec="k", ls="none"))
        labels.append("measured here, no score")
    ax.legend(handles, labels, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    notes = _notes(paper, measured)
    fig.subplots_adjust(left=0.08, right=0.7, top=0.9, bottom=0.2 if notes else 0.1)
    fig.text(0.01, 0.01, textwrap.fill(" ".join(notes), 150), fontsize=7, color="0.25", va="bottom")
    colors = [color[families.get(t["model"], "other")] for t in table]
    _point_labels(ax, strip, table, scored, unscored, colors)
    return fig
