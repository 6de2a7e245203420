r"""What the figures and the report read from run folders, streamed so that any run fits.

``pairs.parquet`` (a file, or a cluster run's folder of parts) is read in batches, never
whole: :func:`scan_pairs` makes one pass that gathers everything the figures need — 2-D and
1-D histograms of :math:`(d_\mu, d_\Sigma)` over fixed limits, counts, sums, the pairs with the
highest SOCM, one representative pair per cell of a coarse grid (what the report's hover
shows) and per-text sums. Memory is :math:`O(\text{bins} + \text{texts})`, whatever the number
of pairs. Scans are cached per (file, modification time, limits), so a report that draws a run
several times reads it once.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from socm.core.metrics import socm_from_parts
from socm.core.stats import SPREAD_BOUND
from socm.errors import SocmError
from socm.measure.rundir import (
    iter_pairs_batches,
    pairs_dataset,
    read_mine_summary,
    read_summary,
    run_file,
)
from socm.output.style import nice_limit

__all__ = [
    "BATCH_ROWS",
    "Limits",
    "PairScan",
    "TextTable",
    "correlation_view",
    "is_measure_run",
    "is_mine_run",
    "match_score",
    "mine_data",
    "pair_column_max",
    "read_texts",
    "scan_pairs",
    "shared_limits",
    "socm_percentile",
    "socm_surface",
    "spread_relation",
    "spread_share",
    "top_pairs",
]

BATCH_ROWS = 1 << 18
"""Rows per batch read from ``pairs.parquet``."""
TOP_POOL = 400
"""Highest-SOCM pairs a scan keeps at first (:func:`top_pairs` enlarges it when needed)."""
_COLUMNS = ("text1_id", "text2_id", "d_mu", "d_sigma", "socm")


@dataclass(frozen=True)
class Limits:
    r"""Axis and colour limits shared by the figures of one report (or one figure).

    Attributes
    ----------
    d_mu : float
        Upper limit of the :math:`d_\mu` axis (at most 1).
    d_sigma : float
        Upper limit of the :math:`d_\Sigma` axis (at least 1, so the line at 1 shows).
    socm : float
        Upper limit of the SOCM colour scale (at least 1).
    bins : int or None
        Histogram bins per axis shared by every run (None: each run's own, about √pairs / 2).
    """

    d_mu: float = 1.0
    d_sigma: float = 1.0
    socm: float = 1.0
    bins: int | None = None

    @classmethod
    def of(cls, d_mu: float, d_sigma: float, socm: float, bins: int | None = None) -> Limits:
        """Limits that cover the given maxima, rounded up to steps of 0.05.

        Examples
        --------
        >>> Limits.of(0.62, 1.31, 0.9)
        Limits(d_mu=0.65, d_sigma=1.35, socm=1.0, bins=None)
        """
        return cls(
            min(1.0, nice_limit(d_mu, 0.05)),
            nice_limit(d_sigma * 1.01, 1.05),
            nice_limit(socm, 1.0),
            bins,
        )


def pair_column_max(run: str | Path) -> dict[str, float]:
    """The largest ``d_mu``, ``d_sigma`` and ``socm`` of a run's pairs.

    Read from the parquet row-group statistics when present (no data read), else streamed.

    Parameters
    ----------
    run : str or Path
        A measure run folder.

    Returns
    -------
    dict
        ``{"d_mu": ..., "d_sigma": ..., "socm": ...}``; NaN for a run without pairs.
    """
    import pyarrow.parquet as pq

    pairs = pairs_dataset(run_file(run, "pairs.parquet"))
    names = pairs.schema.names
    out = {}
    for col in ("d_mu", "d_sigma", "socm"):
        if col not in names:
            raise SocmError(f"{run}: pairs.parquet has no column {col}")
        out[col] = -math.inf
    for f in pairs.files:  # one part's footer at a time: a cluster run may have thousands
        meta = pq.read_metadata(f)
        for col in out:
            k = meta.schema.to_arrow_schema().names.index(col)
            for g in range(meta.num_row_groups):
                stats = meta.row_group(g).column(k).statistics
                if stats is None or not stats.has_min_max:
                    out[col] = math.nan
                    break
                out[col] = max(out[col], float(stats.max))
    if any(math.isnan(v) for v in out.values()):
        out = {c: -math.inf for c in out}
        for batch in iter_pairs_batches(run_file(run, "pairs.parquet"), list(out), BATCH_ROWS):
            for c in out:
                v = batch.column(c).to_numpy(zero_copy_only=False)
                if len(v):
                    out[c] = max(out[c], float(np.nanmax(v)))
    return {c: (v if math.isfinite(v) else math.nan) for c, v in out.items()}


def shared_limits(runs: list[str | Path]) -> Limits:
    """Limits covering every pair of every run (runs without ``pairs.parquet`` are skipped),
    with one number of bins for all (that of the run with the most pairs), so that every
    run's histograms share their cells.

    Parameters
    ----------
    runs : list of str or Path
        Measure run folders.

    Returns
    -------
    Limits
        The common limits.
    """
    m = {"d_mu": 0.0, "d_sigma": 0.0, "socm": 0.0}
    most = 0
    for run in runs:
        if not (Path(run) / "pairs.parquet").exists():
            continue
        for k, v in pair_column_max(run).items():
            if math.isfinite(v):
                m[k] = max(m[k], v)
        most = max(most, pairs_dataset(run_file(run, "pairs.parquet")).count_rows())
    return Limits.of(m["d_mu"], m["d_sigma"], m["socm"], _bins(most) if most else None)


@dataclass
class PairScan:
    r"""One streamed pass over a run's ``pairs.parquet`` (see :func:`scan_pairs`).

    Attributes
    ----------
    limits : Limits
        The histogram ranges: :math:`[0, d_\mu] \times [0, d_\Sigma]`.
    n_pairs : int
        Pairs read.
    hist : numpy.ndarray, shape (n_bins_sigma, n_bins_mu)
        Pair counts per cell (rows: :math:`d_\Sigma`, columns: :math:`d_\mu`); pairs beyond
        the limits are counted in the edge cells.
    mu_edges, sigma_edges : numpy.ndarray
        Bin edges.
    mu_hist, sigma_hist, socm_hist : numpy.ndarray
        1-D counts over ``mu_edges``, ``sigma_edges`` and ``socm_edges``.
    socm_edges : numpy.ndarray
        SOCM bin edges over ``[0, limits.socm]``.
    sums : dict
        Sums of ``d_mu``, ``d_sigma``, ``socm``.
    n_d_sigma_over_1 : int
        Pairs with :math:`d_\Sigma > 1`.
    top : dict
        The ``pool`` pairs with the highest SOCM (columns of ``pairs.parquet`` and ``row``),
        best first.
    cells : dict
        Per cell of the coarse grid, the pair with the highest SOCM in it and the cell's count
        (``cell_mu``, ``cell_sigma`` indices, pair columns, ``count``).
    grid : int
        The coarse grid's size per axis.
    text_ids : list of str
        Text ids of the per-text sums (first appearance order).
    text_sums : dict
        Per text: ``n_pairs``, sums of ``d_mu``, ``d_sigma``, ``socm``.
    """

    limits: Limits
    n_pairs: int = 0
    hist: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    mu_edges: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sigma_edges: np.ndarray = field(default_factory=lambda: np.zeros(0))
    socm_edges: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mu_hist: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sigma_hist: np.ndarray = field(default_factory=lambda: np.zeros(0))
    socm_hist: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sums: dict = field(default_factory=dict)
    n_d_sigma_over_1: int = 0
    top: dict = field(default_factory=dict)
    cells: dict = field(default_factory=dict)
    grid: int = 0
    text_ids: list = field(default_factory=list)
    text_sums: dict = field(default_factory=dict)

    def mean(self, col: str) -> float:
        """Mean of ``d_mu``, ``d_sigma`` or ``socm`` over the pairs (NaN without pairs)."""
        return self.sums[col] / self.n_pairs if self.n_pairs else math.nan

    def text_means(self) -> dict[str, dict]:
        """Per text id: ``n_pairs``, ``mean_d_mu``, ``mean_d_sigma``, ``mean_socm``."""
        s = self.text_sums
        out = {}
        for k, tid in enumerate(self.text_ids):
            n = s["n_pairs"][k]
            out[tid] = {
                "n_pairs": int(n),
                **{
                    f"mean_{c}": (float(s[c][k] / n) if n else math.nan)
                    for c in ("d_mu", "d_sigma", "socm")
                },
            }
        return out


def _bins(n_pairs: int) -> int:
    """Histogram bins per axis: about √n / 2, between 24 and 140."""
    return int(np.clip(math.sqrt(max(n_pairs, 1)) / 2, 24, 140))


def _clip_index(x: np.ndarray, hi: float, n: int) -> np.ndarray:
    """Bin index of ``x`` in ``n`` equal bins over ``[0, hi]``, values outside in edge bins."""
    return np.clip((np.nan_to_num(x) / hi * n).astype(np.int64), 0, n - 1)


class _Cells:
    """Per cell of a ``grid`` × ``grid`` coarse grid, the pair with the highest SOCM and the
    cell's count, updated batch by batch."""

    def __init__(self, limits: Limits, grid: int) -> None:
        self.limits, self.grid = limits, grid
        self.best = np.full(grid * grid, -np.inf)
        self.best_row = np.full(grid * grid, -1, dtype=np.int64)
        self.count = np.zeros(grid * grid, dtype=np.int64)
        self.vals = {c: np.zeros(grid * grid) for c in ("d_mu", "d_sigma", "socm")}
        self.ids = np.empty((2, grid * grid), dtype=object)

    def add(self, cols: dict[str, np.ndarray], t1: Any, t2: Any, row0: int) -> None:
        """Take a batch (``cols``: d_mu, d_sigma, socm; ``t1``, ``t2``: id arrays; ``row0``:
        the batch's first row)."""
        import pyarrow as pa

        mu, sig, so = cols["d_mu"], cols["d_sigma"], cols["socm"]
        grid, limits = self.grid, self.limits
        cell = _clip_index(sig, limits.d_sigma, grid) * grid + _clip_index(mu, limits.d_mu, grid)
        self.count += np.bincount(cell, minlength=grid * grid)
        order = np.lexsort((-so, cell))
        first = order[np.r_[True, cell[order][1:] != cell[order][:-1]]]
        better = so[first] > self.best[cell[first]]
        sel, cells = first[better], cell[first[better]]
        self.best[cells] = so[sel]
        self.best_row[cells] = row0 + sel
        for c, v in cols.items():
            self.vals[c][cells] = v[sel]
        if len(sel):
            take = pa.array(sel)
            self.ids[0, cells] = t1.take(take).to_pylist()
            self.ids[1, cells] = t2.take(take).to_pylist()

    def result(self) -> dict:
        """:attr:`PairScan.cells`: the cells that hold a pair."""
        grid = self.grid
        have = np.flatnonzero(self.best_row >= 0)
        return {
            "cell_mu": have % grid,
            "cell_sigma": have // grid,
            "count": self.count[have],
            "row": self.best_row[have],
            "text1_id": self.ids[0, have],
            "text2_id": self.ids[1, have],
            **{c: v[have] for c, v in self.vals.items()},
        }


def _top_pool(
    top: dict[str, np.ndarray],
    cols: dict[str, np.ndarray],
    t1: Any,
    t2: Any,
    row0: int,
    pool: int,
) -> dict[str, np.ndarray]:
    """The ``pool`` pairs with the highest SOCM (ties by row) of ``top`` and a batch."""
    import pyarrow as pa

    so = cols["socm"]
    n = len(so)
    k = min(pool, n)
    part = np.argpartition(-np.nan_to_num(so, nan=-np.inf), k - 1)[:k] if k < n else np.arange(n)
    take = pa.array(part)
    cand = {
        "text1_id": np.array(t1.take(take).to_pylist(), dtype=object),
        "text2_id": np.array(t2.take(take).to_pylist(), dtype=object),
        "d_mu": cols["d_mu"][part],
        "d_sigma": cols["d_sigma"][part],
        "socm": so[part],
        "row": row0 + part,
    }
    if top:
        cand = {c: np.concatenate([top[c], cand[c]]) for c in cand}
    keep = np.lexsort((cand["row"], -cand["socm"]))[:pool]
    return {c: v[keep] for c, v in cand.items()}


class _TextSums:
    """Per text id (in order of first appearance): pairs and sums of d_mu, d_sigma, socm."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.ids: list[str] = []
        self.sums = {c: np.zeros(0) for c in ("n_pairs", "d_mu", "d_sigma", "socm")}

    def add(self, cols: dict[str, np.ndarray], t1: Any, t2: Any) -> None:
        """Take a batch (``t1``, ``t2``: pyarrow string arrays of the pairs' text ids)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        uniq = pc.unique(pa.concat_arrays([t1, t2]))
        for tid in uniq.to_pylist():
            if tid not in self.index:
                self.index[tid] = len(self.ids)
                self.ids.append(tid)
        if len(self.ids) > len(self.sums["n_pairs"]):
            grow = len(self.ids) - len(self.sums["n_pairs"])
            self.sums = {c: np.concatenate([v, np.zeros(grow)]) for c, v in self.sums.items()}
        value_set = pa.array(self.ids, pa.string())
        for col in (t1, t2):
            idx = pc.index_in(col, value_set=value_set).to_numpy(zero_copy_only=False)
            idx = idx.astype(np.int64)
            m = len(self.ids)
            self.sums["n_pairs"] += np.bincount(idx, minlength=m)
            for c, v in cols.items():
                self.sums[c] += np.bincount(idx, weights=np.nan_to_num(v), minlength=m)


def _empty_scan(limits: Limits, nb: int, grid: int) -> PairScan:
    """A :class:`PairScan` with ``nb`` bins per axis over ``limits`` and nothing counted."""
    scan = PairScan(limits=limits, grid=grid)
    scan.mu_edges = np.linspace(0, limits.d_mu, nb + 1)
    scan.sigma_edges = np.linspace(0, limits.d_sigma, nb + 1)
    scan.socm_edges = np.linspace(0, limits.socm, nb + 1)
    scan.hist = np.zeros((nb, nb), dtype=np.int64)
    scan.mu_hist = np.zeros(nb, dtype=np.int64)
    scan.sigma_hist = np.zeros(nb, dtype=np.int64)
    scan.socm_hist = np.zeros(nb, dtype=np.int64)
    scan.sums = {"d_mu": 0.0, "d_sigma": 0.0, "socm": 0.0}
    return scan


def _count(scan: PairScan, cols: dict[str, np.ndarray]) -> None:
    """Add a batch to the scan's counts, sums and histograms."""
    limits, nb = scan.limits, len(scan.mu_hist)
    mu, sig, so = cols["d_mu"], cols["d_sigma"], cols["socm"]
    scan.n_pairs += len(so)
    for c, v in cols.items():
        scan.sums[c] += float(np.nansum(v))
    scan.n_d_sigma_over_1 += int((sig > 1).sum())
    im = _clip_index(mu, limits.d_mu, nb)
    isg = _clip_index(sig, limits.d_sigma, nb)
    np.add.at(scan.hist, (isg, im), 1)
    scan.mu_hist += np.bincount(im, minlength=nb)
    scan.sigma_hist += np.bincount(isg, minlength=nb)
    scan.socm_hist += np.bincount(_clip_index(so, limits.socm, nb), minlength=nb)


_SCAN_CACHE: OrderedDict = OrderedDict()


def scan_pairs(
    run: str | Path,
    limits: Limits | None = None,
    bins: int | None = None,
    grid: int = 36,
    pool: int | None = None,
) -> PairScan:
    """Stream a run's ``pairs.parquet`` once (batches of :data:`BATCH_ROWS` rows).

    Parameters
    ----------
    run : str or Path
        A measure run folder.
    limits : Limits, optional
        Histogram ranges (None: this run's own, :func:`shared_limits`).
    bins : int, optional
        Histogram bins per axis (None: ``limits.bins``, else about √pairs / 2, between 24 and
        140).
    grid : int
        Cells per axis of the coarse grid of representative pairs.
    pool : int, optional
        How many of the highest-SOCM pairs to keep (None: :data:`TOP_POOL`).

    Returns
    -------
    PairScan
        The histograms, sums, top pairs, representatives and per-text sums.

    Raises
    ------
    SocmError
        A missing run folder or ``pairs.parquet``, or a file without the pair columns.
    """
    import pyarrow as pa

    path = run_file(run, "pairs.parquet")
    limits = limits or shared_limits([run])
    pool = pool or TOP_POOL
    key = (str(path.resolve()), path.stat().st_mtime_ns, limits, bins, grid, pool)
    if key in _SCAN_CACHE:
        _SCAN_CACHE.move_to_end(key)
        return _SCAN_CACHE[key]
    pairs = pairs_dataset(path)
    missing = [c for c in _COLUMNS if c not in pairs.schema.names]
    if missing:
        raise SocmError(f"{path}: missing column(s) {', '.join(missing)}")
    scan = _empty_scan(limits, bins or limits.bins or _bins(pairs.count_rows()), grid)
    cells = _Cells(limits, grid)
    texts = _TextSums()
    top: dict[str, np.ndarray] = {}
    row0 = 0
    for batch in iter_pairs_batches(path, list(_COLUMNS), BATCH_ROWS):  # streamed
        if batch.num_rows == 0:
            continue
        cols = {
            c: batch.column(c).to_numpy(zero_copy_only=False).astype(float)
            for c in ("d_mu", "d_sigma", "socm")
        }
        t1 = batch.column("text1_id").cast(pa.string())
        t2 = batch.column("text2_id").cast(pa.string())
        _count(scan, cols)
        cells.add(cols, t1, t2, row0)
        top = _top_pool(top, cols, t1, t2, row0, pool)
        texts.add(cols, t1, t2)
        row0 += batch.num_rows
    scan.top = top or {c: np.zeros(0) for c in ("d_mu", "d_sigma", "socm", "row")}
    scan.cells = cells.result()
    scan.text_ids = texts.ids
    scan.text_sums = texts.sums
    _SCAN_CACHE[key] = scan
    while len(_SCAN_CACHE) > 8:
        _SCAN_CACHE.popitem(last=False)
    return scan


def _greedy(cols: dict, k: int, max_per_text: int | None) -> list[int]:
    """Positions of the first ``k`` pairs in ``cols`` (ordered best first) that keep each text
    in at most ``max_per_text`` of them."""
    seen: dict[str, int] = {}
    chosen = []
    for p in range(len(cols["socm"])):
        a, b = cols["text1_id"][p], cols["text2_id"][p]
        if max_per_text is not None and (
            seen.get(a, 0) >= max_per_text or seen.get(b, 0) >= max_per_text
        ):
            continue
        seen[a] = seen.get(a, 0) + 1
        seen[b] = seen.get(b, 0) + 1
        chosen.append(p)
        if len(chosen) == k:
            break
    return chosen


def top_pairs(
    run: str | Path, k: int = 10, max_per_text: int | None = 2, limits: Limits | None = None
) -> list[dict]:
    """The ``k`` pairs with the highest SOCM, each text in at most ``max_per_text`` of them.

    Walks the pairs by decreasing SOCM (ties by row) and skips a pair when either text
    already appears ``max_per_text`` times, as ``socm mine`` does; the pool of candidates is
    streamed (:func:`scan_pairs`) and enlarged until ``k`` pairs are found or every pair was
    considered, so the result is exact.

    Parameters
    ----------
    run : str or Path
        A measure run folder.
    k : int
        Pairs wanted.
    max_per_text : int or None
        Cap per text (None: no cap).
    limits : Limits, optional
        Passed to :func:`scan_pairs` (so a report's scan is reused).

    Returns
    -------
    list of dict
        ``text1_id``, ``text2_id``, ``d_mu``, ``d_sigma``, ``socm``, ``cosine`` (1 − 2 d_μ),
        ``row`` (position in ``pairs.parquet``), best first.
    """
    pool = TOP_POOL
    while True:
        scan = scan_pairs(run, limits, pool=pool)
        chosen = _greedy(scan.top, k, max_per_text)
        if len(chosen) == k or len(scan.top["socm"]) >= scan.n_pairs:
            break
        pool *= 4
    return [
        {
            "text1_id": str(scan.top["text1_id"][p]),
            "text2_id": str(scan.top["text2_id"][p]),
            "d_mu": float(scan.top["d_mu"][p]),
            "d_sigma": float(scan.top["d_sigma"][p]),
            "socm": float(scan.top["socm"][p]),
            "cosine": 1.0 - 2.0 * float(scan.top["d_mu"][p]),
            "row": int(scan.top["row"][p]),
        }
        for p in chosen
    ]


def socm_percentile(run: str | Path, value: float) -> dict:
    """Where a SOCM value falls among a run's pairs.

    Parameters
    ----------
    run : str or Path
        A measure run folder.
    value : float
        The SOCM value.

    Returns
    -------
    dict
        ``percentile`` (share of the run's pairs with a lower SOCM, ties counted half, in
        percent), ``n_pairs``, ``n_above`` (pairs with a higher SOCM).
    """

    below = ties = total = 0
    for batch in iter_pairs_batches(run_file(run, "pairs.parquet"), ["socm"], BATCH_ROWS):
        v = batch.column("socm").to_numpy(zero_copy_only=False)
        below += int((v < value).sum())
        ties += int((v == value).sum())
        total += len(v)
    pct = 100.0 * (below + ties / 2) / total if total else math.nan
    return {"percentile": pct, "n_pairs": total, "n_above": total - below - ties}


@dataclass
class TextTable:
    """A run's texts with their per-text numbers, as columns.

    Attributes
    ----------
    ids : list of str
        Text ids.
    text : list of str
        The texts.
    n_tokens : numpy.ndarray
        Tokens measured per text.
    spread : numpy.ndarray
        Normalised spread tr Σ per text.
    mean_socm, mean_d_mu, mean_d_sigma : numpy.ndarray
        Means over each text's pairs (NaN where unknown).
    n_pairs : numpy.ndarray
        Pairs each text is in (0 where unknown).
    truncated : numpy.ndarray of bool
        Whether the text was cut to the model's maximum length.
    source : str
        Where the per-text means came from: ``texts.jsonl``, ``pairs.parquet`` or ``none``.
    """

    ids: list
    text: list
    n_tokens: np.ndarray
    spread: np.ndarray
    mean_socm: np.ndarray
    mean_d_mu: np.ndarray
    mean_d_sigma: np.ndarray
    n_pairs: np.ndarray
    truncated: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.ids)

    def record(self, k: int) -> dict:
        """Text ``k`` as a dict (numbers as floats, NaN as None)."""

        def num(x: Any) -> float | None:
            return None if x is None or not math.isfinite(float(x)) else float(x)

        return {
            "id": self.ids[k],
            "text": self.text[k],
            "n_tokens": int(self.n_tokens[k]),
            "normalized_spread": num(self.spread[k]),
            "mean_socm": num(self.mean_socm[k]),
            "mean_d_mu": num(self.mean_d_mu[k]),
            "mean_d_sigma": num(self.mean_d_sigma[k]),
            "n_pairs": int(self.n_pairs[k]),
            "truncated": bool(self.truncated[k]),
        }

    def index(self) -> dict[str, int]:
        """Text id → position."""
        return {t: k for k, t in enumerate(self.ids)}


def _float(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def read_texts(run: str | Path, limits: Limits | None = None) -> TextTable:
    """A measure run's ``texts.jsonl`` with per-text means.

    The means come from ``texts.jsonl`` itself (``mean_socm``, ``mean_d_mu``,
    ``mean_d_sigma``, ``n_pairs``) when it has them, else from one streamed pass over
    ``pairs.parquet`` (:func:`scan_pairs`), else they are NaN.

    Parameters
    ----------
    run : str or Path
        A measure run folder.
    limits : Limits, optional
        Passed to :func:`scan_pairs`, so a report's scan is reused.

    Returns
    -------
    TextTable
        One entry per text, in file order.

    Raises
    ------
    SocmError
        A missing folder or ``texts.jsonl``, or a line that is not a JSON object with an id
        and a text.
    """
    path = run_file(run, "texts.jsonl")
    recs = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                raise SocmError(f"{path}: line {n} is not JSON") from None
            if not isinstance(rec, dict) or "id" not in rec or "text" not in rec:
                raise SocmError(f"{path}: line {n} has no id and text")
            recs.append(rec)
    ids = [str(r["id"]) for r in recs]
    have = all("mean_socm" in r for r in recs) and bool(recs)
    means = {c: np.array([_float(r.get(c)) for r in recs]) for c in _TEXT_MEANS}
    n_pairs = np.array([int(r.get("n_pairs") or 0) for r in recs])
    source = "texts.jsonl"
    if not have:
        source = "none"
        if (Path(run) / "pairs.parquet").exists():
            tm = scan_pairs(run, limits).text_means()
            for c in _TEXT_MEANS:
                means[c] = np.array([tm.get(t, {}).get(c, math.nan) for t in ids])
            n_pairs = np.array([tm.get(t, {}).get("n_pairs", 0) for t in ids])
            source = "pairs.parquet"
    return TextTable(
        ids=ids,
        text=[str(r["text"]) for r in recs],
        n_tokens=np.array([int(r.get("n_tokens") or 0) for r in recs]),
        spread=np.array([_float(r.get("normalized_spread")) for r in recs]),
        mean_socm=means["mean_socm"],
        mean_d_mu=means["mean_d_mu"],
        mean_d_sigma=means["mean_d_sigma"],
        n_pairs=n_pairs,
        truncated=np.array([bool(r.get("truncated")) for r in recs]),
        source=source,
    )


_TEXT_MEANS = ("mean_socm", "mean_d_mu", "mean_d_sigma")


def is_measure_run(run: str | Path) -> bool:
    """Whether a folder holds a ``socm measure`` run (``summary.json``)."""
    return (Path(run) / "summary.json").is_file()


def is_mine_run(run: str | Path) -> bool:
    """Whether a folder holds a ``socm mine`` run (``mine_summary.json``)."""
    return (Path(run) / "mine_summary.json").is_file()


_MINE_PAIR_COLUMNS = (
    "text1_id",
    "text2_id",
    "cosine",
    "cosine_percentile",
    "neighbor_rank_1",
    "neighbor_rank_2",
    "d_mu",
    "d_sigma",
    "socm",
    "relative_d_sigma",
    "rank",
)
_MINE_TEXT_COLUMNS = (
    "id",
    "text",
    "n_tokens",
    "normalized_spread",
    "neighbor_mean_cosine",
    "neighbor_mean_relative_d_sigma",
)


def mine_data(run: str | Path, k: int = 25, max_per_text: int | None = None) -> dict:
    """A ``socm mine`` run: its summary, its best ``k`` kept pairs and its texts.

    Reads ``mine_summary.json``, ``candidates.parquet`` (the kept pairs, best first by
    ``rank`` when present) and ``texts.parquet``; columns that are missing read as None, so an
    older or newer mine folder still shows what it has.

    Parameters
    ----------
    run : str or Path
        A mine run folder.
    k : int
        Pairs to return.
    max_per_text : int, optional
        Walking the pairs best first, skip a pair when either text is already in this many
        of those returned (None: no cap).

    Returns
    -------
    dict
        ``summary`` (dict), ``pairs`` (list of dict, with ``text1``, ``text2`` and each
        text's ``n_tokens`` and spread), ``texts`` (list of dict), ``n_kept`` (rows of
        ``candidates.parquet``: the pairs the run kept), ``n_skipped`` (pairs passed over
        for the cap before the ``k``-th was found).

    Raises
    ------
    SocmError
        A missing or unreadable ``mine_summary.json`` or ``candidates.parquet``.
    """
    import pyarrow.parquet as pq

    summary = read_mine_summary(run)
    cand = pq.read_table(run_file(run, "candidates.parquet"))
    cols = {
        c: cand.column(c).to_pylist() if c in cand.column_names else None
        for c in _MINE_PAIR_COLUMNS
    }
    n = cand.num_rows
    order = list(range(n))
    if cols["rank"] is not None:
        order.sort(key=lambda r: (cols["rank"][r] is None, cols["rank"][r]))
    texts: list[dict] = []
    tpath = Path(run) / "texts.parquet"
    if tpath.is_file():
        tt = pq.read_table(tpath)
        tcols = {
            c: tt.column(c).to_pylist() if c in tt.column_names else None
            for c in _MINE_TEXT_COLUMNS
        }
        for r in range(tt.num_rows):
            texts.append({c: (v[r] if v is not None else None) for c, v in tcols.items()})
    by_id = {str(t["id"]): t for t in texts if t.get("id") is not None}
    ordered = {c: (None if v is None else [v[r] for r in order]) for c, v in cols.items()}
    ids = {c: ordered[c] or [None] * n for c in ("text1_id", "text2_id")}
    chosen = _greedy({**ids, "socm": range(n)}, k, max_per_text)
    pairs = []
    for r in chosen:
        rec = {c: (v[r] if v is not None else None) for c, v in ordered.items()}
        if rec["cosine"] is None and rec["d_mu"] is not None:
            rec["cosine"] = 1.0 - 2.0 * rec["d_mu"]
        for side in ("1", "2"):
            t = by_id.get(str(rec[f"text{side}_id"]), {})
            rec[f"text{side}"] = t.get("text")
            rec[f"n_tokens{side}"] = t.get("n_tokens")
            rec[f"spread{side}"] = t.get("normalized_spread")
        pairs.append(rec)
    examined = chosen[-1] + 1 if len(chosen) == k else n  # short of k: every pair was examined
    skipped = examined - len(chosen)
    return {"summary": summary, "pairs": pairs, "texts": texts, "n_kept": n, "n_skipped": skipped}


def spread_share(spread: np.ndarray) -> float:
    """Share of texts with a normalised spread above 2 (the bound behind d_Σ ≤ 1)."""
    s = np.asarray(spread, dtype=float)
    s = s[np.isfinite(s)]
    return float((s > SPREAD_BOUND).mean()) if len(s) else math.nan


def spread_relation(spread: np.ndarray, mean_socm: np.ndarray) -> dict:
    """How a text's mean SOCM follows its normalised spread: Pearson r and the least-squares
    line, over the texts that have both.

    Parameters
    ----------
    spread, mean_socm : numpy.ndarray
        Per text: normalised spread tr Σ and mean SOCM over its pairs (NaN: unknown).

    Returns
    -------
    dict
        ``r``, ``slope``, ``intercept`` (NaN with fewer than 3 texts or no variation) and
        ``n_texts``.

    Examples
    --------
    >>> out = spread_relation(np.array([1.0, 2.0, 3.0, np.nan]), np.array([0.2, 0.4, 0.6, 0.1]))
    >>> round(out["r"], 6), round(out["slope"], 6), out["n_texts"]
    (1.0, 0.2, 3)
    """
    x = np.asarray(spread, dtype=float)
    y = np.asarray(mean_socm, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    out = {"r": math.nan, "slope": math.nan, "intercept": math.nan, "n_texts": int(ok.sum())}
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    slope, intercept = np.polyfit(x, y, 1)
    out.update(r=float(np.corrcoef(x, y)[0, 1]), slope=float(slope), intercept=float(intercept))
    return out


def socm_surface(limits: Limits, n: int = 241) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""(d_μ grid, d_Σ grid, SOCM) over :math:`[0, d_\mu] \times [0, d_\Sigma]` of ``limits``."""
    dmu, dsig = np.meshgrid(np.linspace(0, limits.d_mu, n), np.linspace(0, limits.d_sigma, n))
    return dmu, dsig, socm_from_parts(dmu, dsig)


def _model_key(model: str) -> tuple[str, str]:
    m = str(model).strip().rstrip("/").lower()
    return m, m.split("/")[-1]


def match_score(model: str, scores: dict[str, float]) -> float | None:
    """The score of ``model``: by full id, else by a unique last path component (both
    case-insensitive); None when no or several scores could be meant.

    Examples
    --------
    >>> match_score("Org/Model-A", {"org/model-a": 0.5})
    0.5
    >>> match_score("x/model-a", {"a/model-a": 0.5, "b/model-a": 0.6}) is None
    True
    """
    full, last = _model_key(model)
    exact = [v for k, v in scores.items() if _model_key(k)[0] == full]
    if exact:
        return float(exact[0])
    by_name = [v for k, v in scores.items() if _model_key(k)[1] == last]
    return float(by_name[0]) if len(by_name) == 1 else None


def correlation_view(
    runs: list[str | Path],
    scores_csv: str | Path | None = None,
    paper_table: bool = False,
) -> dict | None:
    """What the correlation figure draws: reference models and the runs measured here.

    With ``paper_table``, the reference is the paper's 12 models (their published average
    SOCM and MTEB(eng, v2) scores), so the figure works with any number of runs, and a run
    whose model is not in the table is still drawn (on the x-axis: no score). With
    ``scores_csv``, the runs are correlated with the CSV's scores when at least 3 of them
    have one, and drawn in any case.

    Parameters
    ----------
    runs : list of str or Path
        Measure run folders.
    scores_csv : str or Path, optional
        CSV ``model, score``.
    paper_table : bool
        Use the paper's table.

    Returns
    -------
    dict or None
        ``result`` (reference :func:`socm.analyses.correlate.correlate` result or None),
        ``measured`` (one dict per run: ``model``, ``avg_socm``, ``score``, ``numerics``,
        ``ci``, ``run``), ``measured_result`` (the runs' own correlation, None when fewer
        than 3 have scores), ``notes`` and ``score_source``; None when no score source is
        given.

    Raises
    ------
    SocmError
        Unreadable runs or scores; with ``scores_csv``, no run with a score.
    """
    from socm.analyses.correlate import correlate, correlate_runs, read_scores_csv
    from socm.inputs.paper_table import paper_rows

    if not (scores_csv or paper_table):
        return None
    if scores_csv and paper_table:
        raise SocmError("give one score source: --scores CSV or --paper-table")
    if paper_table:
        result = correlate_runs([], paper_table=True)
        scores = paper_rows()[1]
        source = result["score_source"]
    else:
        result = None
        scores = read_scores_csv(scores_csv)
        source = f"scores from {scores_csv}"
    measured = []
    for run in runs:
        s = read_summary(run)
        ci = s.get("avg_socm_ci95")
        measured.append(
            {
                "model": s["model"],
                "avg_socm": float(s["avg_socm"]),
                "score": match_score(s["model"], scores),
                "numerics": s.get("numerics"),
                "ci": tuple(ci)
                if isinstance(ci, list) and len(ci) == 2 and None not in ci
                else None,
                "run": str(run),
            }
        )
    notes = [f"no score for {m['model']}" for m in measured if m["score"] is None]
    scored = [m for m in measured if m["score"] is not None]
    measured_result = None
    if len(scored) >= 3:
        try:
            measured_result = correlate(
                [{"model": m["model"], "avg_socm": m["avg_socm"]} for m in scored],
                {m["model"]: m["score"] for m in scored},
                source,
            )
        except SocmError as exc:
            notes.append(str(exc))
    if scores_csv and not scored:
        names = ", ".join(m["model"] for m in measured)
        raise SocmError(
            f"{scores_csv}: no score for any run's model ({names})"
            if measured
            else "give run folders to correlate with --scores"
        )
    return {
        "result": result,
        "measured": measured,
        "measured_result": measured_result,
        "notes": notes,
        "score_source": source,
    }
