"""Running sums per pair label, for per-label averages of every averaged pair column."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from socm.core.schema import PairSchema, averaged_names, current_schema

__all__ = ["LabelSums"]


class LabelSums:
    r"""Running sums per pair label (``"(none)"`` for a pair without one).

    For label :math:`\ell` and each averaged column :math:`h` (:mod:`socm.core.schema`) keeps
    the count :math:`m_\ell` and :math:`\sum_{e:\,\ell(e)=\ell} h_e`; :meth:`result` gives the
    means :math:`\bar h_\ell`.

    Parameters
    ----------
    labels : list of str or None
        One label per listed pair, in the listed order.
    schema : tuple of PairColumn, optional
        The run's pair columns (default :func:`~socm.core.schema.current_schema`).

    Examples
    --------
    >>> from socm.core.pairs import PairResult
    >>> sums = LabelSums(["pos", "neg", "pos"])
    >>> sums.update(0, PairResult([0, 1, 0], [1, 2, 2], socm=[0.2, 0.4, 0.4],
    ...                           d_mu=[0.1] * 3, d_sigma=[0.5] * 3))
    >>> sums.result()["pos"]["avg_socm"], sums.result()["neg"]["n_pairs"]
    (0.30000000000000004, 1)
    """

    def __init__(self, labels: Sequence[str | None], schema: PairSchema | None = None) -> None:
        lab = ["" if x is None else x for x in labels]
        self.names = list(dict.fromkeys(lab))
        index = {name: k for k, name in enumerate(self.names)}
        self.code = np.array([index[x] for x in lab], dtype=np.int64)
        self.metrics = averaged_names(current_schema() if schema is None else schema)
        self.sums = np.zeros((len(self.names), 1 + len(self.metrics)))  # count, then columns

    def update(self, start: int, tile: Any) -> None:
        """Add the listed pairs ``start .. start + len(tile)`` (a
        :class:`~socm.core.pairs.PairResult`)."""
        code = self.code[start : start + len(tile)]
        k = len(self.names)
        self.sums[:, 0] += np.bincount(code, minlength=k)
        for col, name in enumerate(self.metrics, start=1):
            self.sums[:, col] += np.bincount(code, weights=tile.columns[name], minlength=k)

    def merge(self, names: list[str], sums: np.ndarray) -> None:
        """Add another :class:`LabelSums`' ``names`` and ``sums`` (e.g. a cluster worker's,
        over its part of the listed pairs).

        Raises
        ------
        ValueError
            A label this one does not know, or sums of other columns.
        """
        sums = np.asarray(sums)
        if sums.ndim != 2 or sums.shape[1] != self.sums.shape[1]:
            raise ValueError(f"label sums of shape {sums.shape} do not fit {self.sums.shape}")
        index = {name: k for k, name in enumerate(self.names)}
        for name, row in zip(names, sums, strict=True):
            if name not in index:
                raise ValueError(f"unknown pair label {name!r}")
            self.sums[index[name]] += row

    def result(self) -> dict[str, dict[str, Any]]:
        """``{label: {n_pairs, avg_<column>...}}`` for every label with pairs."""
        out = {}
        for name, (n, *totals) in zip(self.names, self.sums, strict=True):
            if n:
                out[name or "(none)"] = {
                    "n_pairs": int(n),
                    **{f"avg_{m}": float(v / n) for m, v in zip(self.metrics, totals, strict=True)},
                }
        return out
