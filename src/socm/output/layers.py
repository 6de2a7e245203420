"""The layers figure: per-layer curves of ``socm layers`` and ``socm mechanism`` results.

:func:`layers_figure` draws one panel per quantity a run folder holds — normalised spread (with
the bound 2), mean within-text cosine, the average SOCM, d_μ and d_Σ over pairs per layer
(``socm layers --socm``, with their confidence intervals as bands) and the mechanism's λ, r and
C (defined in :data:`LAYER_DEFINITIONS`, written under the figure) — per-text quantities as
the median over texts with an interquartile band, one colour, marker and line style per run,
every panel on the same x-axis: the layer, or the relative depth layer / L
(:func:`layer_depth` gives L) so that models of different depths compare. The y-axes can be
logarithmic (``log``), so that layer 0 does not squash the others; a panel names the runs that
lack its quantity (:func:`missing_metrics`) instead of leaving them out silently.
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

__all__ = ["LAYER_DEFINITIONS", "LOG_SPAN", "layer_depth", "layers_figure", "missing_metrics"]

LOG_SPAN = 4.0
"""``log="auto"``: a panel is logarithmic when its values span more than this factor."""
_LAYER_METRICS = [
    ("layers.parquet", "normalized_spread", r"Normalised spread tr $\Sigma$", r"tr $\Sigma$"),
    ("layers.parquet", "avg_cos", "Mean cosine of a text's tokens", "mean cosine"),
    ("layers_summary.json", "avg_socm", "Average SOCM over pairs", "avg SOCM"),
    ("layers_summary.json", "avg_d_mu", r"Average $d_\mu$ over pairs", r"avg $d_\mu$"),
    ("layers_summary.json", "avg_d_sigma", r"Average $d_\Sigma$ over pairs", r"avg $d_\Sigma$"),
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
    "interquartile range; averages over pairs (socm layers --socm): band = 95% confidence "
    "interval."
)
"""What the mechanism panels' symbols mean (written under the figure and the report's)."""


def _has_layer_metric(run: Path, col: str) -> bool:
    """Whether ``layers_summary.json`` holds ``col`` for some layer."""
    f = run / "layers_summary.json"
    if not f.is_file():
        return False
    try:
        recs = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(recs, list) and any(
        isinstance(r, dict) and r.get(col) is not None for r in recs
    )


def _has(run: Path, metric: tuple[str, str, str, str]) -> bool:
    """Whether a run folder holds a panel's quantity."""
    fname, col = metric[0], metric[1]
    if fname.endswith(".json"):
        return _has_layer_metric(run, col)
    return (run / fname).is_file()


def missing_metrics(runs: list[str | Path]) -> dict[str, list[Path]]:
    """Per panel some run has, the runs that lack its quantity.

    Parameters
    ----------
    runs : list of str or Path
        Run folders.

    Returns
    -------
    dict
        Panel title (plain text) → the runs without it (only panels with such runs).
    """
    runs = [Path(r) for r in runs]
    out = {}
    for m in _present(runs):
        lack = [r for r in runs if not _has(r, m)]
        if lack:
            out[_plain(m[2])] = lack
    return out


def _plain(title: str) -> str:
    """A panel title without TeX markup: ``Average $d_\\mu$`` → ``Average d_μ``."""
    for a, b in (("$d_\\mu$", "d_μ"), ("$d_\\Sigma$", "d_Σ"), ("$\\Sigma$", "Σ")):
        title = title.replace(a, b)
    for a, b in (("\\lambda", "λ"), ("\\|", "‖"), ("$", "")):
        title = title.replace(a, b)
    return title


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
    return [m for m in _LAYER_METRICS if any(_has(r, m) for r in runs)]


def _curve(ax: Any, f: Path, col: str, scale: float, k: int) -> tuple[Any, float] | None:
    """Run ``k``'s curve of ``col`` from file ``f`` (per-layer records: a line; per text and
    layer: median and interquartile band); returns (line, largest x) or None when the file
    is missing or holds no value of ``col``."""
    import pyarrow.parquet as pq

    if not f.is_file():
        return None
    color, marker, ls = okabe(k), MARKERS[k % len(MARKERS)], LINESTYLES[k % 4]
    if f.name.endswith(".json"):
        recs = json.loads(f.read_text(encoding="utf-8"))
        recs = [r for r in recs if isinstance(r, dict) and r.get(col) is not None]
        if not recs:
            return None
        xs = np.array([r["layer"] for r in recs], dtype=float)
        ys = np.array([r[col] for r in recs], dtype=float)
        (line,) = ax.plot(xs * scale, ys, marker=marker, ms=3.5, color=color, ls=ls)
        ci = [r.get(f"{col}_ci95") for r in recs]
        if all(isinstance(c, list | tuple) and len(c) == 2 and None not in c for c in ci):
            band = np.array(ci, dtype=float)
            ax.fill_between(xs * scale, band[:, 0], band[:, 1], color=color, alpha=0.2, lw=0)
    else:
        t = pq.read_table(f, columns=["layer", col]).to_pydict()
        layer, val = np.array(t["layer"]), np.array(t[col], dtype=float)
        xs = np.unique(layer)
        q = np.array([np.nanquantile(val[layer == x], [0.25, 0.5, 0.75]) for x in xs])
        (line,) = ax.plot(xs * scale, q[:, 1], marker=marker, ms=3.5, color=color, ls=ls)
        ax.fill_between(xs * scale, q[:, 0], q[:, 2], color=color, alpha=0.15, lw=0)
    return line, float(xs.max() * scale)


