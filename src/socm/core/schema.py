r"""The pair columns: one declaration per per-pair value, driving every place that handles them.

Every per-pair value socm computes is a :class:`PairColumn`: its name, dtype, description, its
formula (a function of the :class:`PairParts` the engine computes for a tile of pairs, and of the
columns declared before it), and what is done with it:

* ``stored``: a column of ``pairs.parquet`` (and of ``socm mine``'s ``candidates.parquet``);
* ``averaged``: averaged over the scored pairs in ``summary.json`` (``avg_<name>``), per text in
  ``texts.jsonl`` (``mean_<name>``) and per pair label (``by_label``);
* ``interval``: the average carries a 95% confidence interval (``avg_<name>_ci95``,
  :mod:`socm.core.uncertainty`);
* ``rankable``: ``socm mine --rank-by`` may order candidate pairs by it.

The engine (:func:`socm.core.pairs.iter_pairwise`), the running sums
(:class:`socm.core.uncertainty.PairAccumulator`), the pair writer and the per-label sums
(:mod:`socm.runs`), the cluster tasks (:mod:`socm.backends.ray`), the summary and its
validation (:mod:`socm.measure`) and the mining ranking (:mod:`socm.core.mine`) all read the
columns from a :data:`PairSchema` (by default :func:`current_schema`), so adding a column is its
formula (in :mod:`socm.core.metrics`), one :func:`register_pair_column` call and, if it is to
be drawn, its figure. A schema is a plain tuple, handed explicitly to work that runs in other
processes (a Ray task computes the columns of the driver's schema, not of its own registry).

The built-in columns (:data:`BUILTIN_COLUMNS`; Hara et al., *Why Mean Pooling Works:
Quantifying Second-Order Collapse in Text Embeddings*, arXiv 2604.27398, ACL 2026, Sec. 3, and
for the relative :math:`d_\Sigma` this package's normalisation,
:func:`socm.core.metrics.relative_d_sigma_from_bw2`):

* ``d_mu`` = :math:`(1 - \cos)/2`: stored, averaged with an interval;
* ``d_sigma`` = :math:`\mathrm{BW}^2/4`: stored, averaged with an interval, rankable;
* ``socm`` = :math:`(1 - d_\mu)\,d_\Sigma`: stored, averaged with an interval, rankable;
* ``relative_d_sigma`` = :math:`\mathrm{BW}^2/(\operatorname{tr}\Sigma_i +
  \operatorname{tr}\Sigma_j)`: rankable only (``socm mine`` writes it with its candidates).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from socm.core.metrics import (
    bures_wasserstein2,
    d_mu_from_cosine,
    d_sigma_from_bw2,
    relative_d_sigma_from_bw2,
    socm_from_parts,
)

__all__ = [
    "BUILTIN_COLUMNS",
    "PairColumn",
    "PairParts",
    "PairSchema",
    "averaged_names",
    "compute_columns",
    "current_schema",
    "rankable_names",
    "register_pair_column",
    "stored_names",
    "unregister_pair_column",
]


@dataclass
class PairParts:
    r"""What the engine computes for a tile of pairs, before any column.

    Attributes
    ----------
    cosine : numpy.ndarray of float64, shape (P,)
        :math:`\tilde\mu_i^\top\tilde\mu_j`.
    fidelity : numpy.ndarray of float64, shape (P,)
        :math:`\operatorname{tr}((\Sigma_i^{1/2}\Sigma_j\Sigma_i^{1/2})^{1/2})` (or the paper
        numerics' ε-regularised counterpart).
    trace_i, trace_j : numpy.ndarray of float64, shape (P,)
        :math:`\operatorname{tr}\Sigma_i`, :math:`\operatorname{tr}\Sigma_j`.
    columns : dict
        The columns computed so far, in schema order (a formula may use any earlier one).
    """

    cosine: np.ndarray
    fidelity: np.ndarray
    trace_i: np.ndarray
    trace_j: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        """An earlier column by name."""
        return self.columns[name]

    @property
    def bw2(self) -> np.ndarray:
        r""":math:`\mathrm{BW}^2 = \operatorname{tr}\Sigma_i + \operatorname{tr}\Sigma_j -
        2\,\mathrm{fid}` (:func:`socm.core.metrics.bures_wasserstein2`)."""
        return bures_wasserstein2(self.trace_i, self.trace_j, self.fidelity)


@dataclass(frozen=True)
class PairColumn:
    """One per-pair value (see the module docstring).

    Attributes
    ----------
    name : str
        Column name (a Python identifier: also ``PairResult.<name>``).
    description : str
        One line, for documentation and figure labels.
    formula : callable
        ``formula(parts: PairParts) -> numpy.ndarray`` of shape (P,).
    dtype : str
        numpy dtype of the column.
    stored : bool
        Written to ``pairs.parquet``.
    averaged : bool
        Averaged in summaries (overall, per text, per label).
    interval : bool
        The average has a confidence interval (needs ``averaged``).
    rankable : bool
        ``socm mine`` may rank by it.
    """

    name: str
    description: str
    formula: Callable[[PairParts], np.ndarray]
    dtype: str = "float64"
    stored: bool = True
    averaged: bool = True
    interval: bool = True
    rankable: bool = False

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name in ("i", "j"):
            raise ValueError(f"a pair column needs an identifier other than i, j: {self.name!r}")
        if self.interval and not self.averaged:
            raise ValueError(f"{self.name}: an interval needs an averaged column")


#: A tuple of columns in computation order: what one run computes, stores and averages.
PairSchema = tuple[PairColumn, ...]


def _d_mu(parts: PairParts) -> np.ndarray:
    return d_mu_from_cosine(parts.cosine)


def _d_sigma(parts: PairParts) -> np.ndarray:
    return d_sigma_from_bw2(parts.bw2)


def _socm(parts: PairParts) -> np.ndarray:
    return socm_from_parts(parts["d_mu"], parts["d_sigma"])


def _relative_d_sigma(parts: PairParts) -> np.ndarray:
    return np.asarray(
        relative_d_sigma_from_bw2(4.0 * parts["d_sigma"], parts.trace_i, parts.trace_j)
    )


BUILTIN_COLUMNS: PairSchema = (
    PairColumn("d_mu", "first-order distance (1 - cosine) / 2 of the unit means", _d_mu),
    PairColumn(
        "d_sigma",
        "Bures-Wasserstein distance BW^2 / 4 of the token covariances",
        _d_sigma,
        rankable=True,
    ),
    PairColumn("socm", "second-order collapse (1 - d_mu) * d_sigma", _socm, rankable=True),
    PairColumn(
        "relative_d_sigma",
        "share of the two texts' spread that differs in shape, BW^2 / (tr S1 + tr S2)",
        _relative_d_sigma,
        stored=False,
        averaged=False,
        interval=False,
        rankable=True,
    ),
)
"""The columns every run computes (they cannot be unregistered)."""

_REGISTRY: dict[str, PairColumn] = {c.name: c for c in BUILTIN_COLUMNS}


def register_pair_column(column: PairColumn, *, replace: bool = False) -> None:
    """Add ``column`` to the registry; every later run computes, stores and averages it as
    its flags say.

    Raises
    ------
    ValueError
        A column of that name exists (and ``replace`` is False), or it is a built-in column.

    Examples
    --------
    >>> col = PairColumn("cosine", "cosine of the unit means", lambda p: p.cosine,
    ...                  interval=False)
    >>> register_pair_column(col)
    >>> "cosine" in stored_names()
    True
    >>> unregister_pair_column("cosine")
    """
    if column.name in {c.name for c in BUILTIN_COLUMNS}:
        raise ValueError(f"{column.name!r} is a built-in pair column")
    if column.name in _REGISTRY and not replace:
        raise ValueError(f"a pair column {column.name!r} is already registered")
    _REGISTRY[column.name] = column


def unregister_pair_column(name: str) -> None:
    """Remove a column added by :func:`register_pair_column` (a missing name is ignored).

    Raises
    ------
    ValueError
        ``name`` is a built-in column.
    """
    if name in {c.name for c in BUILTIN_COLUMNS}:
        raise ValueError(f"{name!r} is a built-in pair column")
    _REGISTRY.pop(name, None)


def current_schema() -> PairSchema:
    """The registered columns, built-in first, in registration order."""
    return tuple(_REGISTRY.values())


def _names(schema: Iterable[PairColumn] | None, flag: str) -> tuple[str, ...]:
    """The names of the columns with ``flag``; ``socm`` (the headline value) first."""
    cols = current_schema() if schema is None else schema
    names = [c.name for c in cols if getattr(c, flag)]
    return tuple(sorted(names, key=lambda name: name != "socm"))


def stored_names(schema: PairSchema | None = None) -> tuple[str, ...]:
    """Names of the columns written to ``pairs.parquet``, in schema order."""
    cols = current_schema() if schema is None else schema
    return tuple(c.name for c in cols if c.stored)


def averaged_names(schema: PairSchema | None = None) -> tuple[str, ...]:
    """Names of the columns averaged in summaries, ``socm`` (the headline average) first."""
    return _names(schema, "averaged")


def rankable_names(schema: PairSchema | None = None) -> tuple[str, ...]:
    """Names of the columns ``socm mine`` may rank by."""
    return _names(schema, "rankable")


def compute_columns(parts: PairParts, schema: PairSchema | None = None) -> dict[str, np.ndarray]:
    """Every column of ``schema`` (default :func:`current_schema`) for a tile, in order.

    Raises
    ------
    ValueError
        A formula returned an array of another length.
    """
    n = len(parts.cosine)
    for col in current_schema() if schema is None else schema:
        value = np.asarray(col.formula(parts), dtype=col.dtype).reshape(-1)
        if value.shape != (n,):
            raise ValueError(f"pair column {col.name!r}: {value.size} values for {n} pairs")
        parts.columns[col.name] = value
    return parts.columns
