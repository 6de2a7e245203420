"""The overview: each run's average SOCM with its interval, beside the paper's 12 models.

:func:`overview_rows` reads what the figure and the report's table show: per run its average
SOCM, 95% interval, the paper's published value for the same model (when the model is one of
the paper's) and how the run was measured differently from the paper
(:func:`socm.inputs.paper_table.paper_differences`: corpus, sample, pairs, numerics, token
policy, layer). :func:`overview_figure` draws it as a dot plot: the runs on top (filled when
measured as the paper did, hollow otherwise, with what differs written beside them), then the
paper's models by their published average (backbones as diamonds, fine-tuned models as
circles; a model that a run measured is written in bold).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from socm.inputs.paper_table import load_paper_table, paper_differences
from socm.measure.rundir import read_summary
from socm.output.common import model_name
from socm.output.data import match_score
from socm.output.style import MARKERS, okabe, pyplot, run_labels, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["overview_figure", "overview_rows", "short_differences"]

_SHORT = (
    ("corpus", "corpus"),
    ("texts, not", "sample size"),
    ("seed", "sample"),
    ("pairs (the paper", "pairs"),
    ("numerics", "numerics"),
    ("special tokens", "tokens"),
    ("prefix", "prefix"),
    ("layer", "layer"),
)


def short_differences(differences: list[str]) -> str:
    """The differences from the paper in a few words: ``"≠ paper: corpus, numerics"``
    (``"as in the paper"`` when there is none).

    Examples
    --------
    >>> short_differences(["corpus wikipedia, not the paper's", "exact numerics (the paper)"])
    '≠ paper: corpus, numerics'
    >>> short_differences([])
    'as in the paper'
    """
    if not differences:
        return "as in the paper"
    words = []
    for d in differences:
        word = next((w for key, w in _SHORT if d.startswith(key) or key in d), "setting")
        if word not in words:
            words.append(word)
    return "≠ paper: " + ", ".join(words)


def overview_rows(
    runs: list[str | Path], labels: list[str] | None = None, dataset: str = "wikipedia"
) -> list[dict]:
    """Per run: what the overview draws.

    Parameters
    ----------
    runs : list of str or Path
        Measure run folders.
    labels : list of str, optional
        The runs' labels (None: :func:`socm.output.style.run_labels`).
    dataset : str
        The paper's dataset to compare with (``wikipedia``, ``msmarco``, ``hard_negatives``).

    Returns
    -------
    list of dict
        ``label``, ``model``, ``avg_socm``, ``ci`` ((low, high) or None), ``ci_level``,
        ``paper_value`` (the paper's published average for this model on ``dataset``, or
        None), ``differences`` (list of str), ``run``.
    """
    table = load_paper_table()
    published = {m["model"]: m["avg_socm"][dataset] for m in table["models"]}
    labels = labels or run_labels(runs)
    out = []
    for run, label in zip(runs, labels, strict=True):
        s = read_summary(run)
        ci = s.get("avg_socm_ci95")
        ok = isinstance(ci, list | tuple) and len(ci) == 2 and None not in ci
        out.append(
            {
                "label": label,
                "model": s["model"],
                "avg_socm": float(s["avg_socm"]),
                "ci": (float(ci[0]), float(ci[1])) if ok else None,
                "ci_level": float(s.get("ci_level") or 0.95),
                "paper_value": match_score(s["model"], published),
                "differences": paper_differences(s, dataset),
                "run": str(run),
            }
        )
    return out


@styled
def overview_figure(
    runs: list[str | Path], labels: list[str] | None = None, dataset: str = "wikipedia"
) -> Figure:
    """Average SOCM ± its interval for each run, beside the paper's 12 published models.

    Parameters
    ----------
    runs : list of str or Path
        Measure run folders.
    labels : list of str, optional
        The runs' labels (None: :func:`socm.output.style.run_labels`).
    dataset : str
        The paper's dataset whose published averages are drawn.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    plt = pyplot()
    rows = overview_rows([Path(r) for r in runs], labels, dataset)
    table = load_paper_table()
    models = sorted(table["models"], key=lambda m: -m["avg_socm"][dataset])
    measured = {model_name(r["model"]).lower() for r in rows}
    n = len(rows) + len(models)
    fig, (ax, tx) = plt.subplots(
        1,
        2,
        sharey=True,
        width_ratios=(3, 2),
        figsize=(10.5, 1.9 + 0.3 * (n + 1)),
        layout="constrained",
    )
    tx.axis("off")
    y = 0.0
    ticks, names = [], []
    xmax = 0.0
    for k, r in enumerate(rows):
        color = okabe(k)
        lo, hi = r["ci"] or (r["avg_socm"], r["avg_socm"])
        xmax = max(xmax, hi)
        ax.errorbar(
            [r["avg_socm"]],
            [y],
            xerr=[[r["avg_socm"] - lo], [hi - r["avg_socm"]]] if r["ci"] else None,
            fmt=MARKERS[k % len(MARKERS)],
            ms=8,
            color=color,
            mfc=color if not r["differences"] else "white",
            mew=1.6,
            capsize=3,
            zorder=5,
        )
        note = short_differences(r["differences"])
        if r["ci"]:
            half = (hi - lo) / 2
            note = f"{r['avg_socm']:.4f} ± {half:.4f}   {note}"
        else:
            note = f"{r['avg_socm']:.4f} (no interval)   {note}"
        tx.text(0, y, note, va="center", fontsize=8.5, color="0.15")
        ticks.append(y)
        names.append(textwrap.fill(r["label"], 48))
        y -= 1
    if rows:
        ax.axhline(y + 0.5, color="0.75", lw=0.8)
    for m in models:
        v = m["avg_socm"][dataset]
        xmax = max(xmax, v)
        backbone = m["model"] == m["backbone"]
        ax.plot(
            [v],
            [y],
            marker="D" if backbone else "o",
            ms=6,
            color="0.35",
            mfc="white" if backbone else "0.35",
            ls="none",
            zorder=4,
        )
        tx.text(0, y, f"{v:.3f}", va="center", fontsize=8.5, color="0.35")
        ticks.append(y)
        names.append(f"paper: {model_name(m['model'])}")
        y -= 1
    ax.set_yticks(ticks, names, fontsize=8.5)
    for tick, name in zip(ax.get_yticklabels(), names, strict=True):
        if name.startswith("paper: ") and name[7:].lower() in measured:
            tick.set_fontweight("bold")
    ax.set_ylim(y + 0.4, 0.6)
    ax.set_xlim(0, max(xmax * 1.08, 0.1))
    tx.set_xlim(0, 1)
    ax.set_xlabel(
        "average SOCM over pairs\n"
        + textwrap.fill(
            "filled: measured as the paper did; hollow: measured differently (what differs "
            "is named on the right). Paper: ◇ backbone, ● fine-tuned; bold: a model you "
            "measured.",
            95,
        ),
        fontsize=9,
    )
    ax.grid(axis="x", color="0.92", lw=0.8)
    ax.set_axisbelow(True)
    level = rows[0]["ci_level"] if rows else 0.95
    spec = table["datasets"][dataset]
    size = spec.get("n_texts") or spec.get("n_pairs")
    unit = "texts" if spec.get("n_texts") else "pairs"
    what = f"{size:,} {unit} of {spec.get('corpus') or spec.get('hf_dataset') or dataset}"
    ax.set_title(
        f"Your runs (± {level:.0%} CI) beside the paper's {len(models)} models "
        f"(published averages, {dataset}: {what})",
        loc="left",
        fontsize=10.5,
    )
    if not any(math.isfinite(r["avg_socm"]) for r in rows):
        ax.text(0.5, 0.5, "no runs", transform=ax.transAxes, ha="center", color="0.4")
    return fig
