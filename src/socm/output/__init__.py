r"""What comes out for people: figures, one module per kind, and the one-file HTML report.

Figures (matplotlib; PNG, SVG or PDF by :func:`save`):

* ``heatmap`` — :func:`heatmap`: SOCM over :math:`(d_\mu, d_\Sigma)`, runs on top;
  :func:`socm_grid`.
* ``scatter`` — :func:`scatter`: every pair of one or more runs as a density.
* ``texts`` — :func:`texts_figure`: per text, spread, length and mean SOCM;
  :func:`spread_socm_figure`: what drives the average.
* ``overview`` — :func:`overview_figure`: runs' average SOCM ± CI beside the paper's models.
* ``distribution`` — :func:`socm_distribution`: SOCM histogram and CDF, quantiles, mean ± CI.
* ``candidates`` — :func:`candidates_figure`: a ``socm mine`` run's kept pairs.
* ``pair`` — :func:`pair_figure`: two texts' tokens and covariance spectra;
  :func:`covariance_eigenvalues`.
* ``layers`` — :func:`layers_figure`: per-layer curves; :func:`layer_depth`.
* ``correlation`` — :func:`correlation_figure`: average SOCM against a downstream score.

Shared by them: ``style`` (colours, matplotlib style, saving, run labels, label placement),
``common`` (contours, the cosine axis and the other pieces of the :math:`(d_\mu, d_\Sigma)`
plane) and ``data`` (what figures and report read from run folders, streamed: :class:`Limits`,
:func:`scan_pairs`, :func:`read_texts`, :func:`top_pairs`, ...). The report: the package
``report`` (:func:`build_report`, assembled from one builder per section in
``report.sections``, wrapped in the page of ``report.page``) and ``interactive`` (the hover
overlay, its script and the safe embedded JSON).

The functions :func:`heatmap` and :func:`scatter` carry their module's name, so
``socm.output.heatmap`` and ``socm.output.scatter`` are the functions; import other names of
those modules with ``from socm.output.heatmap import ...``.
"""

from socm.output.candidates import candidates_figure
from socm.output.correlation import correlation_figure
from socm.output.data import (
    Limits,
    PairScan,
    TextTable,
    correlation_view,
    is_measure_run,
    is_mine_run,
    mine_data,
    read_texts,
    scan_pairs,
    shared_limits,
    socm_percentile,
    top_pairs,
)
from socm.output.distribution import socm_distribution
from socm.output.heatmap import heatmap, socm_grid
from socm.output.layers import LAYER_DEFINITIONS, layer_depth, layers_figure
from socm.output.overview import overview_figure
from socm.output.pair import ELLIPSE_K, covariance_eigenvalues, pair_figure
from socm.output.report import build_report, run_rows, worst_pairs
from socm.output.scatter import scatter
from socm.output.style import STYLE, figure_bytes, run_label, run_labels, save
from socm.output.texts import spread_socm_figure, texts_figure

__all__ = [
    "ELLIPSE_K",
    "LAYER_DEFINITIONS",
    "STYLE",
    "Limits",
    "PairScan",
    "TextTable",
    "build_report",
    "candidates_figure",
    "correlation_figure",
    "correlation_view",
    "covariance_eigenvalues",
    "figure_bytes",
    "heatmap",
    "is_measure_run",
    "is_mine_run",
    "layer_depth",
    "layers_figure",
    "mine_data",
    "overview_figure",
    "pair_figure",
    "read_texts",
    "run_label",
    "run_labels",
    "run_rows",
    "save",
    "scan_pairs",
    "scatter",
    "shared_limits",
    "socm_distribution",
    "socm_grid",
    "socm_percentile",
    "spread_socm_figure",
    "texts_figure",
    "top_pairs",
    "worst_pairs",
]
