r"""Figures (the "plots/report" stage): matplotlib, PNG or SVG, one style for all.

* :func:`heatmap` — SOCM :math:`= (1 - d_\mu)\,d_\Sigma` over the :math:`(d_\mu, d_\Sigma)` unit
  square, green (no collapse) to red (collapse), corners labelled.
* :func:`scatter` — a run's pairs in the :math:`(d_\mu, d_\Sigma)` plane coloured by SOCM, with
  marginal histograms (bin width 0.03), reproducibly subsampled.
* :func:`pair_figure` — two texts' unit-mean tokens projected to 2-D by a truncated SVD fitted
  jointly on both texts' tokens and their two means; means as stars, 75%-mass ellipses.
* :func:`layers_figure` — per-layer curves (median with interquartile band), one line per run.
* :func:`correlation_figure` — average SOCM vs downstream score, one labelled point per model.
"""

from __future__ import annotations

import functools
import io
import json
import math
from pathlib import Path

import numpy as np

from socm.core.metrics import socm_from_parts
from socm.errors import SocmError
from socm.files import atomic_write_bytes
from socm.measure.rundir import read_summary, run_file

__all__ = [
    "ELLIPSE_K",
    "STYLE",
    "correlation_figure",
    "figure_bytes",
    "heatmap",
    "layers_figure",
    "pair_figure",
    "pyplot",
    "read_pairs",
    "save",
    "scatter",
    "socm_grid",
]

CMAP = "RdYlGn_r"  # green = no collapse, red = collapse
LINE_COLORS = [
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
]
TEXT_COLORS = ("#1f77b4", "#d62728")
ELLIPSE_K = math.sqrt(-2 * math.log(0.25))
"""Mahalanobis radius of the 75%-mass ellipse of a 2-D Gaussian: P(r² ≤ k²) = 1 − e^{−k²/2}."""
FAMILY_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
}
"""The figures' matplotlib style, applied with ``rc_context`` (the caller's settings stay)."""


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def styled(fn):
    """Run a figure-building function inside ``rc_context(STYLE)``."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with pyplot().rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def figure_bytes(fig, fmt: str = "png", dpi: int = 150) -> bytes:
    """Render a figure to bytes (``png`` or ``svg``) and close it."""
    buf = io.BytesIO()
    with pyplot().rc_context(STYLE):
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return buf.getvalue()


def save(fig, path: str | Path, dpi: int = 150) -> Path:
    """Save a figure (format from the suffix: .png or .svg) atomically and close it."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    if fmt not in ("png", "svg"):
        raise SocmError(f"figures are written as .png or .svg, not {path.suffix!r}")
    atomic_write_bytes(path, figure_bytes(fig, fmt, dpi))
    return path


def _label(run: Path) -> str:
    for name in ("summary.json", "layers_info.json", "mechanism_info.json"):
        f = Path(run) / name
        if f.is_file():
            return json.loads(f.read_text(encoding="utf-8"))["model"].split("/")[-1]
    return Path(run).name


# --------------------------------------------------------------------------- 1. heatmap
def socm_grid(n: int = 201) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""(d_μ grid, d_Σ grid, SOCM) on the unit square (SOCM from ``socm_from_parts``)."""
    dmu, dsig = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n))
    return dmu, dsig, socm_from_parts(dmu, dsig)


@styled
def heatmap():
    """SOCM over the (d_μ, d_Σ) unit square with the four corners explained."""
    plt = pyplot()
    dmu, dsig, val = socm_grid()
    fig, ax = plt.subplots(figsize=(6.2, 5.2))
    im = ax.pcolormesh(dmu, dsig, val, cmap=CMAP, vmin=0, vmax=1, shading="auto")
    cs = ax.contour(dmu, dsig, val, levels=[0.25, 0.5, 0.75], colors="k", linewidths=0.6)
    ax.clabel(cs, fmt="%.2f", fontsize=8)
    box = {"boxstyle": "round,pad=0.3", "fc": "white", "alpha": 0.85, "lw": 0}
    corners = [
        (0.02, 0.03, "similar means\nsimilar covariances\nSOCM = 0", "left", "bottom"),
        (0.98, 0.03, "different means\nsimilar covariances\nSOCM = 0", "right", "bottom"),
        (0.02, 0.97, "similar means\ndifferent covariances\nSOCM = 1: collapse", "left", "top"),
        (0.98, 0.97, "different means\ndifferent covariances\nSOCM = 0", "right", "top"),
    ]
    for x, y, text, ha, va in corners:
        ax.text(x, y, text, ha=ha, va=va, fontsize=8.5, bbox=box, transform=ax.transAxes)
    ax.set_xlabel(r"$d_\mu$ (distance of mean-pooled embeddings)")
    ax.set_ylabel(r"$d_\Sigma$ (Bures–Wasserstein distance of token covariances)")
    ax.set_title(r"SOCM $= (1 - d_\mu)\, d_\Sigma$: what mean pooling loses")
    fig.colorbar(im, ax=ax, label="SOCM (green: none, red: collapse)")
    return fig


# --------------------------------------------------------------------------- 2. scatter
def read_pairs(run: Path, max_points: int = 20_000, seed: int = 0) -> tuple[dict, int]:
    """A run's pairs (d_mu, d_sigma, socm), subsampled reproducibly; returns (columns, total)."""
    import pyarrow.parquet as pq

    table = pq.read_table(run_file(run, "pairs.parquet"), columns=["d_mu", "d_sigma", "socm"])
    cols = {k: table.column(k).to_numpy() for k in ("d_mu", "d_sigma", "socm")}
    total = len(cols["socm"])
    if total > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(total, max_points, replace=False))
        cols = {k: v[idx] for k, v in cols.items()}
    return cols, total


