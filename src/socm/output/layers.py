"""The layers figure: per-layer curves of ``socm layers`` and ``socm mechanism`` results.

:func:`layers_figure` draws one panel per quantity a run folder holds — normalised spread (with
the bound 2), mean within-text cosine, average SOCM per layer (``socm layers --socm``) and the
mechanism's λ, r and C (defined in :data:`LAYER_DEFINITIONS`, written under the figure) — as
the median over texts with an interquartile band, one colour, marker and line style per run,
every panel on the same x-axis: the layer, or the relative depth layer / L
(:func:`layer_depth` gives L) so that models of different depths compare.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from socm.core.stats import SPREAD_BOUND
from socm.errors import SocmError
from socm.output.style import LINESTYLES, MARKERS, okabe, pyplot, run_labels, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["LAYER_DEFINITIONS", "layer_depth", "layers_figure"]

_LAYER_METRICS = [
    ("layers.parquet", "normalized_spread", r"Normalised spread tr $\Sigma$", r"tr $\Sigma$"),
    ("layers.parquet", "avg_cos", "Mean cosine of a text's tokens", "mean cosine"),
    ("layers_summary.json", "avg_socm", "Average SOCM over pairs", "avg SOCM"),
    ("mechanism.parquet", "lambda", r"$\lambda$: attention contraction", r"$\lambda$"),
    ("mechanism.parquet", "r", r"$r = S(H)/\|\mu(Y)\|^2$", "r"),
    ("mechanism.parquet", "C", r"$C$: token-wise map's spread ratio", "C"),
]
"""The panels: (file, column, title, y label), drawn when some run has them."""
LAYER_DEFINITIONS = (
    "H: a layer's input tokens; Y = H + attention output (the residual, before the first "
    "LayerNorm); X = g(Y): the layer's output after the token-wise map g (LayerNorm, feed-forward "
    "+ residual, LayerNorm). S(M): mean squared distance of tokens to their mean; μ: the mean. "
    "λ = mean over heads of ‖W_o W_v‖² ‖PA‖²_F/(n − 1) (< 1: attention pulls tokens together); "
    "r = S(H)/‖μ(Y)‖²; C = [S(X)/‖μ(X)‖²] / [S(Y)/‖μ(Y)‖²]. Median over texts, band: "
    "interquartile range; average SOCM: mean over pairs (socm layers --socm)."
)
"""What the mechanism panels' symbols mean (written under the figure and the report's)."""


def _has_layer_socm(run: Path) -> bool:
    """Whether ``layers_summary.json`` holds an average SOCM for some layer."""
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


def _present(runs: list[Path]) -> list[tuple[str, str, str, str]]:
    """The panels some run has results for, in :data:`_LAYER_METRICS` order."""
    present = []
    for m in _LAYER_METRICS:
        if m[1] == "avg_socm":
            if any(_has_layer_socm(r) for r in runs):
                present.append(m)
        elif any((r / m[0]).is_file() for r in runs):
            present.append(m)
    return present


def _curve(ax: Any, f: Path, col: str, scale: float, k: int) -> tuple[Any, float] | None:
    """Run ``k``'s curve of ``col`` from file ``f`` (per-layer records: a line; per text and
    layer: median and interquartile band); returns (line, largest x) or None when empty."""
    import pyarrow.parquet as pq

    color, marker, ls = okabe(k), MARKERS[k % len(MARKERS)], LINESTYLES[k % 4]
    if f.name.endswith(".json"):
        recs = json.loads(f.read_text(encoding="utf-8"))
        recs = [r for r in recs if isinstance(r, dict) and r.get(col) is not None]
        if not recs:
            return None
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
    return line, float(xs.max() * scale)


def _reference_line(ax: Any, col: str) -> None:
    """The bound 2 on the spread panel, the line 1 on the λ and C panels."""
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


def _x_axes(axes: Any, xmax: float, relative: bool) -> None:
    """The shared x-axis of every panel: limits, label, integer ticks for layers."""
    for ax in axes.flat:
        ax.set_xlim(-0.03 * max(xmax, 1) if not relative else -0.03, xmax * 1.03 if xmax else 1)
        ax.tick_params(labelbottom=True)
        ax.set_xlabel(
            "relative depth: layer / L (0 = embeddings)" if relative else "layer (0 = embeddings)"
        )
    if not relative:
        for ax in axes.flat:
            ax.xaxis.get_major_locator().set_params(integer=True)


@styled
def layers_figure(runs: list[str | Path], relative: bool = False) -> Figure:
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
    plt = pyplot()
    runs = [Path(r) for r in runs]
    present = _present(runs)
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
            scale = 1.0 / depths[run] if relative and depths[run] else 1.0
            drawn = _curve(ax, f, col, scale, k)
            if drawn is None:
                continue
            xmax = max(xmax, drawn[1])
            handles.setdefault(str(run), drawn[0])
        _reference_line(ax, col)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel)
    for ax in list(axes.flat)[len(present) :]:
        ax.set_visible(False)
    _x_axes(axes, xmax, relative)
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
        width = int(ncols * 4.7 * 72 / (0.55 * 7) * 0.9)  # 7-pt characters across the figure
        fig.supxlabel(
            textwrap.fill(LAYER_DEFINITIONS, width), fontsize=7, color="0.25", x=0.01, ha="left"
        )
    return fig
