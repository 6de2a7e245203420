"""Analyses built on the measurement, one module per command.

* ``layers`` — :func:`run_layers`: normalised spread and within-text cosine per layer (and the
  average SOCM per layer); :func:`format_layer_table`.
* ``mechanism`` — :func:`run_mechanism`: the attention contraction λ, the residual ratio r and
  the token-wise map's C per layer; :func:`format_mechanism_table`. Its building blocks
  (layer specs, captured residuals) stay in :mod:`socm.analyses.mechanism`, the mapping onto
  pre-norm decoder layers in :mod:`socm.analyses.prenorm`.
* ``correlate`` — :func:`correlate_runs`: average SOCM against downstream scores (a CSV, the
  paper's table or STS-B), Spearman ρ; the readers of collapse and score files. The function
  ``correlate`` (rows and scores to ρ) is imported from the module, whose name it shares.
* ``compare`` — :func:`run_compare`: several models on the same texts and pairs;
  :func:`paired_delta`, the pair-by-pair difference of two runs.
* ``reproduce`` — :func:`run_reproduce`: the paper's table where models and data are reachable.
* ``pair`` — :func:`explain_pair`: one pair of texts explained for one or more models (what
  :func:`socm.output.pair_figure` draws).
* ``mine`` — :func:`run_mine`: the near pairs of a corpus whose token distributions differ
  most, in a run folder; :func:`pair_texts` gives the two texts of a listed pair.
* ``validate`` — :func:`validate_run`: how each pair measure of a run of labelled pairs (human
  similarity, relevance) relates to the labels: Spearman, partial Spearman given the cosine,
  AUC among the nearest pairs, bootstrap intervals; :func:`format_validation`.

Each ``run_*`` takes a :class:`socm.measure.MeasureConfig` and writes into the run folder it
names; each ``format_*`` renders a result as the command line prints it.
"""

from socm.analyses.compare import format_markdown, measure_or_reuse, paired_delta, run_compare
from socm.analyses.correlate import (
    correlate_runs,
    format_correlation,
    read_collapse_csv,
    read_run_summaries,
    read_scores_csv,
    read_stsb,
    sts_spearman,
    stsb_scores,
)
from socm.analyses.layers import format_layer_table, run_layers, summarize_layers
from socm.analyses.mechanism import format_mechanism_table, run_mechanism
from socm.analyses.mine import format_mine, pair_texts, read_mine_run, run_mine
from socm.analyses.pair import explain_pair, pair_numbers, pair_panel
from socm.analyses.reproduce import format_reproduce, run_reproduce
from socm.analyses.validate import format_validation, validate_run

__all__ = [
    "correlate_runs",
    "explain_pair",
    "format_correlation",
    "format_layer_table",
    "format_markdown",
    "format_mechanism_table",
    "format_mine",
    "format_reproduce",
    "format_validation",
    "measure_or_reuse",
    "pair_numbers",
    "pair_panel",
    "pair_texts",
    "paired_delta",
    "read_collapse_csv",
    "read_mine_run",
    "read_run_summaries",
    "read_scores_csv",
    "read_stsb",
    "run_compare",
    "run_layers",
    "run_mechanism",
    "run_mine",
    "run_reproduce",
    "sts_spearman",
    "stsb_scores",
    "summarize_layers",
    "validate_run",
]
