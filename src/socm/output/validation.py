"""The figure of ``socm validate``: a run's labels against d_Σ within bins of the cosine.

If d_Σ told the labels apart beyond the cosine, the label would fall (or rise) with d_Σ
inside each panel, where the cosine is nearly fixed; the panels show the pairs and the mean
label along d_Σ, with the Spearman correlation inside the bin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from socm.analyses.validate import read_labelled_pairs, spearman
from socm.output.style import RUN_COLORS, pyplot, run_label, save, styled

__all__ = ["validation_figure", "write_validation_figure"]

MAX_BINS = 5
"""Cosine bins (equal counts of pairs), fewer when a bin would hold under 20 pairs."""
LABEL_STEPS = 8
"""Groups of a bin's pairs along d_Σ (equal counts) whose mean label is drawn."""


def _bins(order: np.ndarray) -> list[np.ndarray]:
    """Positions split into up to :data:`MAX_BINS` groups of equal count, in ``order``."""
    k = int(min(MAX_BINS, max(1, len(order) // 20)))
    return [b for b in np.array_split(order, k) if len(b)]


@styled
def validation_figure(run: str | Path, threshold: float | None = None) -> Any:
    """The label against d_Σ within bins of the cosine (equal counts of pairs).

    Parameters
    ----------
    run : str or Path
        A run folder scored on labelled pairs
        (:func:`socm.analyses.validate.read_labelled_pairs`).
    threshold : float or None
        Drawn as a dashed line (None: none).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per cosine bin: every pair (d_Σ, label), the mean label of the bin's pairs in
        groups of equal count along d_Σ (black), and the bin's cosine range, number of pairs
        and Spearman ρ of label and d_Σ within it.

    Raises
    ------
    SocmError
        What :func:`~socm.analyses.validate.read_labelled_pairs` refuses.
    """
    plt = pyplot()
    data = read_labelled_pairs(run)
    cos = data.measures["cosine"]
    dsig = data.measures["d_sigma"]
    bins = _bins(np.argsort(cos, kind="stable"))
    fig, axes = plt.subplots(
        1, len(bins), figsize=(2.6 * len(bins) + 0.6, 3.2), sharex=True, sharey=True, squeeze=False
    )
    alpha = float(np.clip(60 / max(len(data) / len(bins), 1), 0.08, 0.7))
    for ax, idx in zip(axes[0], bins, strict=True):
        x, y = dsig[idx], data.label[idx]
        ax.scatter(
            x, y, s=6, color=RUN_COLORS[0], alpha=alpha, linewidths=0, rasterized=len(x) > 2000
        )
        groups = np.array_split(np.argsort(x, kind="stable"), min(LABEL_STEPS, len(x)))
        gx = [float(np.median(x[g])) for g in groups if len(g)]
        gy = [float(np.mean(y[g])) for g in groups if len(g)]
        ax.plot(gx, gy, color="black", marker="o", ms=3.5, lw=1.3, label="mean label")
        if threshold is not None:
            ax.axhline(threshold, color="0.5", lw=0.8, ls="--", label=f"threshold {threshold:g}")
        rho = spearman(y, x)
        rho_text = "n/a" if not np.isfinite(rho) else f"{rho:+.2f}"
        ax.set_title(
            f"cosine {cos[idx].min():.2f} to {cos[idx].max():.2f}\n"
            f"{len(idx):,} pairs, Spearman {rho_text}",
            fontsize=9,
        )
        ax.set_xlabel(r"$d_\Sigma$")
    axes[0][0].set_ylabel("label")
    axes[0][-1].legend(loc="best", fontsize=7.5)
    fig.suptitle(
        f"{run_label(run)}: label against $d_\\Sigma$ within cosine bins (equal counts)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def write_validation_figure(
    run: str | Path, out: str | Path, threshold: float | None = None
) -> Path:
    """Draw :func:`validation_figure` and save it (.png, .svg or .pdf from the suffix).

    Parameters
    ----------
    run : str or Path
        The run folder.
    out : str or Path
        The figure's file.
    threshold : float or None
        Drawn as a dashed line.

    Returns
    -------
    Path
        ``out``.
    """
    return save(validation_figure(run, threshold), out)
