"""The destination of a run's scored pairs: the pair file, the running sums, the label sums.

Two routes fill one :class:`PairSink`:

* **In this process** (the local backend): :meth:`PairSink.add` takes each tile as the engine
  yields it, writes it to ``pairs.parquet`` and adds it to the sums.
* **In parts written elsewhere** (a cluster backend): :meth:`PairSink.open_parts` makes
  ``pairs.parquet`` a folder, :meth:`PairSink.part` describes the next part to a worker (a
  picklable :class:`PartSpec`), the worker scores its tile and calls :func:`write_part`, which
  writes its part and returns only its sums (:class:`PartResult`, over the task's own texts),
  and :meth:`PairSink.merge` adds them here
  (:meth:`~socm.core.uncertainty.PairAccumulator.merge`, :meth:`LabelSums.merge`).

Either way :meth:`PairSink.close` finishes the file or checks the folder, and :attr:`acc` and
:attr:`per_label` hold the same sums.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from socm.core.pairs import PairResult
from socm.core.schema import PairSchema, current_schema
from socm.core.uncertainty import PairAccumulator
from socm.errors import SocmError
from socm.runs.labels import LabelSums
from socm.runs.pairs_file import PairsFile, part_name

__all__ = ["PairSink", "PartResult", "PartSpec", "write_part"]


@dataclasses.dataclass(frozen=True)
class PartSpec:
    """What a worker needs to write one part of a run's pairs and sum it.

    Attributes
    ----------
    path : str or None
        The part's file (absolute), or None (no pairs file).
    ids : list of str
        The task's texts: the tile's indices point into them.
    exact : bool
        Keep the SOCM values for exact quantiles (the run is small enough), else a histogram.
    labels : list or None
        The labels of the part's listed pairs, in order.
    schema : tuple of PairColumn
        The run's pair columns.
    """

    path: str | None
    ids: list[str]
    exact: bool
    labels: list[str | None] | None
    schema: PairSchema


@dataclasses.dataclass
class PartResult:
    """What :func:`write_part` sends back: the part's pair count, its running sums over its
    own texts (local indices) and its per-label sums."""

    n_pairs: int
    sums: PairAccumulator
    label_sums: tuple[list[str], np.ndarray] | None = None


def write_part(tile: PairResult, spec: PartSpec) -> PartResult:
    """Write a task's pairs to its part of the run's ``pairs.parquet`` folder and sum them.

    ``tile`` indexes ``spec.ids``. The part is written under a temporary name and renamed, so
    a retried task never leaves half a part.
    """
    if spec.path is not None:
        final = Path(spec.path)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        out = PairsFile(tmp, spec.ids, spec.labels, schema=spec.schema)
        out.add(tile, 0)
        out.close()
        os.replace(tmp, final)
    sums = PairAccumulator(len(spec.ids), spec.schema, keep_exact_up_to=len(tile) * spec.exact)
    if len(tile):
        sums.add(tile)
    label_sums = None
    if spec.labels is not None:
        per_label = LabelSums(spec.labels, spec.schema)
        per_label.update(0, tile)
        label_sums = (per_label.names, per_label.sums)
    return PartResult(len(tile), sums, label_sums)


class PairSink:
    """A run's scored pairs: ``pairs.parquet`` (a file or a folder of parts), the running sums
    (:attr:`acc`) and, for labelled listed pairs, the per-label sums (:attr:`per_label`).

    Parameters
    ----------
    ids : sequence of str
        Every text's id, in order.
    pairs_path : Path, optional
        The run's ``pairs.parquet``; None writes no pairs (``--no-pairs-file``).
    labels : list, optional
        One label per listed pair (a ``label`` column and per-label sums).
    n_sorted : int, optional
        All pairs of this many texts: the local file is written in combinations order.
    schema : tuple of PairColumn, optional
        The run's pair columns (default :func:`~socm.core.schema.current_schema`).
    """

    def __init__(
        self,
        ids: Sequence[str],
        pairs_path: Path | None = None,
        labels: list[str | None] | None = None,
        n_sorted: int | None = None,
        schema: PairSchema | None = None,
    ) -> None:
        self.ids = list(ids)
        self.schema = current_schema() if schema is None else schema
        self.pairs_path = pairs_path
        self.labels = labels
        self.acc = PairAccumulator(len(self.ids), self.schema)
        self.per_label = LabelSums(labels, self.schema) if labels is not None else None
        self._file = PairsFile(pairs_path, self.ids, labels, n_sorted, self.schema)
        self._parts_dir: Path | None = None
        self._parts = 0
        self._part_rows: list[int] = []  # pairs described per part, in part order
        self._submitted = 0  # pairs in the parts described so far
        self._start = 0  # listed pairs added so far (local route)

    # ------------------------------------------------------------------ in this process
    def add(self, tile: PairResult) -> None:
        """Add a scored tile (listed pairs arrive in the listed order)."""
        self.acc.add(tile)
        self._file.add(tile, self._start)
        if self.per_label is not None:
            self.per_label.update(self._start, tile)
        self._start += len(tile)

    # ------------------------------------------------------------------ in parts
    def open_parts(self) -> None:
        """Make ``pairs.parquet`` a folder that workers write their parts into (an absolute
        path: workers on other nodes run in other folders)."""
        if self.pairs_path is not None:
            self._parts_dir = Path(self.pairs_path).resolve()
            self._parts_dir.mkdir(exist_ok=False)

    def part(self, n_pairs: int, texts: np.ndarray, start: int | None = None) -> PartSpec:
        """Describe the next part: ``n_pairs`` pairs over the texts at positions ``texts``;
        ``start``: the position of its first pair among listed pairs (for their labels)."""
        self._submitted += n_pairs
        self._part_rows.append(int(n_pairs))
        path = None
        if self._parts_dir is not None:
            path = str(self._parts_dir / part_name(self._parts))
        self._parts += 1
        labels = None
        if self.labels is not None and start is not None:
            labels = self.labels[start : start + n_pairs]
        exact = self._submitted <= self.acc.socm_quantiles.keep_exact_up_to
        return PartSpec(path, [self.ids[t] for t in texts], exact, labels, self.schema)

    def merge(self, result: PartResult, texts: np.ndarray) -> None:
        """Add a part's sums; ``texts``: the positions of its texts here."""
        self.acc.merge(result.sums, index=texts)
        if self.per_label is not None and result.label_sums is not None:
            self.per_label.merge(*result.label_sums)

    # ------------------------------------------------------------------ the end
    def close(self) -> None:
        """Finish the file, or check the folder of parts (every described part arrived with
        the pairs it was described with, no stray temporary file; an empty part with the
        columns when there was no pair).

        Raises
        ------
        SocmError
            Parts missing from the folder (it is not on storage every worker sees), or a part
            with other pairs than described.
        """
        import pyarrow.parquet as pq

        folder = self._parts_dir
        if folder is None:
            self._file.close()
            return
        for stray in folder.glob(".part-*.tmp"):  # left by a killed attempt
            stray.unlink(missing_ok=True)
        if self._parts == 0:  # no pair at all: one empty part with the columns
            write_part(PairResult.empty(self.schema), self.part(0, np.zeros(0, np.int64), 0))
        found = len(list(folder.glob("part-*.parquet")))
        if found != self._parts:
            raise SocmError(
                f"{folder}: {found} parts where the tasks wrote {self._parts}: is the run "
                "folder on storage every worker sees at the same path?"
            )
        for k, rows in enumerate(self._part_rows):
            got = pq.read_metadata(folder / part_name(k)).num_rows
            if got != rows:
                raise SocmError(f"{folder / part_name(k)}: {got} pairs where its task had {rows}")

    def parts_record(self) -> dict[str, Any] | None:
        """What the run records of its folder of parts, for readers to check it against
        (:func:`socm.measure.rundir.check_pairs`): ``count`` and ``rows`` per part; None for
        one file or no pairs file."""
        if self._parts_dir is None:
            return None
        return {"count": self._parts, "rows": list(self._part_rows)}

    def result(self, **kwargs: Any) -> dict[str, Any]:
        """:meth:`PairAccumulator.result <socm.core.uncertainty.PairAccumulator.result>`."""
        return self.acc.result(**kwargs)
