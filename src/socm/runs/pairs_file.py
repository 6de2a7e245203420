"""``pairs.parquet``: one file written as tiles arrive, or one part per cluster task.

Columns: ``text1_id``, ``text2_id`` (dictionary-encoded strings: indices into the texts, no
per-pair Python strings), one float column per stored pair column of the run's schema
(:func:`socm.core.schema.stored_names`: ``d_mu``, ``d_sigma``, ``socm``, ...) and, for listed
pairs with labels, ``label``. A cluster run writes a folder of parts named by :func:`part_name`
(read back in part order by :func:`socm.measure.rundir.pairs_dataset`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from socm.core.pairs import PairResult, pair_position
from socm.core.schema import PairSchema, current_schema, stored_names
from socm.files import write_error

__all__ = ["PairsFile", "part_name"]


def part_name(k: int) -> str:
    """The file name of part ``k`` of a folder of parts (``part-000012.parquet``)."""
    return f"part-{k:06d}.parquet"


class PairsFile:
    """``pairs.parquet`` written as tiles arrive (row groups of :attr:`ROW_GROUP` pairs).

    With ``n_sorted`` (all pairs of that many texts), pairs are gathered and written in
    combinations order at :meth:`close` (only for runs small enough to hold). ``path=None``
    writes nothing (``--no-pairs-file``).

    Parameters
    ----------
    path : Path or None
        The file.
    ids : list of str
        The texts' ids, which the pairs' indices point into.
    labels : list of str or None, optional
        One label per listed pair (in the listed order): a ``label`` column.
    n_sorted : int, optional
        All pairs of this many texts, written in combinations order.
    schema : tuple of PairColumn, optional
        The run's pair columns (default :func:`~socm.core.schema.current_schema`).
    """

    ROW_GROUP = 1 << 18

    def __init__(
        self,
        path: Path | None,
        ids: list[str],
        labels: list[str | None] | None = None,
        n_sorted: int | None = None,
        schema: PairSchema | None = None,
    ) -> None:
        self.path = path
        self.n_ids = len(ids)
        self._dictionary = None if path is None else _string_array(ids)
        self.labels = labels
        self.n_sorted = n_sorted
        self.schema = current_schema() if schema is None else schema
        self.columns = stored_names(self.schema)
        self._parts: list[PairResult] = []
        self._labels: list[str | None] = []
        self._rows = 0
        self._writer: Any = None

    def add(self, tile: PairResult, start: int) -> None:
        """Queue a tile (listed pairs: positions ``start ..``)."""
        if self.path is None:
            return
        self._parts.append(tile)
        if self.labels is not None:
            self._labels += self.labels[start : start + len(tile)]
        self._rows += len(tile)
        if self.n_sorted is None and self._rows >= self.ROW_GROUP:
            self._flush()

    def _table(self, tile: PairResult, label: list | None = None) -> Any:
        import pyarrow as pa

        index = pa.int32() if self.n_ids < 2**31 else pa.int64()
        columns = {
            "text1_id": pa.DictionaryArray.from_arrays(pa.array(tile.i, index), self._dictionary),
            "text2_id": pa.DictionaryArray.from_arrays(pa.array(tile.j, index), self._dictionary),
            **{name: tile.columns[name] for name in self.columns},
        }
        if self.labels is not None:
            columns["label"] = pa.array(label, type=pa.string())
        return pa.table(columns)

    def _flush(self) -> None:
        try:
            self._write()
        except OSError as exc:  # a full disk: name the file
            raise write_error(self.path, exc) from None

    def _write(self) -> None:
        import pyarrow.parquet as pq

        if not self._parts:
            return
        tile = PairResult.concat(self._parts)
        label = self._labels if self.labels is not None else None
        if self.n_sorted is not None:
            pos = pair_position(tile.i, tile.j, self.n_sorted)
            tile = tile.take(np.argsort(pos, kind="stable"))
        table = self._table(tile, label=label)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table, row_group_size=self.ROW_GROUP)
        self._parts, self._labels, self._rows = [], [], 0

    def close(self) -> None:
        """Write what is queued and finish the file."""
        if self.path is None:
            return
        self._flush()
        try:
            if self._writer is None:  # no pair at all: an empty file with the columns
                import pyarrow.parquet as pq

                empty = PairResult.empty(self.schema)
                pq.write_table(self._table(empty, label=[]), self.path)
            else:
                self._writer.close()
        except OSError as exc:
            raise write_error(self.path, exc) from None


def _string_array(values: list[str]) -> Any:
    import pyarrow as pa

    return pa.array(values, type=pa.string())
