"""The pair figure: two texts' tokens and covariance spectra, one column per model.

:func:`pair_figure` draws, for each model, both texts' unit-mean tokens projected to 2-D by a
truncated SVD (with the share of the squared norm the plane holds), their means, 75%-mass
ellipses (:data:`ELLIPSE_K`), the tokens farthest from their mean labelled without collisions
and, below, each text's sorted covariance eigenvalues (:func:`covariance_eigenvalues`: the
shape difference d_Σ measures), optionally with the pair's SOCM percentile within a run.
"""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np

from socm.output.common import model_name
from socm.output.style import TEXT_COLORS, place_labels, pyplot, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ELLIPSE_K", "covariance_eigenvalues", "pair_figure"]

ELLIPSE_K = math.sqrt(-2 * math.log(0.25))
"""Mahalanobis radius of the 75%-mass ellipse of a 2-D Gaussian: P(r² ≤ k²) = 1 − e^{−k²/2}."""
_TEXT_MARKERS = ("o", "^")
"""Markers of text A and text B."""


def covariance_eigenvalues(tokens: np.ndarray) -> np.ndarray:
    r"""Eigenvalues of a text's token covariance :math:`\Sigma`, largest first (nonzero ones).

    Parameters
    ----------
    tokens : numpy.ndarray, shape (n, D)
        Unit-mean token embeddings :math:`\tilde X`.

    Returns
    -------
    numpy.ndarray
        At most :math:`n - 1` eigenvalues; they sum to the normalised spread
        :math:`\operatorname{tr}\Sigma`.

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    >>> covariance_eigenvalues(x).round(3).tolist()
    [2.0, 0.5]
    """
    x = np.asarray(tokens, dtype=np.float64)
    c = x - x.mean(0)
    s = np.linalg.svd(c, compute_uv=False)
    ev = s**2 / len(x)
    return ev[ev > ev.max(initial=0) * 1e-12] if ev.size else ev