@styled
def scatter(run: Path, max_points: int = 20_000, seed: int = 0):
    """A run's pairs in the (d_μ, d_Σ) plane coloured by SOCM, with marginal histograms."""
    plt = pyplot()
    cols, total = read_pairs(run, max_points, seed)
    s = read_summary(run)
    x, y, c = cols["d_mu"], cols["d_sigma"], cols["socm"]
    fig = plt.figure(figsize=(7, 6.4))
    grid = fig.add_gridspec(
        2, 3, width_ratios=(4, 1, 0.2), height_ratios=(1, 4), wspace=0.15, hspace=0.05
    )
    ax = fig.add_subplot(grid[1, 0])
    top = fig.add_subplot(grid[0, 0], sharex=ax)
    right = fig.add_subplot(grid[1, 1], sharey=ax)
    cax = fig.add_subplot(grid[1, 2])
    vmax = max(1.0, float(np.quantile(c, 0.999)))
    pts = ax.scatter(x, y, c=c, cmap=CMAP, vmin=0, vmax=vmax, s=4, alpha=0.6, linewidths=0)
    xmax = max(1.0, float(x.max()) * 1.02)
    ymax = max(1.0, float(y.max()) * 1.02)
    ax.set_xlim(0, xmax)
    ax.set_ylim(0, ymax)
    if ymax > 1:
        ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
        ax.text(
            xmax * 0.99, 1.0, r"$d_\Sigma = 1$", ha="right", va="bottom", fontsize=8, color="0.3"
        )
    bins_x = np.arange(0, xmax + 0.03, 0.03)
    bins_y = np.arange(0, ymax + 0.03, 0.03)
    top.hist(x, bins=bins_x, color="0.45")
    right.hist(y, bins=bins_y, color="0.45", orientation="horizontal")
    top.tick_params(labelbottom=False)
    right.tick_params(labelleft=False)
    top.set_ylabel("pairs")
    right.set_xlabel("pairs")
    ax.set_xlabel(r"$d_\mu$")
    ax.set_ylabel(r"$d_\Sigma$")
    fig.colorbar(pts, cax=cax, label="SOCM")
    shown = len(x)
    note = (
        f"{shown:,} of {total:,} pairs shown (random subsample, seed {seed})"
        if shown < total
        else f"all {total:,} pairs"
    )
    top.set_title(
        f"{s['model'].split('/')[-1]} on {s['corpus']} ({s['n_texts']:,} texts): "
        f"avg SOCM {s['avg_socm']:.4f}",
        loc="left",
    )
    fig.text(
        0.01,
        0.005,
        f"{note}; marginal histograms: bin width 0.03; numerics: {s['numerics']}",
        fontsize=8,
        color="0.3",
    )
    return fig


# --------------------------------------------------------------------------- 3. pair
def _project(tokens: list[np.ndarray], means: list[np.ndarray]) -> np.ndarray:
    """Top-2 right singular vectors of the stacked tokens and means (truncated SVD, uncentred)."""
    stack = np.vstack([*tokens, *[m[None] for m in means]])
    _, _, vt = np.linalg.svd(stack, full_matrices=False)
    return vt[:2].T


def _ellipse(ax, pts: np.ndarray, color: str) -> None:
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
        )
    )


