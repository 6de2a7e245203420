"""One look for every figure: colours, matplotlib style, saving, run labels, label placement.

Colours are chosen to be read by everyone, in colour and in greyscale:

* :data:`SOCM_CMAP` (``viridis``) for SOCM wherever it is a colour: perceptually uniform,
  colour-blind safe, monotone in lightness (SOCM 0 and SOCM 1 never look alike in greyscale);
* :data:`DENSITY_CMAP` (``magma_r``) for counts of pairs, light for few, black for many; drawn
  through :func:`density_cmap`, which starts at a visible orange (:data:`DENSITY_FLOOR`) so
  that a cell of one pair — where the highest-SOCM pairs often are — is not near-white;
* :data:`RUN_COLORS`: the Okabe–Ito palette for runs and texts (distinct for the common forms
  of colour blindness), always paired with a marker or line style as well.
"""

from __future__ import annotations

import functools
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from socm.errors import SocmError
from socm.files import atomic_write_bytes

__all__ = [
    "CONTOUR_COLOR",
    "DENSITY_CMAP",
    "DENSITY_FLOOR",
    "FORMATS",
    "LINESTYLES",
    "MARKERS",
    "RUN_COLORS",
    "SOCM_CMAP",
    "STYLE",
    "TEXT_COLORS",
    "axes_box",
    "density_cmap",
    "figure_bytes",
    "hdr_levels",
    "nice_limit",
    "okabe",
    "place_labels",
    "pyplot",
    "run_info",
    "run_label",
    "run_labels",
    "save",
    "styled",
]

SOCM_CMAP = "viridis"
"""Colour map of SOCM (perceptually uniform, colour-blind safe, monotone in greyscale)."""
DENSITY_CMAP = "magma_r"
"""Colour map of pair counts: light (few) to black (many), see :func:`density_cmap`."""
DENSITY_FLOOR = 0.22
"""Where on :data:`DENSITY_CMAP` the fewest pairs start (0 would be near-white)."""
CONTOUR_COLOR = "#0a5d8c"
"""Colour of SOCM contour lines drawn over a density (dark blue: visible on white and black)."""
RUN_COLORS = [
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#000000",  # black
    "#F0E442",  # yellow (last: weak on white)
]
"""Okabe–Ito colours, one per run."""
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
"""Markers, one per run or family, so that runs differ without colour."""
LINESTYLES = ["-", "--", "-.", ":"]
"""Line styles, one per run, so that runs differ without colour."""
TEXT_COLORS = ("#0072B2", "#D55E00")
"""Text A and text B of a pair (blue and vermillion, with circle and triangle markers)."""
FORMATS = ("png", "svg", "pdf")
"""Formats :func:`save` writes (from the file's suffix)."""

STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
    "image.cmap": SOCM_CMAP,
}
"""The figures' matplotlib style, applied with ``rc_context`` (the caller's settings stay)."""


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend.

    Returns
    -------
    module
        ``matplotlib.pyplot``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def styled(fn: Callable) -> Callable:
    """Run a figure-building function inside ``rc_context(STYLE)``.

    Parameters
    ----------
    fn : callable
        A function that builds and returns a matplotlib figure.

    Returns
    -------
    callable
        The wrapped function.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with pyplot().rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def density_cmap() -> Any:
    """:data:`DENSITY_CMAP` from :data:`DENSITY_FLOOR` on, named ``magma_r_tail``: the sparsest
    cells (one to a few pairs) are a visible orange, never white.

    Returns
    -------
    matplotlib.colors.ListedColormap
        The colour map.
    """
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    base = colormaps[DENSITY_CMAP]
    return ListedColormap(base(np.linspace(DENSITY_FLOOR, 1.0, 256)), name="magma_r_tail")


def figure_bytes(fig: Any, fmt: str = "png", dpi: int = 150) -> bytes:
    """Render a figure to bytes and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    fmt : {"png", "svg", "pdf"}
        Output format; grids drawn with ``rasterized=True`` stay images in SVG and PDF.
    dpi : int
        Resolution of PNG output and of rasterised parts of vector output.

    Returns
    -------
    bytes
        The encoded figure.
    """
    buf = io.BytesIO()
    with pyplot().rc_context(STYLE):
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", metadata=_metadata(fmt))
    pyplot().close(fig)
    return buf.getvalue()


def _metadata(fmt: str) -> dict | None:
    """Metadata without a creation date, so that the same figure gives the same bytes."""
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    if fmt == "png":
        return {"Software": None}
    return None


def save(fig: Any, path: str | Path, dpi: int = 150) -> Path:
    """Save a figure atomically (format from the suffix: .png, .svg or .pdf) and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or Path
        Output file; a missing suffix means PNG.
    dpi : int
        Resolution of PNG output and of rasterised parts of vector output.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    SocmError
        Another suffix (the figure is closed, nothing is written).
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    if fmt not in FORMATS:
        pyplot().close(fig)
        raise SocmError(f"figures are written as .png, .svg or .pdf, not {path.suffix!r}")
    atomic_write_bytes(path, figure_bytes(fig, fmt, dpi))
    return path


