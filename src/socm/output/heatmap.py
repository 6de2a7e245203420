r"""The heatmap: SOCM :math:`= (1 - d_\mu)\,d_\Sigma` over the :math:`(d_\mu, d_\Sigma)` plane.

:func:`heatmap` draws the surface with viridis, labelled SOCM contours, the line
:math:`d_\Sigma = 1`, the four corners explained and a cosine axis
(:math:`\cos = 1 - 2 d_\mu`); the :math:`d_\Sigma` range covers the data (values above 1 are
real). Runs given as ``overlay`` are drawn on top: the regions holding 50% and 90% of each
run's pairs and its mean. :func:`socm_grid` is the surface on the unit square.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from socm.core.metrics import socm_from_parts
from socm.output.common import cosine_axis, d_sigma_line, density_contours, socm_contours
from socm.output.data import Limits, scan_pairs, shared_limits, socm_surface
from socm.output.style import LINESTYLES, MARKERS, SOCM_CMAP, pyplot, run_labels, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["X_LABEL", "Y_LABEL", "heatmap", "socm_grid"]

X_LABEL = r"$d_\mu$ (distance of the mean-pooled embeddings)"
"""Label of the :math:`d_\\mu` axis."""
Y_LABEL = r"$d_\Sigma$ (Bures–Wasserstein distance of the token covariances)"
"""Label of the :math:`d_\\Sigma` axis."""
_OVERLAY_COLORS = ["#D55E00", "#FFFFFF", "#CC79A7", "#000000", "#E69F00", "#56B4E9"]
"""Run colours on viridis: the Okabe–Ito hues that stand out on it (white and black read on
viridis; the legend sits on grey so that white shows)."""
_CORNERS = [
    (0.02, 0.02, "similar means, similar covariances:\nSOCM ≈ 0", "left", "bottom"),
    (0.98, 0.02, "different means, similar covariances:\nSOCM ≈ 0", "right", "bottom"),
    (0.02, 0.98, "similar means, different covariances:\ncollapse (SOCM high)", "left", "top"),
    (0.98, 0.98, "different means,\ndifferent covariances:\nSOCM ≈ 0", "right", "top"),
]


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


def _overlay_runs(ax: Any, overlay: list[Path], limits: Limits) -> list[Any]:
    """Each run's 50% / 90% regions and its mean on the heatmap; returns the legend handles."""
    from matplotlib.lines import Line2D

    handles = []
    names = run_labels(overlay)
    for k, run in enumerate(overlay):
        scan = scan_pairs(run, limits)
        color = _OVERLAY_COLORS[k % len(_OVERLAY_COLORS)]
        ls = LINESTYLES[k % len(LINESTYLES)]
        density_contours(ax, scan, color, ls, fill=False)
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
    return handles


@styled
def heatmap(
    overlay: list[str | Path] | None = None,
    limits: Limits | None = None,
) -> Figure:
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
    socm_contours(ax, limits, vmax=limits.socm)
    d_sigma_line(ax, limits)
    box = {"boxstyle": "round,pad=0.3", "fc": "white", "alpha": 0.8, "lw": 0}
    for x, y, text, ha, va in _CORNERS:
        ax.text(x, y, text, ha=ha, va=va, fontsize=7.5, bbox=box, transform=ax.transAxes, zorder=7)
    handles = _overlay_runs(ax, overlay, limits)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, limits.d_sigma)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    cosine_axis(ax)
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