@styled
def pair_figure(panels: list[dict]):
    """Draw one panel per model; each panel dict has model, texts, tokens (unit-mean arrays),
    labels (token strings), d_mu, d_sigma, socm."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 5.6), squeeze=False)
    for ax, p in zip(axes[0], panels, strict=True):
        means = [t.mean(0) for t in p["tokens"]]
        basis = _project(p["tokens"], means)
        for k, (tok, mean, color) in enumerate(zip(p["tokens"], means, TEXT_COLORS, strict=True)):
            pts = tok @ basis
            ax.scatter(
                pts[:, 0],
                pts[:, 1],
                s=22,
                color=color,
                alpha=0.75,
                label=f"text {'AB'[k]} ({len(tok)} tokens)",
            )
            m = mean @ basis
            ax.scatter([m[0]], [m[1]], marker="*", s=320, color=color, ec="k", lw=0.8, zorder=5)
            _ellipse(ax, pts, color)
            if len(tok) <= 30:
                for (px, py), label in zip(pts, p["labels"][k], strict=True):
                    ax.annotate(
                        label,
                        (px, py),
                        fontsize=7,
                        color=color,
                        alpha=0.9,
                        xytext=(2, 2),
                        textcoords="offset points",
                    )
        ax.set_title(
            f"{p['model'].split('/')[-1]}\n$d_\\mu$ = {p['d_mu']:.4f}, "
            f"$d_\\Sigma$ = {p['d_sigma']:.4f}, SOCM = {p['socm']:.4f}"
        )
        ax.set_xlabel("SVD component 1")
        ax.set_ylabel("SVD component 2")
        ax.legend(loc="best", fontsize=8, title="★ mean, ellipse: 75% mass", title_fontsize=8)
        ax.set_aspect("equal", adjustable="datalim")
    a, b = panels[0]["texts"]
    fig.suptitle(
        f"A: {a[:90]}{'…' if len(a) > 90 else ''}\nB: {b[:90]}{'…' if len(b) > 90 else ''}",
        fontsize=9,
        y=1.02,
        x=0.02,
        ha="left",
    )
    return fig


# --------------------------------------------------------------------------- 4. layers
_LAYER_METRICS = [
    ("layers.parquet", "normalized_spread", "normalized spread tr Σ"),
    ("layers.parquet", "avg_cos", "average within-text cosine"),
    ("mechanism.parquet", "lambda", "λ (attention contraction)"),
    ("mechanism.parquet", "r", "r = S(H)/‖μ(Y)‖²"),
    ("mechanism.parquet", "C", "C (token-wise map)"),
]


@styled
def layers_figure(runs: list[Path]):
    """Per-layer median with interquartile band, one line per run, for what the runs contain."""
    import pyarrow.parquet as pq

    plt = pyplot()
    present = [m for m in _LAYER_METRICS if any((Path(r) / m[0]).is_file() for r in runs)]
    if not present:
        raise SocmError(
            f"{runs[0]}: missing layers.parquet (run socm layers or socm mechanism first)"
        )
    ncols = min(3, len(present))
    nrows = math.ceil(len(present) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.6 * nrows), squeeze=False)
    for ax, (fname, col, title) in zip(axes.flat, present, strict=False):
        for k, run in enumerate(runs):
            f = Path(run) / fname
            if not f.is_file():
                continue
            t = pq.read_table(f, columns=["layer", col]).to_pydict()
            layer, val = np.array(t["layer"]), np.array(t[col], dtype=float)
            xs = np.unique(layer)
            q = np.array([np.nanquantile(val[layer == x], [0.25, 0.5, 0.75]) for x in xs])
            color = LINE_COLORS[k % len(LINE_COLORS)]
            ax.plot(xs, q[:, 1], marker="o", ms=3, color=color, label=_label(run))
            ax.fill_between(xs, q[:, 0], q[:, 2], color=color, alpha=0.18, lw=0)
        if col == "lambda":
            ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
        ax.set_title(title)
        ax.set_xlabel("layer (0 = embeddings)" if fname == "layers.parquet" else "layer")
    for ax in list(axes.flat)[len(present) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("Per layer: median over texts, band = interquartile range", fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- 5. correlation
@styled
def correlation_figure(result: dict, families: dict[str, str] | None = None):
    """Average SOCM (x) vs downstream score (y), one labelled point per model (correlate output)."""
    plt = pyplot()
    families = families or {}
    fams = sorted({families.get(t["model"], "other") for t in result["table"]})
    marker = {f: FAMILY_MARKERS[k % len(FAMILY_MARKERS)] for k, f in enumerate(fams)}
    color = {f: LINE_COLORS[k % len(LINE_COLORS)] for k, f in enumerate(fams)}
    fig, ax = plt.subplots(figsize=(7.2, 5.2))
    for fam in fams:
        pts = [t for t in result["table"] if families.get(t["model"], "other") == fam]
        ax.scatter(
            [t["avg_socm"] for t in pts],
            [t["score"] for t in pts],
            marker=marker[fam],
            s=60,
            color=color[fam],
            label=fam.split("/")[-1] + " family" if fam != "other" else "other",
            edgecolor="k",
            lw=0.5,
        )
        for t in pts:
            ax.annotate(
                t["model"].split("/")[-1],
                (t["avg_socm"], t["score"]),
                fontsize=7,
                xytext=(4, 3),
                textcoords="offset points",
            )
    s = result["socm"]
    ax.set_title(
        f"Collapse vs downstream quality: Spearman ρ = {s['spearman_rho']:.3f}, "
        f"p = {s['p_value']:.3g} (n = {result['n_models']})"
    )
    ax.set_xlabel("average SOCM (lower: less collapse)")
    ax.set_ylabel(result["score_source"])
    ax.legend(fontsize=8, loc="best")
    return fig
