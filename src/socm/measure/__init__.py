"""``socm measure``: the job and the run infrastructure other commands share.

``config`` (:class:`MeasureConfig`, the encoder it describes), ``select`` (texts and pairs),
``job`` (:func:`run_measure`), ``summary`` (``summary.json`` and its table), ``rundir`` (run
folders read back, versions), ``writer`` (run folders written: naming, one run per folder,
all or nothing).
"""

from socm.inputs.pair_list import pairs_from_ids, read_pairs_file
from socm.measure.config import DEFAULT_MODEL, MeasureConfig, make_encoder
from socm.measure.job import run_measure
from socm.measure.rundir import read_mine_summary, read_summary, run_file, versions
from socm.measure.select import pair_index_from_linear, prepare, select_texts
from socm.measure.summary import format_summary
from socm.measure.writer import RunWriter, default_run_dir

__all__ = [
    "DEFAULT_MODEL",
    "MeasureConfig",
    "RunWriter",
    "default_run_dir",
    "format_summary",
    "make_encoder",
    "pair_index_from_linear",
    "pairs_from_ids",
    "prepare",
    "read_mine_summary",
    "read_pairs_file",
    "read_summary",
    "run_file",
    "run_measure",
    "select_texts",
    "versions",
]
