"""Where scored pairs go: the run's pair file, running sums and per-label sums.

The layer between the math (:mod:`socm.core`) and whoever schedules the scoring
(:mod:`socm.backends`, :mod:`socm.measure`): a :class:`PairSink` receives scored tiles in this
process (:meth:`PairSink.add`) or the results of parts written elsewhere
(:meth:`PairSink.part` describes a part to a worker, :func:`write_part` writes it there and
:meth:`PairSink.merge` takes its sums back), so that a cluster's tasks and a local loop fill
the same ``pairs.parquet``, ``summary.json`` sums and per-label averages. Every column comes
from the run's pair schema (:mod:`socm.core.schema`). Nothing here imports a backend or a job.
"""

from socm.runs.labels import LabelSums
from socm.runs.pairs_file import PairsFile, part_name
from socm.runs.sink import PairSink, PartResult, PartSpec, write_part

__all__ = [
    "LabelSums",
    "PairSink",
    "PairsFile",
    "PartResult",
    "PartSpec",
    "part_name",
    "write_part",
]
