"""The candidates figure of a ``socm mine`` run: what was kept, against what was searched.

:func:`candidates_figure` draws two panels. Left: each kept pair's cosine against its
ranking score (``rank_by``: relative d_Σ, d_Σ or SOCM), coloured by SOCM, over the texts' own
means across their scored candidates (grey: every searched text, so the kept pairs stand
against the whole search), with the cosine quantiles of random pairs of the corpus as
vertical lines (what the report's cosine percentiles are measured against). Right: the same
score against the token count of the pair's shorter text, with :data:`SHORT_TOKENS` marked:
pairs that hold a short text (a heading, a name, a fragment) show up on its left. The pairs
the report draws in detail are numbered in both panels.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from socm.output.data import mine_data
from socm.output.style import SOCM_CMAP, place_labels, pyplot, run_label, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["SHORT_TOKENS", "candidates_figure"]

SHORT_TOKENS = 10
"""A text of fewer tokens than this (as measured, special tokens as the run's policy counts
them) is marked short: a heading, a name or a fragment rather than a sentence."""
_LABELS = {
    "relative_d_sigma": r"relative $d_\Sigma$ = BW² / (tr $\Sigma_1$ + tr $\Sigma_2$)",
    "d_sigma": r"$d_\Sigma$",
    "socm": "SOCM",
}


def _column(pairs: list[dict], key: str) -> np.ndarray:
    return np.array([math.nan if p.get(key) is None else float(p[key]) for p in pairs])


@styled
def candidates_figure(run: str | Path, numbered: int = 3, max_per_text: int | None = 2) -> Figure:
    """A mine run's kept pairs against its searched texts and the random-pair cosines.

    Parameters
    ----------
    run : str or Path
        A ``socm mine`` folder.
    numbered : int
        Number the first this many pairs (best first, each text in at most ``max_per_text``
        of the numbered ones, as the report's table lists them).
    max_per_text : int, optional
        Cap per text of the numbered pairs (None: no cap).

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Raises
    ------
    SocmError
        Not a mine run folder.
    """
    plt = pyplot()
    data = mine_data(run, k=1_000_000)
    s = data["summary"]
    pairs = data["pairs"]
    picks = mine_data(run, numbered, max_per_text)["pairs"] if numbered else []
    rank_by = str(s.get("rank_by") or "relative_d_sigma")
    score = rank_by if rank_by in _LABELS else "relative_d_sigma"
    fig, (ax, ax2) = plt.subplots(
        1, 2, figsize=(11.5, 4.9), width_ratios=(1.35, 1), layout="constrained"
    )
    texts = data["texts"]
    tc = _column(texts, "neighbor_mean_cosine")
    tv = _column(texts, "neighbor_mean_relative_d_sigma")
    if score == "relative_d_sigma" and np.isfinite(tc).any():
        ax.scatter(tc, tv, s=6, color="0.78", edgecolor="none", label="a searched text: its mean "
                   "over its scored candidates")  # fmt: skip
    cos, val, so = _column(pairs, "cosine"), _column(pairs, score), _column(pairs, "socm")
    pts = ax.scatter(
        cos, val, c=so, cmap=SOCM_CMAP, s=22, edgecolor="black", lw=0.3, zorder=4,
        label=f"a kept pair ({len(pairs):,})",
    )  # fmt: skip
    fig.colorbar(pts, ax=ax, label="SOCM of the pair", pad=0.01)
    ref = (s.get("random_pair_cosines") or {}).get("quantiles") or {}
    n_ref = (s.get("random_pair_cosines") or {}).get("n_pairs")
    for q, ls in (("0.5", ":"), ("0.99", "--"), ("0.999", "-.")):
        v = ref.get(q)
        if v is None:
            continue
        ax.axvline(v, color="0.35", lw=0.9, ls=ls, zorder=1)
        ax.annotate(
            f"{float(q) * 100:g}th pct of random pairs",
            (v, 1.0),
            xycoords=ax.get_xaxis_transform(),
            xytext=(2, -2),
            textcoords="offset points",
            rotation=90,
            ha="left",
            va="top",
            fontsize=7.5,
            color="0.3",
            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
        )
    shorter = np.fmin(_column(pairs, "n_tokens1"), _column(pairs, "n_tokens2"))
    ax2.scatter(shorter, val, c=so, cmap=SOCM_CMAP, s=22, edgecolor="black", lw=0.3, zorder=4)
    ax2.axvline(SHORT_TOKENS, color="0.35", lw=0.9, ls="--")
    ax2.annotate(
        f"short: < {SHORT_TOKENS} tokens",
        (SHORT_TOKENS, 1.0),
        xycoords=ax2.get_xaxis_transform(),
        xytext=(-3, -2),
        textcoords="offset points",
        ha="right",
        va="top",
        fontsize=8,
        color="0.3",
    )
    if np.isfinite(shorter).any() and np.nanmax(shorter) > 40:
        ax2.set_xscale("log")
    for a in (ax, ax2):
        a.set_ylabel(_LABELS[score])
    ax.set_xlabel("cosine of the mean-pooled embeddings")
    ax2.set_xlabel("tokens of the pair's shorter text")
    if picks:
        ranks = [p.get("rank") for p in picks]
        index = {p.get("rank"): n for n, p in enumerate(pairs)}
        sel = [index[r] for r in ranks if r in index]
        for a, xs in ((ax, cos), (ax2, shorter)):
            _number(a, [float(xs[n]) for n in sel], [float(val[n]) for n in sel])
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("Kept pairs against the search", loc="left", fontsize=10)
    ax2.set_title("Short texts among the kept pairs", loc="left", fontsize=10)
    scored = s.get("n_candidates")
    fig.suptitle(
        f"socm mine of {run_label(run)}: kept {data['n_kept']:,}"
        + (f" from {int(scored):,} scored candidate pairs" if scored is not None else " pairs")
        + (f"; random-pair cosines from {int(n_ref):,} random pairs" if n_ref else ""),
        x=0.01,
        ha="left",
        fontsize=10.5,
    )
    return fig


def _number(ax: Any, xs: list[float], ys: list[float]) -> None:
    """Circle and number the pairs the report draws in detail (numbers = list order)."""
    ok = [k for k in range(len(xs)) if math.isfinite(xs[k]) and math.isfinite(ys[k])]
    if not ok:
        return
    px, py = [xs[k] for k in ok], [ys[k] for k in ok]
    ax.scatter(px, py, s=90, facecolor="none", edgecolor="#D55E00", lw=1.6, zorder=6)
    place_labels(ax, px, py, [str(k + 1) for k in ok], colors="black", fontsize=9, leaders=True)