def _project(tokens: list[np.ndarray], means: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Top-2 right singular vectors of the stacked tokens and means (truncated SVD, uncentred)
    and the share of the stack's squared norm they hold."""
    stack = np.vstack([*tokens, *[m[None] for m in means]])
    _, s, vt = np.linalg.svd(stack, full_matrices=False)
    share = float((s[:2] ** 2).sum() / (s**2).sum()) if s.size else math.nan
    return vt[:2].T, share


def _ellipse(ax: Any, pts: np.ndarray, color: str, ls: str = "-") -> None:
    """The 75%-mass ellipse of a text's projected tokens (shaded, and its outline)."""
    from matplotlib.patches import Ellipse

    if len(pts) < 2:
        return
    cov = np.cov(pts.T, bias=True)
    w, v = np.linalg.eigh(cov)
    w = np.clip(w, 0, None)
    angle = math.degrees(math.atan2(v[1, 1], v[0, 1]))
    ax.add_patch(
        Ellipse(
            pts.mean(0),
            2 * ELLIPSE_K * math.sqrt(w[1]),
            2 * ELLIPSE_K * math.sqrt(w[0]),
            angle=angle,
            fc=color,
            alpha=0.12,
            ec=color,
            lw=1.5,
            ls=ls,
        )
    )
    ax.add_patch(
        Ellipse(
            pts.mean(0),
            2 * ELLIPSE_K * math.sqrt(w[1]),
            2 * ELLIPSE_K * math.sqrt(w[0]),
            angle=angle,
            fc="none",
            ec=color,
            lw=1.5,
            ls=ls,
        )
    )


def _farthest(tok: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` tokens farthest from their text's mean (all when fewer)."""
    d = np.linalg.norm(tok - tok.mean(0), axis=1)
    return np.argsort(-d, kind="stable")[: min(k, len(tok))]


def _tokens_panel(ax: Any, p: dict, pct: dict | None, spreads: list[float]) -> None:
    """One model's tokens in the SVD plane: points, means, ellipses, title and legend."""
    means = [t.mean(0) for t in p["tokens"]]
    basis, share = _project(p["tokens"], means)
    for k, (tok, mean, color) in enumerate(zip(p["tokens"], means, TEXT_COLORS, strict=True)):
        pts = tok @ basis
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            s=22,
            color=color,
            alpha=0.75,
            marker=_TEXT_MARKERS[k],
            label=f"text {'AB'[k]}: {len(tok)} tokens, spread tr Σ = {spreads[k]:.3f}",
        )
        m = mean @ basis
        ax.scatter([m[0]], [m[1]], marker="*", s=340, color=color, ec="k", lw=0.8, zorder=5)
        _ellipse(ax, pts, color, "-" if k == 0 else "--")
    ax.set_aspect("equal", adjustable="datalim")
    title = (
        f"{model_name(p['model'])}\n$d_\\mu$ = {p['d_mu']:.4f} (cosine {1 - 2 * p['d_mu']:.3f}), "
        f"$d_\\Sigma$ = {p['d_sigma']:.4f}, SOCM = {p['socm']:.4f}"
    )
    if pct:
        title += "\n" + textwrap.fill(
            f"SOCM above {pct['percentile']:.1f}% of the {pct['n_pairs']:,} pairs of "
            f"{pct.get('label', 'the run')}",
            62,
        )
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("SVD component 1")
    ax.set_ylabel("SVD component 2")
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1),
        fontsize=8,
        ncols=1,
        title=f"★ mean, ellipse: 75% of tokens; the plane holds {share:.0%} of the "
        "squared norm of tokens and means",
        title_fontsize=7.5,
    )


def _spectra_panel(ax_ev: Any, p: dict, spreads: list[float]) -> None:
    """Both texts' sorted covariance eigenvalues (log scale)."""
    for k, tok in enumerate(p["tokens"]):
        ev = covariance_eigenvalues(tok)
        ax_ev.plot(
            np.arange(1, len(ev) + 1),
            ev,
            marker=_TEXT_MARKERS[k],
            ms=3.5,
            color=TEXT_COLORS[k],
            ls="-" if k == 0 else "--",
            label=f"text {'AB'[k]} (sum = tr Σ = {spreads[k]:.3f})",
        )
    ax_ev.set_yscale("log")
    ax_ev.xaxis.get_major_locator().set_params(integer=True)
    ax_ev.set_xlabel("eigenvalue rank")
    ax_ev.set_ylabel("covariance eigenvalue")
    ax_ev.set_title("Shape of each text's tokens: sorted eigenvalues of Σ", fontsize=9, loc="left")
    ax_ev.legend(fontsize=7.5)


def _label_tokens(ax: Any, p: dict, label_k: int) -> None:
    """Label each text's ``label_k`` tokens farthest from its mean, avoiding every point."""
    means = [t.mean(0) for t in p["tokens"]]
    basis, _ = _project(p["tokens"], means)
    xs, ys, labels, colors = [], [], [], []
    every = []
    for k, tok in enumerate(p["tokens"]):
        pts = tok @ basis
        every += [tuple(q) for q in pts]
        for i in _farthest(tok, label_k):
            xs.append(float(pts[i, 0]))
            ys.append(float(pts[i, 1]))
            labels.append(str(p["labels"][k][i]))
            colors.append(TEXT_COLORS[k])
    place_labels(ax, xs, ys, labels, colors=colors, fontsize=7, avoid=every)


@styled
def pair_figure(
    panels: list[dict],
    label_k: int = 8,
    percentiles: list[dict | None] | None = None,
) -> Figure:
    """One column per model: the tokens in 2-D above, the covariance spectra below.

    Parameters
    ----------
    panels : list of dict
        :func:`socm.analyses.pair.pair_panel` results: ``model``, ``texts``, ``tokens``
        (unit-mean arrays), ``labels`` (token strings), ``d_mu``, ``d_sigma``, ``socm`` and
        optionally ``normalized_spread``.
    label_k : int
        Label at most this many tokens per text: those farthest from their text's mean
        (placed so that labels do not collide).
    percentiles : list of dict or None, optional
        Per panel, :func:`socm.output.data.socm_percentile` of the pair within a run (with
        ``run`` naming it), or None.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    plt = pyplot()
    n = len(panels)
    fig, axes = plt.subplots(
        2, n, figsize=(6.4 * n, 9.4), squeeze=False, gridspec_kw={"height_ratios": (3, 1.5)}
    )
    percentiles = percentiles or [None] * n
    for col, (p, pct) in enumerate(zip(panels, percentiles, strict=True)):
        spreads = p.get("normalized_spread") or [
            float(covariance_eigenvalues(t).sum()) for t in p["tokens"]
        ]
        _tokens_panel(axes[0, col], p, pct, spreads)
        _spectra_panel(axes[1, col], p, spreads)
    fig.tight_layout()
    for col, p in enumerate(panels):  # after the layout: labels are placed in display space
        _label_tokens(axes[0, col], p, label_k)
    a, b = panels[0]["texts"]
    fig.suptitle(
        f"A: {a[:100]}{'…' if len(a) > 100 else ''}\nB: {b[:100]}{'…' if len(b) > 100 else ''}",
        fontsize=9,
        y=1.035,
        x=0.02,
        ha="left",
    )
    return fig