def axes_box(fig: Any, ax: Any, dpi: int = 110) -> tuple[bytes, tuple[float, float, float, float]]:
    """A PNG of ``fig`` cropped to its content and where ``ax``'s data area lies in it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (closed afterwards).
    ax : matplotlib.axes.Axes
        The axes to locate.
    dpi : int
        PNG resolution.

    Returns
    -------
    tuple
        ``(png bytes, (left, top, width, height))``, the box as fractions of the image's width
        and height, measured from the top-left corner (as CSS positions an overlay).
    """
    from matplotlib.transforms import Bbox

    plt = pyplot()
    with plt.rc_context(STYLE):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        tight = fig.get_tightbbox(renderer).padded(0.06)  # inches
        box = ax.get_window_extent(renderer)  # display pixels at fig.dpi
        fx0 = (box.x0 / fig.dpi - tight.x0) / tight.width
        fx1 = (box.x1 / fig.dpi - tight.x0) / tight.width
        fy0 = (box.y0 / fig.dpi - tight.y0) / tight.height
        fy1 = (box.y1 / fig.dpi - tight.y0) / tight.height
        buf = io.BytesIO()
        fig.savefig(
            buf,
            format="png",
            dpi=dpi,
            bbox_inches=Bbox.from_extents(tight.x0, tight.y0, tight.x1, tight.y1),
            metadata={"Software": None},
        )
    plt.close(fig)
    return buf.getvalue(), (fx0, 1 - fy1, fx1 - fx0, fy1 - fy0)


def run_info(run: str | Path) -> dict:
    """What a run folder is about: model, corpus, token policy, numerics, layer (None: unknown).

    Read from ``summary.json``, ``layers_info.json``, ``mechanism_info.json`` or
    ``mine_summary.json``, the first that exists and parses.

    Parameters
    ----------
    run : str or Path
        The run folder.

    Returns
    -------
    dict
        ``model``, ``corpus``, ``token_policy``, ``numerics``, ``n_texts``, ``layer``,
        ``seed``, ``pooling`` (values None where no file says).
    """
    keys = ("model", "corpus", "token_policy", "numerics", "n_texts", "layer", "seed", "pooling")
    info: dict = {k: None for k in keys}
    for name in ("summary.json", "layers_info.json", "mechanism_info.json", "mine_summary.json"):
        f = Path(run) / name
        if not f.is_file():
            continue
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(data, dict):
            continue
        for k in info:
            if info[k] is None and data.get(k) is not None:
                info[k] = data[k]
    return info


def _policy_words(policy: Any) -> list[str]:
    """A short form of a token policy: ``all tokens`` or ``special tokens excluded``, the
    prefix."""
    if not isinstance(policy, dict):
        return [] if policy is None else [str(policy)]
    words = []
    special = policy.get("special_tokens", policy.get("exclude_special_tokens"))
    if isinstance(special, bool):
        special = "excluded" if special else "included"
    if special:
        words.append("all tokens" if special == "included" else f"special tokens {special}")
    if policy.get("prefix"):
        words.append(f"prefix {policy['prefix']!r}")
    if policy.get("prompt"):
        excluded = policy.get("prompt_tokens_in_statistics") == "excluded"
        words.append("prompt excluded" if excluded else "prompt")
    if policy.get("first_token") == "excluded":
        words.append("first token excluded")
    return words