def _reference_line(ax: Any, col: str) -> None:
    """The bound 2 on the spread panel, the line 1 on the λ and C panels (their labels on a
    white box above the curves, so that no line strikes them through)."""
    if col == "normalized_spread":
        ax.axhline(SPREAD_BOUND, color="0.25", lw=0.9, ls=(0, (4, 3)), zorder=1)
        ax.annotate(
            "2: the bound behind $d_\\Sigma \\leq 1$",
            (1.0, SPREAD_BOUND),
            xycoords=ax.get_yaxis_transform(),
            xytext=(-3, 3),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=8,
            color="0.25",
            zorder=10,
            bbox={"boxstyle": "square,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
        )
    if col in ("lambda", "C"):
        ax.axhline(1.0, color="0.25", lw=0.9, ls=(0, (4, 3)), zorder=1)


def _log_axis(ax: Any, log: bool | str) -> bool:
    """Make the panel's y-axis logarithmic (``log=True``, or ``"auto"`` when its values,
    all positive, span more than :data:`LOG_SPAN`); returns whether it did."""
    ys = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in ax.lines] or [[]])
    ys = ys[np.isfinite(ys)]
    if not len(ys) or ys.min() <= 0 or log is False:
        return False
    if log == "auto" and ys.max() / ys.min() <= LOG_SPAN:
        return False
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    return True


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
def layers_figure(
    runs: list[str | Path], relative: bool = False, log: bool | str = False
) -> Figure:
    """Per-layer curves, one style per run, for what the runs contain.

    Panels: normalised spread (with the bound 2), mean within-text cosine, average SOCM,
    d_μ and d_Σ over pairs per layer (``socm layers --socm``; bands: their confidence
    intervals, when the run recorded them), and the mechanism quantities λ (with 1), r and
    C; every panel shares the same x-axis. A panel writes the runs that lack its quantity.

    Parameters
    ----------
    runs : list of str or Path
        Run folders with ``socm layers`` and/or ``socm mechanism`` results.
    relative : bool
        x = layer / L (L: the run's number of transformer layers), so models of different
        depths compare.
    log : bool or "auto"
        Logarithmic y-axes (of the panels whose values are all positive); ``"auto"``: for
        the panels whose values span more than :data:`LOG_SPAN`.

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
    names = dict(zip(map(str, runs), run_labels(runs), strict=True))
    without = [names[str(r)] for r in runs if not any(_has(r, m) for m in present)]
    xmax = 0.0
    handles: dict[str, Any] = {}
    for ax, (fname, col, title, ylabel) in zip(axes.flat, present, strict=False):
        lack = []
        for k, run in enumerate(runs):
            f = run / fname
            drawn = _curve(ax, f, col, 1.0 / depths[run] if relative and depths[run] else 1.0, k)
            if drawn is not None:
                xmax = max(xmax, drawn[1])
                handles.setdefault(str(run), drawn[0])
            else:
                lack.append(names[str(run)])
        logged = _log_axis(ax, log)
        _reference_line(ax, col)
        partly = [name for name in lack if name not in without]
        ax.set_title(
            title
            + (" (log scale)" if logged else "")
            + ("\n" + textwrap.fill("not measured: " + "; ".join(partly), 55) if partly else ""),
            fontsize=10 if not partly else 9,
        )
        ax.set_ylabel(ylabel)
    for ax in list(axes.flat)[len(present) :]:
        ax.set_visible(False)
    _x_axes(axes, xmax, relative)
    labels = [names[str(r)] for r in runs if str(r) in handles]
    fig.legend(
        [handles[str(r)] for r in runs if str(r) in handles],
        labels,
        loc="outside upper center",
        ncols=1 if len(labels) > 2 else len(labels),
        fontsize=8,
    )
    fig.suptitle(
        "Layer by layer"
        + (
            "\n"
            + textwrap.fill("no per-layer results (not in this figure): " + "; ".join(without), 150)
            if without
            else ""
        ),
        fontsize=11 if not without else 10,
        x=0.02,
        ha="left",
    )
    if any(p[0] == "mechanism.parquet" for p in present):
        width = int(ncols * 4.7 * 72 / (0.55 * 7) * 0.9)  # 7-pt characters across the figure
        fig.supxlabel(
            textwrap.fill(LAYER_DEFINITIONS, width), fontsize=7, color="0.25", x=0.01, ha="left"
        )
    return fig
