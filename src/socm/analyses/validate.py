r"""``socm validate``: how a run's pair measures relate to human labels of the same pairs.

The paper's evidence is about models (lower average SOCM goes with higher MTEB scores); this
analysis tests pair-level readings of the measures on a run scored on **labelled pairs**
(``socm sts``, ``socm msmarco``, ``socm measure --pairs`` with a numeric label column): for
each pair measure — cosine of the mean-pooled embeddings, :math:`d_\mu`, :math:`d_\Sigma`,
SOCM and the relative :math:`d_\Sigma` — it reports

* ``spearman``: Spearman's :math:`\rho` of the label with the measure (signed: a similarity
  label correlates positively with the cosine, negatively with a distance);
* ``partial_spearman_given_cosine`` and ``partial_spearman_given_cosine_and_length``: the
  partial Spearman correlation of the label with the measure given the cosine (and given the
  cosine and both texts' token counts, since :math:`d_\Sigma` grows with a text's spread and
  length), :func:`partial_spearman`; the information the measure carries about the label
  *beyond* the cosine (0 for the cosine itself and for :math:`d_\mu`, a function of it);
* ``auc_near``: among the closer 50%, 25% and 10% of pairs by cosine, the AUC of the measure
  for "label below the threshold" (:func:`auc_below`): the probability that a pair labelled
  below the threshold has the larger measure, ties counted half. Larger measure means "more
  different", so the cosine enters negated; 0.5 is no information, above 0.5 is informative in
  that direction ("cosine itself" in a table is this AUC of the negated cosine).

Every value has a 95% percentile bootstrap interval (:func:`bootstrap`): the labelled pairs
are resampled with replacement (default 1,000 resamples), each statistic recomputed on each
resample (the near subsets chosen again within it). Pairs that share a text are treated as
independent, so the intervals can be somewhat too narrow when texts recur across pairs.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from socm.core.metrics import relative_d_sigma_from_bw2
from socm.errors import SocmError
from socm.measure.rundir import iter_pairs_batches, read_summary, run_file

__all__ = [
    "MEASURES",
    "MIN_PAIRS",
    "NEAR_SHARES",
    "LabelledPairs",
    "auc_below",
    "bootstrap",
    "format_validation",
    "near_indices",
    "partial_spearman",
    "rank_residuals",
    "read_labelled_pairs",
    "spearman",
    "validate_run",
]

MEASURES = ("cosine", "d_mu", "d_sigma", "socm", "relative_d_sigma")
"""The pair measures related to the labels, in report order."""
NEAR_SHARES = (0.5, 0.25, 0.1)
"""Shares of pairs, the closest by cosine, within which the AUCs are computed."""
MIN_PAIRS = 10
"""Fewest labelled pairs an analysis accepts."""
MSMARCO_LABELS = {"relevant": 1.0, "nonrelevant": 0.0}
"""The labels ``socm msmarco`` writes, read as relevance 1 and 0."""
ZERO_RESIDUAL = 1e-9
"""A rank residual whose norm is below this share of the centred ranks' norm counts as zero."""

_SIGN = {"cosine": -1.0, "d_mu": 1.0, "d_sigma": 1.0, "socm": 1.0, "relative_d_sigma": 1.0}
"""Orientation of each measure in the AUC: larger oriented value = more different."""


# --------------------------------------------------------------------------- statistics
def _centred_ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank) of each column, minus their mean."""
    r = rankdata(x, axis=0)
    return r - r.mean(axis=0)


def _corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of matching columns of ``a`` and ``b`` (n, k); NaN where either
    column is constant."""
    num = (a * b).sum(axis=0)
    den = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def spearman(y: Any, x: Any) -> float:
    """Spearman's rank correlation of ``y`` and ``x``.

    The Pearson correlation of their average ranks (Spearman, *The proof and measurement of
    association between two things*, Am. J. Psychol. 1904; ties share their mean rank, as in
    :func:`scipy.stats.spearmanr`).

    Parameters
    ----------
    y, x : array_like
        Two samples of the same length.

    Returns
    -------
    float
        :math:`\\rho \\in [-1, 1]`; NaN when either sample is constant.
    """
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    return float(_corr(_centred_ranks(y)[:, None], _centred_ranks(x)[:, None])[0])


