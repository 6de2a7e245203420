"""What the report's section builders share: the context, a section, the table sizes.

:class:`ReportContext` holds the runs, their summaries, text tables, shared limits, labels and
the page's JSON (built once by :func:`socm.output.report.build_report`); a builder returns
:class:`Section` objects; :data:`TOP_K`, :data:`MAX_PER_TEXT`, :data:`TEXT_ROWS` and
:data:`MINE_ROWS` size the tables of every section (the measure runs' and the mine runs').
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from socm.output.data import Limits, TextTable
from socm.output.report.page import PageData

__all__ = [
    "MAX_PER_TEXT",
    "MINE_HIDDEN",
    "MINE_ROWS",
    "SETTINGS",
    "TEXT_ROWS",
    "TOP_K",
    "ReportContext",
    "Section",
]

TOP_K = 10
"""Top pairs per run in the report."""
MAX_PER_TEXT = 2
"""A text appears in at most this many of a run's top pairs (and of a mine run's rows)."""
TEXT_ROWS = 20
"""Rows of each run's per-text table (and of a mine run's texts)."""
MINE_ROWS = 25
"""Kept pairs shown per mine run (each text in at most :data:`MAX_PER_TEXT` of them)."""
SETTINGS = (
    "model",
    "revision",
    "corpus",
    "unit",
    "n_texts",
    "n_population",
    "n_pairs",
    "pairs",
    "pairs_possible",
    "seed",
    "numerics",
    "layer",
    "token_policy",
    "ci_method",
    "ci_level",
    "timings",
    "device",
    "backend",
    "created",
)
"""Summary fields in the settings table (then the versions)."""
MINE_HIDDEN = ("top_pairs", "config", "versions")
"""``mine_summary.json`` keys the settings table leaves out (the pairs are in the mine
section; the versions get a row each)."""


@dataclass
class Section:
    """One section of the page: its anchor, its title (HTML), its pieces of HTML and the
    shorter title the contents bar shows (None: the title)."""

    anchor: str
    title: str
    body: list[str] = field(default_factory=list)
    toc: str | None = None

    def html(self) -> list[str]:
        """The heading, then the body's pieces."""
        return [f"<h2 id='{self.anchor}'>{self.title}</h2>", *self.body]


@dataclass
class ReportContext:
    """Everything the section builders share.

    Attributes
    ----------
    runs : list of Path
        Every folder, in the order given.
    measure, mines, paired : list of Path
        The measure runs, the ``socm mine`` folders and the measure runs with pairs.
    rows, summaries : list of dict
        Per measure run: :func:`run_rows` and ``summary.json``.
    limits : Limits
        Axis, colour and bin limits shared by every figure.
    labels : dict
        Folder → label (plain text).
    tables : dict
        Measure run → :class:`socm.output.data.TextTable`.
    page : PageData
        The JSON the page's script reads.
    run_index : dict
        Measure run → its index in ``page``.
    backbone : Path or None
        The backbone's run.
    families : dict or None
        Model → backbone (correlation arrows).
    view : dict or None
        What the correlation figure draws.
    corr_error : str or None
        Why there is no correlation figure.
    pair_views : int
        Pairs of each mine run drawn token by token (0: none; the model is loaded for them).
    tops : dict
        Paired run → its top pairs and their indices in ``page`` (filled by
        :func:`pairs_section`, read by :func:`top_pairs_section`).
    """

    runs: list[Path]
    measure: list[Path]
    mines: list[Path]
    paired: list[Path]
    rows: list[dict]
    summaries: list[dict]
    limits: Limits
    labels: dict[Path, str]
    tables: dict[Path, TextTable]
    page: PageData
    run_index: dict[Path, int]
    backbone: Path | None = None
    families: dict[str, str] | None = None
    view: dict | None = None
    corr_error: str | None = None
    pair_views: int = 3
    tops: dict[Path, list[tuple[dict, int]]] = field(default_factory=dict)