def run_label(run: str | Path, short: bool = False) -> str:
    """A run's label for legends and tables: model, token policy, layer, numerics, corpus.

    Parameters
    ----------
    run : str or Path
        The run folder.
    short : bool
        Only the model's last path component.

    Returns
    -------
    str
        E.g. ``all-MiniLM-L6-v2 (all tokens) on wikipedia``, ``all-MiniLM-L6-v2 (special
        tokens excluded, prefix 'query: ', layer 3, paper numerics) on msmarco``; the
        folder name when nothing is known. Exact numerics (the default) and the last layer
        are not named.
    """
    info = run_info(run)
    if not info["model"]:
        return Path(run).name
    name = str(info["model"]).rstrip("/").split("/")[-1]
    if short:
        return name
    words = _policy_words(info["token_policy"])
    if info["layer"] not in (None, "last"):
        words.append(f"layer {info['layer']}")
    if info["pooling"] == "model":
        words.append("native pooling")
    if info["numerics"] not in (None, "exact"):
        words.append(f"{info['numerics']} numerics")
    label = f"{name} ({', '.join(words)})" if words else name
    if info["corpus"]:
        label += f" on {info['corpus']}"
    return label


def _max_length(run: str | Path) -> Any:
    policy = run_info(run)["token_policy"]
    return policy.get("max_length") if isinstance(policy, dict) else None


_DISAMBIGUATE: tuple[Callable[[Any], str], ...] = (
    lambda r: f", {run_info(r)['n_texts']:,} texts" if run_info(r)["n_texts"] else "",
    lambda r: f", seed {run_info(r)['seed']}" if run_info(r)["seed"] is not None else "",
    lambda r: f", at most {_max_length(r)} tokens" if _max_length(r) else "",
    lambda r: f" [{Path(r).name}]",
)
"""What :func:`run_labels` adds, in turn, to labels that several runs share."""


def run_labels(runs: Sequence[str | Path]) -> list[str]:
    """:func:`run_label` of each run, made distinct: runs that would share a label get their
    number of texts, then their sampling seed, then their maximum length, then their
    folder's name (each only while labels are still shared).

    Parameters
    ----------
    runs : sequence of str or Path
        Run folders.

    Returns
    -------
    list of str
        One label per run.
    """
    labels = [run_label(r) for r in runs]
    for extra in _DISAMBIGUATE:
        if len(set(labels)) == len(labels):
            break
        counts = {lab: labels.count(lab) for lab in labels}
        added = [extra(r) if counts[lab] > 1 else "" for lab, r in zip(labels, runs, strict=True)]
        shared = {lab for lab in labels if counts[lab] > 1}
        for lab in shared:  # add only what tells the runs sharing this label apart
            group = [k for k, x in enumerate(labels) if x == lab]
            if len({added[k] for k in group}) == 1:
                for k in group:
                    added[k] = ""
        labels = [lab + a for lab, a in zip(labels, added, strict=True)]
    return labels