def rank_residuals(values: Any, covariates: Any) -> np.ndarray:
    """Residuals of the average ranks of ``values`` after an OLS fit on the covariates' ranks.

    Each column of ``values`` is ranked, and so is each column of ``covariates``; the ranks of
    a value column are regressed by least squares on an intercept and the covariates' ranks,
    and the residuals returned (the rank-deficient case, e.g. a constant covariate, is solved
    with the minimum-norm least-squares solution, which gives the same projection).

    Parameters
    ----------
    values : array_like
        (n,) or (n, k) samples.
    covariates : array_like
        (n,) or (n, c) covariates.

    Returns
    -------
    numpy.ndarray
        (n, k) residuals (each column sums to 0).
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[:, None] if v.ndim == 1 else v
    z = np.asarray(covariates, dtype=np.float64)
    z = z[:, None] if z.ndim == 1 else z
    return _residuals(_centred_ranks(v), _centred_ranks(z))


def _residuals(rv: np.ndarray, rz: np.ndarray) -> np.ndarray:
    """Residuals of centred ranks ``rv`` (n, k) on centred covariate ranks ``rz`` (n, c) (the
    intercept is implicit: both are centred), by the normal equations with the pseudo-inverse
    of the small Gram matrix (the minimum-norm solution when a covariate is constant or two
    coincide)."""
    beta = np.linalg.pinv(rz.T @ rz) @ (rz.T @ rv)
    return rv - rz @ beta


def _partial(ry: np.ndarray, rx: np.ndarray, rz: np.ndarray) -> np.ndarray:
    """Partial Spearman of centred label ranks ``ry`` (n,) with each column of centred ranks
    ``rx`` (n, k) given centred covariate ranks ``rz`` (n, c); see :func:`partial_spearman`."""
    res = _residuals(np.column_stack([ry, rx]), rz)
    ey, ex = res[:, :1], res[:, 1:]
    scale = np.sqrt((np.column_stack([ry, rx]) ** 2).sum(axis=0))
    norm = np.sqrt((res**2).sum(axis=0))
    gone = norm <= ZERO_RESIDUAL * scale  # explained by the covariates: nothing left
    out = _corr(np.broadcast_to(ey, ex.shape), ex)
    out = np.where(gone[1:] | gone[0], 0.0, out)
    return np.where(scale[1:] > 0, out, np.nan) if scale[0] > 0 else np.full(ex.shape[1], np.nan)


def partial_spearman(y: Any, x: Any, covariates: Any) -> float:
    r"""Partial Spearman correlation of ``y`` and ``x`` given ``covariates``.

    The Pearson correlation of the two rank residuals (:func:`rank_residuals`): ``y``, ``x``
    and each covariate are replaced by their average ranks, the ranks of ``y`` and of ``x``
    are each regressed by OLS on an intercept and the covariates' ranks, and the residuals are
    correlated. This is the partial correlation of the ranks, the usual rank analogue of the
    partial correlation (Conover, *Practical Nonparametric Statistics*, 3rd ed., 1999,
    Sec. 5.5; Kendall & Stuart's partial rank correlation). It is 0 by definition when the
    residual of ``x`` (or of ``y``) vanishes — its ranks are a linear function of the
    covariates' ranks, e.g. ``x`` is a covariate or a monotone function of one — since ``x``
    then carries nothing beyond the covariates (residual norm at most
    :data:`ZERO_RESIDUAL` times the centred ranks' norm).

    Parameters
    ----------
    y, x : array_like
        Two samples of length n.
    covariates : array_like
        (n,) or (n, c) samples to condition on.

    Returns
    -------
    float
        The partial correlation in :math:`[-1, 1]`; NaN when ``y`` or ``x`` is constant.
    """
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    z = np.asarray(covariates, dtype=np.float64)
    z = z[:, None] if z.ndim == 1 else z
    return float(_partial(_centred_ranks(y), _centred_ranks(x)[:, None], _centred_ranks(z))[0])


def auc_below(label: Any, score: Any, threshold: float) -> float:
    r"""AUC of ``score`` for "label below ``threshold``" (Mann–Whitney U, ties counted half).

    With :math:`P` the pairs labelled below the threshold and :math:`N` the others,

    .. math::

        \mathrm{AUC} = \frac{1}{|P|\,|N|} \sum_{p \in P} \sum_{q \in N}
        \big([s_p > s_q] + \tfrac12 [s_p = s_q]\big)
        = \frac{R_P - |P|(|P| + 1)/2}{|P|\,|N|},

    :math:`R_P` the sum of the average ranks of the scores of :math:`P` among all scores
    (Mann & Whitney, Ann. Math. Stat. 1947; Bamber, J. Math. Psychol. 1975). 0.5: the score
    does not separate the groups; 1: every pair below the threshold scores higher.

    Parameters
    ----------
    label : array_like
        Numeric labels.
    score : array_like
        Scores, larger meaning "more likely below the threshold".
    threshold : float
        Labels strictly below it are the positive group.

    Returns
    -------
    float
        The AUC; NaN when one group is empty.
    """
    label = np.asarray(label, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    return float(_auc(label < threshold, score[:, None])[0])


def _auc(pos: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """:func:`auc_below` of each column of ``scores`` (n, k) for the boolean ``pos`` (n,)."""
    n_pos = int(pos.sum())
    n_neg = len(pos) - n_pos
    if n_pos == 0 or n_neg == 0:
        return np.full(scores.shape[1], np.nan)
    ranks = rankdata(scores, axis=0)
    return (ranks[pos].sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def near_indices(cosine: Any, share: float) -> np.ndarray:
    """Positions of the ``share`` of pairs closest by cosine: the ``ceil(share * n)`` largest
    cosines (ties at the cut broken by position).

    Parameters
    ----------
    cosine : array_like
        Cosine of each pair.
    share : float
        In (0, 1].

    Returns
    -------
    numpy.ndarray
        Positions, largest cosine first.
    """
    cosine = np.asarray(cosine, dtype=np.float64)
    k = math.ceil(share * len(cosine) - 1e-9)
    return np.argsort(-cosine, kind="stable")[:k]


def bootstrap(
    statistic: Callable[[np.ndarray], np.ndarray],
    n: int,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile bootstrap intervals of a vector of statistics over n units.

    Each resample draws n units with replacement; the interval of each statistic is the
    ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of its values over the resamples where it
    is defined (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, Sec. 13.3).

    Parameters
    ----------
    statistic : callable
        ``statistic(idx)`` -> (k,) values on the units at positions ``idx``; NaN where
        undefined.
    n : int
        Number of units.
    resamples : int
        Number of resamples B.
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    level : float
        Coverage of the intervals.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        The estimates ``statistic(arange(n))`` (k,), the intervals (k, 2) (NaN where a
        statistic is defined in fewer than half the resamples) and the number of resamples in
        which each statistic was defined (k,).
    """
    estimate = np.asarray(statistic(np.arange(n)), dtype=np.float64)
    rng = np.random.default_rng(seed)
    values = np.empty((resamples, len(estimate)))
    for b in range(resamples):
        values[b] = statistic(rng.integers(0, n, n))
    ok = np.isfinite(values)
    counts = ok.sum(axis=0)
    ci = np.full((len(estimate), 2), np.nan)
    q = [(1 - level) / 2, (1 + level) / 2]
    for k in range(len(estimate)):
        if counts[k] >= max(resamples / 2, 1):
            ci[k] = np.quantile(values[ok[:, k], k], q)
    return estimate, ci, counts


# --------------------------------------------------------------------------- reading a run
@dataclass
class LabelledPairs:
    """A run's labelled pairs and what the analysis needs of each.

    Attributes
    ----------
    label : numpy.ndarray
        Numeric label of each pair.
    measures : dict
        ``cosine``, ``d_mu``, ``d_sigma``, ``socm``, ``relative_d_sigma``: one value per pair.
    n_tokens : numpy.ndarray
        (P, 2) token counts of text 1 and text 2.
    spread : numpy.ndarray
        (P, 2) normalised spreads of text 1 and text 2.
    text_ids : numpy.ndarray
        (P, 2) the texts' ids.
    n_unlabelled : int
        Pairs of the run without a label (left out).
    label_source : str
        ``"numbers"`` or how the labels were read as numbers.
    """

    label: np.ndarray
    measures: dict[str, np.ndarray]
    n_tokens: np.ndarray
    spread: np.ndarray
    text_ids: np.ndarray
    n_unlabelled: int
    label_source: str

    def __len__(self) -> int:
        return len(self.label)


def _cosine(d_mu: np.ndarray) -> np.ndarray:
    """Cosine of the mean-pooled embeddings from :math:`d_\\mu`: the inverse of
    :func:`socm.core.metrics.d_mu_from_cosine`, :math:`\\cos = 1 - 2 d_\\mu`."""
    return 1.0 - 2.0 * d_mu


def _numbers(labels: list[str], where: Path) -> tuple[dict[str, float], str]:
    """Each distinct label as a number, and how they were read."""
    distinct = list(dict.fromkeys(labels))
    if set(distinct) <= set(MSMARCO_LABELS):
        return dict(MSMARCO_LABELS), "socm msmarco labels: relevant = 1, nonrelevant = 0"
    values = {}
    for lab in distinct:
        try:
            v = float(lab)
        except ValueError:
            v = math.nan
        if not math.isfinite(v):
            raise SocmError(
                f"{where}: label {lab!r} is not a number; validate needs numeric labels "
                "(a similarity or relevance score)"
            )
        values[lab] = v
    return values, "numbers"


def _read_texts(run: Path) -> dict[str, tuple[int, float]]:
    """``id -> (n_tokens, normalized_spread)`` from the run's ``texts.jsonl``."""
    path = run_file(run, "texts.jsonl")
    out = {}
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                out[str(rec["id"])] = (int(rec["n_tokens"]), float(rec["normalized_spread"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                raise SocmError(
                    f"{path}: line {n} is not a text record with id, n_tokens and normalized_spread"
                ) from None
    return out


def read_labelled_pairs(run: str | Path) -> LabelledPairs:
    """The labelled pairs of a run folder scored on listed pairs with labels.

    Parameters
    ----------
    run : str or Path
        A run folder of ``socm sts``, ``socm msmarco`` or ``socm measure --pairs`` (a label
        column): ``summary.json``, ``pairs.parquet`` (a file or a folder of parts),
        ``texts.jsonl``.

    Returns
    -------
    LabelledPairs
        Pairs without a label are left out (counted). The labels ``relevant`` and
        ``nonrelevant`` of ``socm msmarco`` are read as 1 and 0.

    Raises
    ------
    SocmError
        A ``socm mine`` folder, a missing or broken file, pairs without a label column or
        with no label, a label that is not a finite number (named), fewer than
        :data:`MIN_PAIRS` labelled pairs, or a constant label; each names the file.
    """
    run = Path(run)
    if (run / "mine_summary.json").is_file():
        raise SocmError(
            f"{run}: a socm mine folder (mine_summary.json); validate needs a run scored on "
            "labelled pairs (socm sts, socm msmarco, socm measure --pairs with a label column)"
        )
    read_summary(run)
    path = run_file(run, "pairs.parquet")
    hint = "socm sts, socm msmarco or socm measure --pairs with a third (label) column"
    schema_names = _schema_names(path)
    if "label" not in schema_names:
        raise SocmError(
            f"{path}: no label column; validate needs pairs scored with labels ({hint})"
        )
    cols = ["text1_id", "text2_id", "d_mu", "d_sigma", "socm", "label"]
    parts: dict[str, list] = {c: [] for c in cols}
    for batch in iter_pairs_batches(path, cols):
        for c in cols:
            parts[c].append(batch.column(c))
    label_all = [x for chunk in parts["label"] for x in chunk.to_pylist()]
    keep = np.array([x is not None for x in label_all], dtype=bool)
    if not keep.any():
        raise SocmError(f"{path}: no pair has a label; validate needs labelled pairs ({hint})")
    labels = [x for x in label_all if x is not None]
    as_number, source = _numbers(labels, path)
    label = np.array([as_number[x] for x in labels], dtype=np.float64)
    if len(label) < MIN_PAIRS:
        raise SocmError(
            f"{path}: {len(label)} labelled pair{'s' if len(label) != 1 else ''}; validate "
            f"needs at least {MIN_PAIRS}"
        )
    if np.all(label == label[0]):
        raise SocmError(f"{path}: every label is {labels[0]!r}: nothing to relate the measures to")

    def column(c: str) -> np.ndarray:
        return np.concatenate([np.asarray(ch.to_numpy(zero_copy_only=False)) for ch in parts[c]])

    ids = np.column_stack([column("text1_id"), column("text2_id")])[keep]
    d_mu, d_sigma, socm_ = (column(c).astype(np.float64)[keep] for c in ("d_mu", "d_sigma", "socm"))
    for name, v in (("d_mu", d_mu), ("d_sigma", d_sigma), ("socm", socm_)):
        if not np.all(np.isfinite(v)):
            raise SocmError(f"{path}: {name} is not finite for some labelled pairs")
    texts = _read_texts(run)
    missing = [x for x in dict.fromkeys(ids.ravel().tolist()) if x not in texts]
    if missing:
        raise SocmError(
            f"{run / 'texts.jsonl'}: {len(missing)} text id(s) of the pairs are missing, "
            f"e.g. {missing[0]}"
        )
    info = np.array([[texts[a], texts[b]] for a, b in ids], dtype=np.float64).reshape(-1, 2, 2)
    n_tokens, spread = info[:, :, 0].astype(np.int64), info[:, :, 1]
    measures = {
        "cosine": _cosine(d_mu),
        "d_mu": d_mu,
        "d_sigma": d_sigma,
        "socm": socm_,
        "relative_d_sigma": np.asarray(
            relative_d_sigma_from_bw2(4.0 * d_sigma, spread[:, 0], spread[:, 1]), dtype=float
        ),
    }
    return LabelledPairs(
        label=label,
        measures=measures,
        n_tokens=n_tokens,
        spread=spread,
        text_ids=ids,
        n_unlabelled=int((~keep).sum()),
        label_source=source,
    )


def _schema_names(path: Path) -> list[str]:
    from socm.measure.rundir import pairs_dataset

    try:
        return list(pairs_dataset(path).schema.names)
    except SocmError:
        raise
    except Exception as exc:  # a broken parquet file
        raise SocmError(f"{path}: cannot be read as parquet ({exc.__class__.__name__})") from None


# --------------------------------------------------------------------------- the analysis
def _statistics(
    data: LabelledPairs, threshold: float, shares: Sequence[float]
) -> tuple[Callable[[np.ndarray], np.ndarray], list[tuple[str, str]]]:
    """The function that computes every reported statistic on a resample, and their names."""
    m = np.column_stack([data.measures[k] for k in MEASURES])
    oriented = m * np.array([_SIGN[k] for k in MEASURES])
    cos = data.measures["cosine"]
    lengths = data.n_tokens.astype(np.float64)
    names = (
        [("spearman", k) for k in MEASURES]
        + [("partial_spearman_given_cosine", k) for k in MEASURES]
        + [("partial_spearman_given_cosine_and_length", k) for k in MEASURES]
        + [(f"auc_near:{s}", k) for s in shares for k in MEASURES]
    )

    def stat(idx: np.ndarray) -> np.ndarray:
        y = data.label[idx]
        ry = _centred_ranks(y)
        rm = _centred_ranks(m[idx])
        rc = _centred_ranks(np.column_stack([cos[idx], lengths[idx]]))
        out = [
            _corr(np.broadcast_to(ry[:, None], rm.shape), rm),
            _partial(ry, rm, rc[:, :1]),
            _partial(ry, rm, rc),
        ]
        c = cos[idx]
        for s in shares:
            near = near_indices(c, s)
            out.append(_auc(y[near] < threshold, oriented[idx][near]))
        return np.concatenate(out)

    return stat, names


def _value(v: float, ci: np.ndarray) -> dict:
    def num(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    return {
        "value": num(v),
        "ci95": None if not np.all(np.isfinite(ci)) else [num(ci[0]), num(ci[1])],
    }


def _share_key(s: float) -> str:
    return f"{s:g}"


def validate_run(
    run: str | Path,
    *,
    threshold: float | None = None,
    resamples: int = 1000,
    seed: int = 0,
    shares: Sequence[float] = NEAR_SHARES,
) -> dict:
    """Relate a run's pair measures to its pairs' numeric labels (module docstring).

    Parameters
    ----------
    run : str or Path
        A run folder scored on labelled pairs (:func:`read_labelled_pairs`).
    threshold : float or None
        Labels below it are the "different" group of the AUCs (None: the midpoint of the
        labels' observed range, e.g. 2.5 for STS-B's 0–5, 0.5 for relevant / non-relevant).
    resamples : int
        Bootstrap resamples of the pairs (B).
    seed : int
        Bootstrap seed.
    shares : sequence of float
        Shares of pairs, the closest by cosine, for ``auc_near``.

    Returns
    -------
    dict
        ``spearman``, ``partial_spearman_given_cosine``,
        ``partial_spearman_given_cosine_and_length`` (each measure -> ``{"value", "ci95"}``),
        ``auc_near`` (share -> measure -> ``{"value", "ci95"}``), ``near`` (share -> its
        pairs' count, how many are below the threshold, smallest cosine), ``labels``,
        ``threshold``, ``bootstrap``, ``definitions``, the run's model and corpus and the
        pair counts. A value is None where undefined (e.g. no pair below the threshold among
        the closest), an interval None where the statistic is undefined in half the resamples.

    Raises
    ------
    SocmError
        What :func:`read_labelled_pairs` refuses; a threshold that leaves every pair on one
        side; fewer than 1 resample; a share outside (0, 1].
    """
    if resamples < 1:
        raise SocmError(f"the number of bootstrap resamples must be at least 1, got {resamples}")
    bad = [s for s in shares if not 0 < s <= 1]
    if bad:
        raise SocmError(f"shares of the closest pairs must lie in (0, 1], got {bad[0]}")
    data = read_labelled_pairs(run)
    summary = read_summary(run)
    lo, hi = float(data.label.min()), float(data.label.max())
    if threshold is None:
        threshold = (lo + hi) / 2
    if not math.isfinite(threshold):
        raise SocmError(f"the threshold must be a finite number, got {threshold}")
    below = int((data.label < threshold).sum())
    if below in (0, len(data)):
        raise SocmError(
            f"{Path(run) / 'pairs.parquet'}: threshold {threshold:g} leaves every label "
            f"{'at or above' if below == 0 else 'below'} it (labels {lo:g} to {hi:g})"
        )
    stat, names = _statistics(data, threshold, shares)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        est, ci, _ = bootstrap(stat, len(data), resamples=resamples, seed=seed)
    result: dict[str, Any] = {
        "run": str(run),
        "model": summary.get("model"),
        "corpus": summary.get("corpus"),
        "n_pairs": len(data),
        "n_unlabelled": data.n_unlabelled,
        "labels": {
            "source": data.label_source,
            "min": lo,
            "max": hi,
            "n_distinct": len(np.unique(data.label)),
        },
        "threshold": float(threshold),
        "spearman": {},
        "partial_spearman_given_cosine": {},
        "partial_spearman_given_cosine_and_length": {},
        "auc_near": {_share_key(s): {} for s in shares},
        "near": {},
    }
    for (group, measure), v, c in zip(names, est, ci, strict=True):
        if group.startswith("auc_near:"):
            result["auc_near"][group.split(":", 1)[1]][measure] = _value(v, c)
        else:
            result[group][measure] = _value(v, c)
    cos = data.measures["cosine"]
    for s in shares:
        near = near_indices(cos, s)
        result["near"][_share_key(s)] = {
            "n_pairs": len(near),
            "n_below_threshold": int((data.label[near] < threshold).sum()),
            "min_cosine": float(cos[near].min()),
        }
    result["bootstrap"] = {
        "resamples": resamples,
        "seed": seed,
        "level": 0.95,
        "method": "percentile",
        "unit": "pairs",
        "note": "labelled pairs resampled with replacement; pairs that share a text are "
        "treated as independent",
    }
    result["definitions"] = {
        "cosine": "cosine of the mean-pooled embeddings, 1 - 2 d_mu",
        "relative_d_sigma": "BW^2 / (tr Sigma1 + tr Sigma2) = 4 d_sigma / (spread1 + spread2)",
        "spearman": "Spearman rho of the label with the measure (average ranks for ties)",
        "partial_spearman": "Pearson correlation of the rank residuals: the ranks of the "
        "label and of the measure, each regressed by OLS on an intercept and the ranks of "
        "the covariates (the cosine; or the cosine and both texts' token counts); 0 when the "
        "measure's ranks are a linear function of the covariates' ranks",
        "auc_near": "among the given share of pairs with the largest cosine, the probability "
        "that a pair labelled below the threshold has the larger measure (ties count half; "
        "Mann-Whitney U); the cosine enters negated, so 0.5 = no information and > 0.5 = "
        "larger measure (smaller cosine) goes with labels below the threshold",
    }
    return result


# --------------------------------------------------------------------------- printing
def _fmt(entry: dict, sign: str = "+") -> str:
    """``value [lo, hi]`` with 3 decimals (``sign="+"``: always signed, for correlations)."""
    v, ci = entry["value"], entry["ci95"]
    if v is None:
        return "n/a"
    text = f"{v:{sign}.3f}"
    if ci is not None:
        text += f" [{ci[0]:{sign}.3f}, {ci[1]:{sign}.3f}]"
    return text


def format_validation(result: dict) -> str:
    """A plain-text table of :func:`validate_run`'s result.

    Parameters
    ----------
    result : dict
        The result of :func:`validate_run`.

    Returns
    -------
    str
        Lines: the run, the labels, one block per statistic with each measure's value and
        95% bootstrap interval.
    """
    lab = result["labels"]
    boot = result["bootstrap"]
    left_out = result["n_unlabelled"]
    lines = [
        f"run        {result['run']}",
        f"model      {result['model']} on {result['corpus']}",
        f"pairs      {result['n_pairs']:,} labelled"
        + (f" ({left_out:,} without a label left out)" if left_out else ""),
        f"labels     {lab['min']:g} to {lab['max']:g}, {lab['n_distinct']} distinct "
        f"({lab['source']})",
        f"intervals  95% percentile bootstrap, {boot['resamples']:,} resamples of the pairs "
        f"(seed {boot['seed']}; pairs sharing a text treated as independent)",
    ]
    blocks = [
        ("Spearman rho (label, measure)", result["spearman"]),
        ("partial Spearman (label, measure | cosine)", result["partial_spearman_given_cosine"]),
        (
            "partial Spearman (label, measure | cosine, both token counts)",
            result["partial_spearman_given_cosine_and_length"],
        ),
    ]
    for title, block in blocks:
        lines += ["", title]
        lines += [f"  {k:<17} {_fmt(block[k])}" for k in MEASURES]
    lines += [
        "",
        f"AUC for label < {result['threshold']:g} among the pairs closest by cosine "
        "(larger measure / smaller cosine = below; 0.5 = no information)",
    ]
    for share, block in result["auc_near"].items():
        near = result["near"][share]
        lines.append(
            f"  closest {float(share):.0%}: {near['n_pairs']:,} pairs, cosine >= "
            f"{near['min_cosine']:.3f}, {near['n_below_threshold']:,} below"
        )
        lines += [f"    {k:<17} {_fmt(block[k], sign='')}" for k in MEASURES]
    return "\n".join(lines)
