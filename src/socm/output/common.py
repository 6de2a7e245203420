r"""Drawing pieces shared by several figures of the :math:`(d_\mu, d_\Sigma)` plane.

SOCM contour lines over the plotted range (:func:`socm_contours`), the top axis in cosine
:math:`= 1 - 2 d_\mu` (:func:`cosine_axis`), the line :math:`d_\Sigma = 1`
(:func:`d_sigma_line`), a run's 50% and 90% highest-density regions (:func:`density_contours`)
and a model's short name (:func:`model_name`). The heatmap and the scatter draw the first four;
the pair and correlation figures name models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from socm.output.data import Limits, PairScan, socm_surface
from socm.output.style import hdr_levels

__all__ = [
    "COSINE",
    "SOCM_LEVELS",
    "cosine_axis",
    "d_sigma_line",
    "density_contours",
    "model_name",
    "run_folders",
    "socm_contours",
]

SOCM_LEVELS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
"""SOCM contour levels (those inside the plotted range are drawn)."""
COSINE = r"cosine $= 1 - 2\,d_\mu$"
"""Label of the cosine axis."""


def run_folders(runs: Any) -> list[Path]:
    """A figure's run folders: one folder (str or Path) or a list or tuple of them."""
    return [Path(r) for r in (runs if isinstance(runs, list | tuple) else [runs])]


def model_name(model: Any) -> str:
    """The last path component of a model id (``org/name`` → ``name``).

    Parameters
    ----------
    model : Any
        A model id or path.

    Returns
    -------
    str
        Its last component.

    Examples
    --------
    >>> model_name("sentence-transformers/all-MiniLM-L6-v2/")
    'all-MiniLM-L6-v2'
    """
    return str(model).rstrip("/").split("/")[-1]


def cosine_axis(ax: Any) -> Any:
    r"""A secondary x-axis on top showing cosine = 1 − 2 d_μ.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes whose x-axis is :math:`d_\mu`.

    Returns
    -------
    matplotlib.axes.Axes
        The secondary axis.
    """
    sec = ax.secondary_xaxis("top", functions=(lambda d: 1 - 2 * d, lambda c: (1 - c) / 2))
    sec.set_xlabel(COSINE, fontsize=9)
    sec.tick_params(labelsize=8)
    return sec


def socm_contours(
    ax: Any,
    limits: Limits,
    color: str | None = None,
    fontsize: float = 7.5,
    label_x: float = 0.62,
    vmax: float | None = None,
) -> None:
    r"""SOCM contour lines over the plotted range, labelled near ``label_x``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The :math:`(d_\mu, d_\Sigma)` axes.
    limits : Limits
        The plotted range.
    color : str, optional
        Line colour (None: white or black against the viridis colour, by ``vmax``).
    fontsize : float
        Label size in points.
    label_x : float
        Where labels go, as a share of the :math:`d_\mu` range.
    vmax : float, optional
        Upper limit of the viridis scale under the lines (None: the surface's maximum).
    """
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


def d_sigma_line(ax: Any, limits: Limits, text: bool = True) -> None:
    r"""The dashed line :math:`d_\Sigma = 1`, optionally with its meaning written on it.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The :math:`(d_\mu, d_\Sigma)` axes.
    limits : Limits
        The plotted range (places the text).
    text : bool
        Write what the line means.
    """
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


def density_contours(ax: Any, scan: PairScan, color: str, ls: Any, fill: bool = True) -> None:
    r"""The 50% and 90% highest-density regions of a run's pairs, lightly smoothed.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The :math:`(d_\mu, d_\Sigma)` axes.
    scan : PairScan
        The run's pair scan (its 2-D histogram).
    color : str
        The run's colour.
    ls : Any
        The run's line style.
    fill : bool
        Shade the 90% region.
    """
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