def _overlaps(a: Any, b: Any) -> float:
    """Area of the intersection of two display-space boxes (0 when apart)."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0.0) * max(h, 0.0)


_OFFSETS = [
    (dx * r, dy * r * 0.7)
    for r in (4, 9, 16, 26, 38)
    for dx, dy in ((1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1.4), (0, -1.4))
]
"""Label offsets from the point (points), nearest first."""
_OFFSETS_APART = [off for off in _OFFSETS if math.hypot(*off) > 14]
"""Offsets of labels that stand apart, on leader lines."""


def place_labels(
    ax: Any,
    xs: Sequence[float],
    ys: Sequence[float],
    labels: Sequence[str],
    colors: Sequence[str] | str = "0.1",
    fontsize: float = 7.5,
    avoid: Sequence[tuple[float, float]] = (),
    leaders: bool = False,
) -> list[Any]:
    """Label points so that the labels neither overlap each other nor cover the points.

    Each label tries offsets around its point, nearest first, and keeps the first one whose
    box overlaps no label placed before, no point and stays inside the axes; when every
    offset collides it takes the one with the least overlap (overlapping another label costs
    20 times more than covering a point), and a label placed far from its point gets a thin
    leader line. Set the
    axes' limits and the figure's layout first: boxes are measured in display space.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes.
    xs, ys : sequence of float
        The points, in data coordinates.
    labels : sequence of str
        One label per point (placed in this order: put the important ones first).
    colors : str or sequence of str
        Label colour(s).
    fontsize : float
        Font size in points.
    avoid : sequence of (float, float)
        More points (data coordinates) that labels must not cover.
    leaders : bool
        Every label stands apart from its point with a leader line and a white box (for
        numbers beside markers: "5" and "7" never read as "57"); else only labels placed
        far from their point get a line.

    Returns
    -------
    list of matplotlib.text.Annotation
        The labels.
    """
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    if isinstance(colors, str):
        colors = [colors] * len(labels)
    to_px = ax.transData.transform
    pts = [*zip(xs, ys, strict=True), *avoid]
    point_boxes = []
    for x, y in pts:
        if math.isfinite(x) and math.isfinite(y):
            px, py = to_px((x, y))
            point_boxes.append(Bbox.from_extents(px - 3, py - 3, px + 3, py + 3))
    frame = ax.get_window_extent(renderer)
    placed: list[Any] = []
    out = []
    for x, y, text, color in zip(xs, ys, labels, colors, strict=True):
        best = None
        for off in _OFFSETS_APART if leaders else _OFFSETS:
            ann = _annotate(ax, text, (x, y), off, fontsize, color, leader=False, box=leaders)
            box = ann.get_window_extent(renderer)
            cost = 20 * sum(_overlaps(box, b) for b in placed)  # labels must not collide
            cost += sum(_overlaps(box, b) for b in point_boxes)
            outside = max(0.0, frame.x0 - box.x0) + max(0.0, box.x1 - frame.x1)
            outside += max(0.0, frame.y0 - box.y0) + max(0.0, box.y1 - frame.y1)
            cost += outside * 50
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, ann, box, off)
            else:
                ann.remove()
            if cost == 0:
                break
        assert best is not None
        _, ann, box, off = best
        if leaders or math.hypot(*off) > 12:
            ann.remove()
            ann = _annotate(ax, text, (x, y), off, fontsize, color, leader=True, box=leaders)
        placed.append(box)
        out.append(ann)
    return out


def _annotate(
    ax: Any,
    text: str,
    xy: tuple,
    off: tuple,
    fontsize: float,
    color: str,
    leader: bool,
    box: bool = False,
) -> Any:
    """One label at ``off`` points from ``xy``, aligned away from it (``box``: on a white
    box)."""
    dx, dy = off
    return ax.annotate(
        text,
        xy,
        xytext=off,
        textcoords="offset points",
        fontsize=fontsize,
        color=color,
        ha="left" if dx > 0 else ("right" if dx < 0 else "center"),
        va="bottom" if dy > 0 else ("top" if dy < 0 else "center"),
        arrowprops=(
            {"arrowstyle": "-", "color": "0.55", "lw": 0.5, "shrinkA": 0, "shrinkB": 2}
            if leader
            else None
        ),
        bbox=(
            {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "0.6", "lw": 0.4, "alpha": 0.9}
            if box
            else None
        ),
        annotation_clip=False,
        zorder=9,
    )


def nice_limit(value: float, floor: float, step: float = 0.05) -> float:
    """``value`` rounded up to a multiple of ``step``, at least ``floor``.

    Parameters
    ----------
    value : float
        The largest value to show.
    floor : float
        The smallest limit.
    step : float
        Rounding step.

    Returns
    -------
    float
        The limit.

    Examples
    --------
    >>> nice_limit(1.234, 1.0)
    1.25
    >>> nice_limit(0.4, 1.0)
    1.0
    """
    if not math.isfinite(value):
        return floor
    return max(floor, round(math.ceil(value / step - 1e-9) * step, 10))


def okabe(k: int) -> str:
    """The ``k``-th run colour (cycling)."""
    return RUN_COLORS[k % len(RUN_COLORS)]


def hdr_levels(hist: np.ndarray, masses: Sequence[float] = (0.9, 0.5)) -> list[float]:
    """Density thresholds enclosing the given shares of the mass (highest-density regions).

    Parameters
    ----------
    hist : numpy.ndarray
        A 2-D histogram (counts or densities).
    masses : sequence of float
        Shares of the mass, e.g. ``(0.9, 0.5)``.

    Returns
    -------
    list of float
        One threshold per share, increasing (as ``contour`` wants its levels).

    Examples
    --------
    >>> hdr_levels(np.array([[1.0, 1.0], [2.0, 6.0]]), [0.5])
    [6.0]
    """
    flat = np.sort(np.asarray(hist, dtype=float).ravel())[::-1]
    total = flat.sum()
    if total <= 0:
        return []
    cum = np.cumsum(flat) / total
    levels = []
    for m in masses:
        k = int(np.searchsorted(cum, m))
        levels.append(float(flat[min(k, len(flat) - 1)]))
    return sorted(set(levels))
