r"""Confidence intervals for pair averages, and bounded-memory accumulation of scored pairs.

Pure computation (numpy/scipy), no I/O.

Setting
-------
A corpus has :math:`N` texts and :math:`K = \binom N2` unordered pairs. The estimand is the
corpus pair average of a symmetric per-pair value :math:`h` (SOCM, :math:`d_\mu` or
:math:`d_\Sigma`)

.. math:: \theta = K^{-1} \textstyle\sum_{a<b} h(a, b).

A run draws :math:`n` texts without replacement (:math:`n = N` allowed) and scores a *design
graph* :math:`G` of :math:`m` pairs among them: all :math:`M = \binom n2` pairs, or a uniform
sample of :math:`m < M` pairs without replacement. The estimate is the mean of the scored pairs

.. math:: \hat U = m^{-1} \textstyle\sum_{e \in G} h_e .

Everything below needs only :math:`O(n)` numbers: the per-text sums
:math:`T_k = \sum_{e \ni k} h_e` and counts :math:`c_k` (scored pairs containing text
:math:`k`), the total :math:`T = \sum_e h_e` and the sum of squares :math:`Q = \sum_e h_e^2`.

Why pairs are not independent observations (Hoeffding 1948)
------------------------------------------------------------
Write :math:`h(a,b) = \theta + g(a) + g(b) + r(a,b)` (Hoeffding decomposition; :math:`g` the
text effect, :math:`r` the pair residual). With all pairs scored,
:math:`\operatorname{Var}\hat U \approx (1-\tfrac nN)\,4\sigma_g^2/n
+ (1-\tfrac nN)^2\, 2\sigma_r^2/(n(n-1))`: the leading term shrinks with the number of
*texts*, not pairs, so the naive pair-level standard error :math:`s/\sqrt m` is far too small.

Exact design variance and its unbiased estimator (the default, ``method="unbiased"``)
------------------------------------------------------------------------------------
Condition on the design graph :math:`G` (on positions :math:`1..n`). Sampling texts without
replacement puts a uniformly random injective labelling of :math:`G`'s vertices by corpus texts,
independent of :math:`G`. So for scored pairs :math:`e, e'`,
:math:`E[h_e h_{e'}] = \Phi_0, \Phi_1, \Phi_2` when :math:`e = e'`, when they share exactly one
text, when they are disjoint, where :math:`\Phi_0, \Phi_1, \Phi_2` are the corpus averages of
:math:`h_p^2` and of :math:`h_p h_q` over ordered pairs of pairs sharing one text, resp. no text.
Counting the corpus pairs of pairs the same way,

.. math::

    E[\hat U^2 \mid G] = m^{-2}\,(m\Phi_0 + n_1\Phi_1 + n_2\Phi_2), \qquad
    \theta^2 = \Phi_0 / K + p_1 \Phi_1 + p_2 \Phi_2,

with :math:`n_1 = \sum_k c_k(c_k - 1)`, :math:`n_2 = m(m-1) - n_1`,
:math:`p_1 = 4(N-2)/(N(N-1))`, :math:`p_2 = (N-2)(N-3)/(N(N-1))` (:math:`p_1 = 0, p_2 = 1,
1/K = 0` for an infinite corpus), and :math:`\operatorname{Var}(\hat U\mid G) =
E[\hat U^2\mid G] - \theta^2` because :math:`E[\hat U \mid G] = \theta`. The sample analogues
:math:`\varphi_0 = Q/m`, :math:`\varphi_1 = (\sum_k T_k^2 - 2Q)/n_1`,
:math:`\varphi_2 = (T^2 - \sum_k T_k^2 + Q)/n_2` are unbiased for :math:`\Phi_0, \Phi_1,
\Phi_2` (U-statistics of the design; Nandi & Sen 1963 for finite-population U-statistics), and
:math:`\hat U^2` is unbiased for :math:`E[\hat U^2\mid G]`, hence

.. math::

    \hat V = \hat U^2 - \bigl(\varphi_0 / K + p_1 \varphi_1 + p_2 \varphi_2\bigr)
    = -\Bigl[\frac{\tilde Q}{mK} + p_1 \frac{D - 2\tilde Q}{n_1}
      + p_2 \frac{\tilde Q - D}{n_2}\Bigr]

is unbiased for the design variance. The second form evaluates it on values centred at
:math:`\hat U` (:math:`\tilde T_k = T_k - c_k\hat U`, :math:`D = \sum_k \tilde T_k^2`,
:math:`\tilde Q = Q - m\hat U^2`), which is numerically stable and makes the interval move
with the data under :math:`h \to h + \text{const}`. For all pairs (a regular design) the centred
form is exactly unbiased; with sampled pairs the data-dependent centring adds an
:math:`O(1/m)` relative bias (any fixed centring is exactly unbiased; simulations show no
measurable effect). It covers text sampling *and* pair sampling at once:

* **Whole corpus, all pairs** (:math:`n = N`, :math:`m = M`): every coefficient cancels,
  :math:`\hat V = 0` (returned exactly: zero-width interval).
* **All pairs, infinite corpus**: :math:`\hat V = (D - \tilde Q)/(M\binom{n-2}2)
  = \tfrac{n-2}{n-3} V_J - \tfrac{2\tilde Q}{M(n-2)(n-3)}`, where
  :math:`V_J = \tfrac{n-1}{n}\sum_k (\hat U_{-k} - \bar U_{-\cdot})^2 = 2D/(M(n-2)^2)` is the
  leave-one-text-out jackknife of the U-statistic (Arvesen 1969), with
  :math:`\hat U_{-k} = (T - T_k)/(m - c_k)`. The jackknife overestimates the pair-residual part
  of the variance about twofold (Efron & Stein 1981: a pair's residual enters the leave-out
  of *both* its texts); the :math:`-\tilde Q` term removes exactly that bias.
  For finite :math:`N` the jackknife part is multiplied by :math:`\approx 1 - n/N` (the usual
  finite-population correction, Cochran 1977) and the residual part by
  :math:`\approx (1-n/N)^2`.
* **Sampled pairs, whole corpus** (:math:`n = N`, :math:`m < M`): only the pair-sampling part
  remains; averaged over designs :math:`E\hat V = (1 - m/M)\,S^2/m`, the textbook variance of
  a mean of :math:`m` of :math:`M` units drawn without replacement (Cochran 1977, Ch. 2).
* **Sampled pairs, n ≪ N**: :math:`\hat V \approx \sigma_g^2 \sum_k c_k^2/m^2 +
  \sigma_r^2/m`: the text part and the pair-sampling part are each counted once. (The
  jackknife on sampled pairs already contains the pair noise - with the residual part doubled -
  so jackknife + separate pair term double-counts; ``method="jackknife"`` does exactly that and
  is kept as the conservative classical alternative.)

``method="jackknife"``: :math:`(1 - n/N)\,V_J + (1 - m/M)\,s^2/m` (second term only with sampled
pairs; :math:`s^2 = \tilde Q/(m-1)`). Exact at the two extremes (zero width for the whole corpus
with all pairs, pure pair-sampling variance at :math:`n = N`), conservative in between.

Interval: :math:`\hat U \pm z_{(1+\text{level})/2}\sqrt{\max(\hat V, 0)}` with the normal
quantile (:math:`\hat U` is asymptotically normal for non-degenerate kernels, Hoeffding 1948).
Simulated coverage: ``tests/core/test_uncertainty.py`` and ``benchmarks/bench_ci.py``.

Paired comparisons: for two models scored on the same texts and pairs, the per-pair difference
:math:`h^A - h^B` has per-text sums :math:`T^A_k - T^B_k`, so the same estimator applies; its
:math:`Q` is :math:`\sum_e (h^A_e - h^B_e)^2`, which needs the aligned per-pair values
(accumulate the differences with :class:`PairSums`). See :func:`paired_difference_ci`.

Streaming
---------
:class:`PairSums` and :class:`PairAccumulator` consume tiles of scored pairs and keep only
:math:`O(n)` state. Accuracy: values are shifted by the first tile's mean; within a tile, totals
use numpy's pairwise summation and per-text sums ``np.bincount`` (sequential); tile results are
added with Neumaier-compensated summation, so the error of a total is about
:math:`(\log_2 t + 2)\,\varepsilon \sum |h - \text{shift}|` for tiles of :math:`t` pairs and that
of a per-text sum about :math:`(t_k + 2)\,\varepsilon \sum |h - \text{shift}|` with
:math:`t_k` the text's pairs per tile - independent of the number of tiles.
:class:`StreamingQuantiles` keeps the values exactly up to a threshold (then quantiles equal
``np.quantile``), beyond it a fixed-grid histogram with bin width :math:`w = 2^{-14}` that grows
its range as needed; every reported quantile is then within :math:`w \approx 6.1\times10^{-5}`
of the exact one (coarser, and reported, only if the range would exceed ``max_bins`` bins).

References
----------
* W. Hoeffding (1948). A class of statistics with asymptotically normal distribution.
  *Ann. Math. Statist.* 19(3), 293-325.
* J. N. Arvesen (1969). Jackknifing U-statistics. *Ann. Math. Statist.* 40(6), 2076-2100.
* B. Efron, C. Stein (1981). The jackknife estimate of variance. *Ann. Statist.* 9(3),
  586-596.
* W. G. Cochran (1977). *Sampling Techniques*, 3rd ed. Wiley (finite-population correction).
* H. K. Nandi, P. K. Sen (1963). On the properties of U-statistics when the observations are
  not independent, II: unbiased estimation of the parameters of a finite population.
  *Calcutta Statist. Assoc. Bull.* 12, 124-148.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import norm

from socm.core.schema import averaged_names, current_schema

__all__ = [
    "METHOD_EXACT",
    "METHOD_JACKKNIFE",
    "METHOD_PAIR_SAMPLE",
    "METHOD_UNBIASED",
    "PairAccumulator",
    "PairSums",
    "StreamingQuantiles",
    "jackknife_variance",
    "leave_one_text_out_means",
    "pair_mean_ci",
    "pair_sample_ci",
    "paired_difference_ci",
]

METHOD_UNBIASED = (
    "design-unbiased U-statistic variance over texts and pairs (leave-one-text-out jackknife "
    "with Efron-Stein bias correction), finite-population corrected; normal interval"
)
METHOD_JACKKNIFE = (
    "leave-one-text-out jackknife, finite-population corrected (1 - n/N), plus pair-sampling "
    "term (1 - m/M) s^2/m; normal interval (conservative)"
)
METHOD_EXACT = "all pairs of the whole corpus: exact value, zero-width interval"

_METHODS = {"unbiased": METHOD_UNBIASED, "jackknife": METHOD_JACKKNIFE}


# ---------------------------------------------------------------------------------------------
# closed-form pieces
# ---------------------------------------------------------------------------------------------


def _as_text_arrays(text_sums: Any, text_counts: Any) -> tuple[np.ndarray, np.ndarray]:
    sums = np.asarray(text_sums, dtype=np.float64)
    counts = np.asarray(text_counts)
    if sums.ndim != 1 or counts.shape != sums.shape:
        raise ValueError(
            f"text_sums and text_counts must be 1-D of equal length, got {sums.shape} "
            f"and {counts.shape}"
        )
    if counts.size and (np.any(counts < 0) or not np.all(counts == np.round(counts))):
        raise ValueError("text_counts must be non-negative integers")
    return sums, counts.astype(np.int64)


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return level


def leave_one_text_out_means(
    total: float, count: int, text_sums: Any, text_counts: Any
) -> np.ndarray:
    r"""Pair means with one text left out, from per-text sums.

    .. math:: \hat U_{-k} = \frac{T - T_k}{m - c_k}
              = \hat U + \frac{c_k \hat U - T_k}{m - c_k}

    (the second form is what is evaluated, for accuracy).

    Parameters
    ----------
    total : float
        :math:`T`, the sum of the values over the ``count`` scored pairs.
    count : int
        :math:`m`, the number of scored pairs.
    text_sums, text_counts : array_like, shape (n,)
        :math:`T_k` and :math:`c_k`: sum of the values and number of the scored pairs that
        contain text :math:`k`.

    Returns
    -------
    numpy.ndarray, shape (n,)
        :math:`\hat U_{-k}`; equal to :math:`\hat U` for a text without scored pairs.

    Raises
    ------
    ValueError
        If ``count < 1`` or some text lies in every scored pair (nothing left without it).
    """
    sums, counts = _as_text_arrays(text_sums, text_counts)
    if count < 1:
        raise ValueError("no scored pairs (count == 0)")
    rest = count - counts
    if np.any(rest <= 0):
        raise ValueError("a text lies in every scored pair; leaving it out leaves no pair")
    mean = float(total) / count
    return mean + (counts * mean - sums) / rest


def jackknife_variance(total: float, count: int, text_sums: Any, text_counts: Any) -> float:
    r"""Leave-one-text-out jackknife variance of a pair mean (no finite-population correction).

    .. math:: V_J = \frac{n-1}{n} \sum_{k=1}^n \bigl(\hat U_{-k} - \bar U_{-\cdot}\bigr)^2,
              \qquad \bar U_{-\cdot} = n^{-1}\textstyle\sum_k \hat U_{-k}

    over all ``n = len(text_sums)`` texts (Arvesen 1969). With all pairs scored this equals
    :math:`2D/(M(n-2)^2)`, :math:`D = \sum_k (T_k - c_k\hat U)^2`; it is biased upwards by about
    the pair-residual variance (Efron & Stein 1981), see the module docstring.

    Parameters
    ----------
    total, count, text_sums, text_counts
        As in :func:`leave_one_text_out_means`.

    Returns
    -------
    float
        :math:`V_J`.

    Raises
    ------
    ValueError
        If fewer than 3 texts, ``count < 1``, or a text lies in every scored pair.
    """
    sums, _ = _as_text_arrays(text_sums, text_counts)
    n = sums.size
    if n < 3:
        raise ValueError(f"the jackknife needs at least 3 texts, got {n}")
    delta = leave_one_text_out_means(total, count, text_sums, text_counts) - float(total) / count
    delta = delta - delta.mean()
    return float((n - 1) / n * np.dot(delta, delta))


def _population_coefficients(n_population: int | None) -> tuple[float, float, float]:
    """``(1/K, p1, p2)`` of theta^2 = Phi0/K + p1 Phi1 + p2 Phi2 (module docstring)."""
    if n_population is None:
        return 0.0, 0.0, 1.0
    big_n = float(n_population)
    denom = big_n * (big_n - 1.0)
    return 2.0 / denom, 4.0 * (big_n - 2.0) / denom, (big_n - 2.0) * (big_n - 3.0) / denom


def _unbiased_variance(
    d: float, q: float, count: int, n1: int, n_population: int | None
) -> tuple[float | None, str | None]:
    """Centred design-unbiased variance, or ``(None, reason)`` when it is not estimable."""
    inv_k, p1, p2 = _population_coefficients(n_population)
    n2 = count * (count - 1) - n1
    theta_sq = inv_k * q / count
    if p1 > 0.0:
        if n1 <= 0:
            return (
                None,
                "no two scored pairs share a text: the text-level variance is not estimable",
            )
        theta_sq += p1 * (d - 2.0 * q) / n1
    if p2 > 0.0:
        if n2 <= 0:
            return None, "no two scored pairs are disjoint: the variance is not estimable"
        theta_sq += p2 * (q - d) / n2
    return -theta_sq, None


def pair_mean_ci(
    total: float,
    count: int,
    text_sums: Any,
    text_counts: Any,
    sum_sq: float,
    n_population: int | None = None,
    pairs_possible: int | None = None,
    level: float = 0.95,
    *,
    shift: float = 0.0,
    method: str = "unbiased",
) -> dict[str, Any]:
    r"""Estimate, standard error and normal confidence interval of a corpus pair average.

    Computed in :math:`O(n)` from per-text sums (derivation and references in the module
    docstring). With ``method="unbiased"`` (default) the variance is

    .. math:: \hat V = -\Bigl[\frac{\tilde Q}{mK} + p_1 \frac{D - 2\tilde Q}{n_1}
              + p_2 \frac{\tilde Q - D}{n_2}\Bigr],

    unbiased for the variance of :math:`\hat U` under sampling :math:`n` of :math:`N` texts
    without replacement and scoring any design of pairs among them (all pairs or a uniform
    sample) - the leave-one-text-out jackknife with its Efron-Stein bias removed and the
    finite-population corrections for texts and pairs built in. ``method="jackknife"`` gives
    the classical :math:`(1-n/N)V_J + (1-m/M)s^2/m` instead (conservative with sampled pairs).

    Parameters
    ----------
    total : float
        :math:`T = \sum_e h_e` over the scored pairs.
    count : int
        :math:`m \ge 1`, number of scored pairs.
    text_sums : array_like, shape (n,)
        :math:`T_k`, sum of :math:`h` over the scored pairs containing sampled text :math:`k`
        (all ``n`` sampled texts, also those without a scored pair).
    text_counts : array_like of int, shape (n,)
        :math:`c_k`, number of scored pairs containing text :math:`k`; must sum to ``2 * count``.
    sum_sq : float
        :math:`Q = \sum_e h_e^2` over the scored pairs.
    n_population : int or None
        :math:`N`, the corpus size the texts were drawn from (``None``: an infinite corpus, no
        finite-population correction).
    pairs_possible : int or None
        :math:`M`, number of pairs among the sampled texts that could have been scored
        (default :math:`n(n-1)/2`); ``count < pairs_possible`` means sampled pairs.
    level : float
        Confidence level, in (0, 1).
    shift : float
        If ``total``, ``text_sums`` and ``sum_sq`` are sums of :math:`h - \text{shift}` (for
        accuracy), the shift; the estimate is ``shift + total / count``.
    method : {"unbiased", "jackknife"}
        Variance estimator.

    Returns
    -------
    dict
        ``estimate``, ``se``, ``ci`` (``[lo, hi]``), ``level``, ``method`` (a description),
        ``variance`` (clipped at 0), ``variance_raw`` (before clipping), ``n_texts``,
        ``n_pairs``, ``pairs_possible``, ``n_population`` and ``reason``. When the variance is
        not estimable - fewer than 3 texts, no two scored pairs disjoint (or, for finite
        :math:`N`, none sharing a text), or for the jackknife a text in every pair - ``se``,
        ``ci``, ``variance`` and ``variance_raw`` are ``None`` and ``reason`` says why; otherwise
        ``reason`` is ``None``. Never NaN.

    Raises
    ------
    ValueError
        ``count < 1``, inconsistent counts (``sum(text_counts) != 2 * count``,
        ``count > pairs_possible``, ``n > n_population``), a non-finite input, a bad ``level``
        or ``method``.
    """
    level = _check_level(level)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
    count = int(count)
    if count < 1:
        raise ValueError("no scored pairs (count == 0): nothing to average")
    sums, counts = _as_text_arrays(text_sums, text_counts)
    n = sums.size
    if int(counts.sum()) != 2 * count:
        raise ValueError(
            f"text_counts sum to {int(counts.sum())}, expected 2 * count = {2 * count}"
        )
    big_m = n * (n - 1) // 2 if pairs_possible is None else int(pairs_possible)
    if count > big_m:
        raise ValueError(f"count = {count} exceeds pairs_possible = {big_m}")
    if n_population is not None:
        n_population = int(n_population)
        if n_population < n:
            raise ValueError(f"n_population = {n_population} is below the {n} sampled texts")
    if not (math.isfinite(total) and math.isfinite(sum_sq) and np.all(np.isfinite(sums))):
        raise ValueError("non-finite sums")

    mean = float(total) / count
    out: dict[str, Any] = {
        "estimate": float(shift) + mean,
        "se": None,
        "ci": None,
        "level": level,
        "method": _METHODS[method],
        "variance": None,
        "variance_raw": None,
        "n_texts": n,
        "n_pairs": count,
        "pairs_possible": big_m,
        "n_population": n_population,
        "reason": None,
    }
    if n < 3:
        out["reason"] = f"fewer than 3 texts ({n}): no variance estimate"
        return out

    if n_population == n and count == big_m:
        var_raw: float | None = 0.0
        out["method"] = METHOD_EXACT
    elif method == "unbiased":
        centred = sums - counts * mean
        d = float(np.dot(centred, centred))
        q = max(float(sum_sq) - count * mean * mean, 0.0)
        n1 = int(np.dot(counts, counts - 1))
        var_raw, reason = _unbiased_variance(d, q, count, n1, n_population)
        if var_raw is None:
            out["reason"] = reason
            return out
    unbiased_raw = var_raw if method == "unbiased" else None
    exact = out["method"] == METHOD_EXACT
    if method == "unbiased" and not exact and var_raw is not None and var_raw <= 0.0:
        # possible in small samples; a zero-width interval would claim certainty there is not:
        # fall back to the conservative jackknife (variance_raw keeps the unbiased value)
        method = "jackknife"
        out["method"] = f"{METHOD_JACKKNIFE} (the unbiased estimate was not positive)"
    if method != "unbiased" and not exact:
        if np.any(counts >= count):
            out["reason"] = "a text lies in every scored pair: the jackknife is undefined"
            return out
        fpc = 1.0 if n_population is None else 1.0 - n / n_population
        var_raw = fpc * jackknife_variance(total, count, sums, counts)
        if count < big_m and count > 1:
            q = max(float(sum_sq) - count * mean * mean, 0.0)
            var_raw += (1.0 - count / big_m) * q / (count - 1) / count

    var = max(var_raw, 0.0)
    se = math.sqrt(var)
    half = float(norm.ppf(0.5 + level / 2.0)) * se
    est = out["estimate"]
    raw = unbiased_raw if unbiased_raw is not None else var_raw
    out.update(se=se, ci=[est - half, est + half], variance=var, variance_raw=raw)
    return out


def paired_difference_ci(
    total_a: float,
    total_b: float,
    count: int,
    text_sums_a: Any,
    text_sums_b: Any,
    text_counts: Any,
    sum_sq_diff: float,
    n_population: int | None = None,
    pairs_possible: int | None = None,
    level: float = 0.95,
    *,
    method: str = "unbiased",
) -> dict[str, Any]:
    r"""Interval for the difference of two models' pair averages on the same texts and pairs.

    The per-pair difference :math:`h^A_e - h^B_e` is itself a per-pair value; its per-text sums
    are :math:`T^A_k - T^B_k` and its total :math:`T^A - T^B`, so this is
    :func:`pair_mean_ci` on the differences. Pairing removes the shared text-to-text variation,
    which typically makes the interval far narrower than comparing two separate intervals.

    Parameters
    ----------
    total_a, total_b : float
        Totals of model A's and model B's values over the same ``count`` scored pairs.
    count : int
        Number of scored pairs (the same pairs for both models).
    text_sums_a, text_sums_b : array_like, shape (n,)
        Per-text sums of each model over those pairs.
    text_counts : array_like of int, shape (n,)
        Scored pairs per text.
    sum_sq_diff : float
        :math:`\sum_e (h^A_e - h^B_e)^2` over the scored pairs. It needs the aligned per-pair
        values (not derivable from the two models' own sums): accumulate the differences in a
        :class:`PairSums` tile by tile, or add ``((a - b) ** 2).sum()`` per tile.
    n_population, pairs_possible, level, method
        As in :func:`pair_mean_ci`.

    Returns
    -------
    dict
        As :func:`pair_mean_ci`; ``estimate`` is mean(A) - mean(B).
    """
    sums_a = np.asarray(text_sums_a, dtype=np.float64)
    sums_b = np.asarray(text_sums_b, dtype=np.float64)
    if sums_a.shape != sums_b.shape:
        raise ValueError(f"text_sums_a {sums_a.shape} and text_sums_b {sums_b.shape} differ")
    return pair_mean_ci(
        float(total_a) - float(total_b),
        count,
        sums_a - sums_b,
        text_counts,
        sum_sq_diff,
        n_population,
        pairs_possible,
        level,
        method=method,
    )


# ---------------------------------------------------------------------------------------------
# streaming
# ---------------------------------------------------------------------------------------------


METHOD_PAIR_SAMPLE = "simple random sample of the listed pairs, finite-population corrected"


def pair_sample_ci(
    total: float,
    count: int,
    sum_sq: float,
    n_listed: int,
    level: float = 0.95,
    *,
    shift: float = 0.0,
) -> dict[str, Any]:
    r"""Confidence interval of the mean over a fixed list of :math:`M` pairs, from a uniform
    sample of :math:`m` of them without replacement (Cochran 1977, Sec. 2.4).

    .. math:: \widehat{\operatorname{Var}}\,ar h = (1 - m/M)\, s^2 / m,
              \qquad s^2 = rac{Q - T^2/m}{m - 1},

    with :math:`T, Q` the sum and sum of squares of ``value - shift``. Here the estimand is
    the average over the listed pairs themselves (they are the population, not a sample of
    texts), so scoring every listed pair (:math:`m = M`) gives a zero-width interval.

    Returns
    -------
    dict
        As :func:`pair_mean_ci` (``estimate``, ``se``, ``ci``, ``level``, ``method``,
        ``reason``).
    """
    level = _check_level(level)
    if count < 1 or count > n_listed:
        raise ValueError(f"need 1 <= count <= n_listed, got {count} of {n_listed}")
    estimate = shift + total / count
    if count == n_listed:
        var = 0.0
    elif count < 2:
        return {
            "estimate": estimate,
            "se": None,
            "ci": None,
            "level": level,
            "method": METHOD_PAIR_SAMPLE,
            "reason": "fewer than 2 scored pairs",
        }
    else:
        s2 = max(sum_sq - total * total / count, 0.0) / (count - 1)
        var = (1.0 - count / n_listed) * s2 / count
    se = math.sqrt(var)
    z = float(norm.ppf(0.5 + level / 2))
    return {
        "estimate": estimate,
        "se": se,
        "ci": [estimate - z * se, estimate + z * se],
        "level": level,
        "method": METHOD_PAIR_SAMPLE,
        "reason": None,
    }


def _neumaier_add(total: np.ndarray, comp: np.ndarray, x: np.ndarray) -> None:
    """In place ``total + comp += x`` elementwise, Neumaier-compensated."""
    t = total + x
    comp += np.where(np.abs(total) >= np.abs(x), (total - t) + x, (x - t) + total)
    total[...] = t


def _check_pairs(i: Any, j: Any, n_texts: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.asarray(i).reshape(-1)
    j = np.asarray(j).reshape(-1)
    if i.shape != j.shape:
        raise ValueError(f"i and j differ in length: {i.size} and {j.size}")
    if i.size == 0:
        return i.astype(np.int64), j.astype(np.int64)
    if not (np.issubdtype(i.dtype, np.integer) and np.issubdtype(j.dtype, np.integer)):
        raise TypeError("pair indices must be integers")
    i = i.astype(np.int64, copy=False)
    j = j.astype(np.int64, copy=False)
    lo = min(int(i.min()), int(j.min()))
    hi = max(int(i.max()), int(j.max()))
    if lo < 0 or hi >= n_texts:
        raise ValueError(f"pair indices must lie in [0, {n_texts}), got [{lo}, {hi}]")
    if np.any(i == j):
        raise ValueError("a pair joins a text with itself (i == j)")
    return i, j


class PairSums:
    r"""Streaming sufficient statistics of pair means, in :math:`O(n)` memory.

    For each named metric keeps the compensated total, sum of squares and per-text sums of
    ``value - shift`` (``shift`` = the metric's mean over the first tile), plus the per-text
    pair counts - everything :func:`pair_mean_ci` needs. Memory: ``(2 * n_metrics + 1) * n``
    float64/int64 numbers, whatever the number of pairs. Each unordered pair must be fed at
    most once. Cost per :meth:`update`: :math:`O(t + n)` for a tile of :math:`t` pairs, so feed
    tiles of at least about ``n`` pairs.

    For a paired comparison of two models, feed the per-pair differences (e.g.
    ``PairSums(n, ("diff",))`` and ``update(i, j, {"diff": socm_a - socm_b})``).

    Parameters
    ----------
    n_texts : int
        Number of sampled texts; pair indices lie in ``[0, n_texts)``.
    metrics : sequence of str
        Names of the per-pair values.
    """

    def __init__(self, n_texts: int, metrics: Sequence[str] = ("value",)) -> None:
        if int(n_texts) < 0:
            raise ValueError("n_texts must be >= 0")
        self.n_texts = int(n_texts)
        self.metrics = tuple(metrics)
        if not self.metrics or len(set(self.metrics)) != len(self.metrics):
            raise ValueError(f"metrics must be distinct names, got {metrics!r}")
        k = len(self.metrics)
        self.n_pairs = 0
        self.text_counts = np.zeros(self.n_texts, dtype=np.int64)
        self.shift = np.zeros(k)
        self._text_sum = np.zeros((k, self.n_texts))
        self._text_comp = np.zeros((k, self.n_texts))
        self._sums = np.zeros((2, k))  # rows: sum of x, sum of x**2 (x = value - shift)
        self._comp = np.zeros((2, k))

    def _row(self, metric: str) -> int:
        try:
            return self.metrics.index(metric)
        except ValueError:
            raise KeyError(f"unknown metric {metric!r}; have {self.metrics}") from None

    def update(self, i: Any, j: Any, values: Mapping[str, Any]) -> None:
        """Add a tile of scored pairs ``(i[t], j[t])`` with ``values[metric][t]``.

        Raises
        ------
        ValueError
            Bad indices, a missing metric, mismatched lengths or non-finite values.
        """
        i, j = _check_pairs(i, j, self.n_texts)
        t = i.size
        rows = []
        for name in self.metrics:
            if name not in values:
                raise ValueError(f"missing values for metric {name!r}")
            v = np.asarray(values[name], dtype=np.float64).reshape(-1)
            if v.size != t:
                raise ValueError(f"{name}: {v.size} values for {t} pairs")
            rows.append(v)
        if t == 0:
            return
        x = np.stack(rows)
        if not np.all(np.isfinite(x)):
            raise ValueError("non-finite pair values")
        if self.n_pairs == 0:
            self.shift = x.mean(axis=1)
        x -= self.shift[:, None]
        n = self.n_texts
        per_text = np.stack(
            [
                np.bincount(i, weights=row, minlength=n) + np.bincount(j, weights=row, minlength=n)
                for row in x
            ]
        )
        _neumaier_add(self._text_sum, self._text_comp, per_text)
        _neumaier_add(self._sums, self._comp, np.stack([x.sum(axis=1), (x * x).sum(axis=1)]))
        self.text_counts += np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
        self.n_pairs += t

    def merge(self, other: PairSums, index: Any = None) -> None:
        r"""Add the pairs another :class:`PairSums` was fed (e.g. on a cluster worker).

        The result equals feeding those pairs here, up to rounding: the other's sums are moved
        from its shift to this one's, :math:`\sum (v - s) = \sum (v - s') + (s' - s)\,c`
        and :math:`\sum (v - s)^2 = \sum (v - s')^2 + 2 (s' - s) \sum (v - s')
        + (s' - s)^2 c`, and likewise per text.

        Parameters
        ----------
        other : PairSums
            Sums over the same metrics; its texts are this one's ``index`` (default: the same
            texts, ``other.n_texts == self.n_texts``).
        index : array_like of int, optional
            Distinct text indices here of the other's texts ``0 .. other.n_texts - 1``.

        Raises
        ------
        ValueError
            Other metrics, or an index that does not fit.
        """
        if other.metrics != self.metrics:
            raise ValueError(f"cannot merge sums of {other.metrics} into {self.metrics}")
        idx = np.arange(self.n_texts) if index is None else np.asarray(index, dtype=np.int64)
        if idx.shape != (other.n_texts,) or (
            idx.size and (idx.min() < 0 or idx.max() >= self.n_texts)
        ):
            raise ValueError(f"index must give {other.n_texts} texts in [0, {self.n_texts})")
        if idx.size != np.unique(idx).size:
            raise ValueError("index must not repeat a text")
        if other.n_pairs == 0:
            return
        if self.n_pairs == 0:
            self.shift = other.shift.copy()
        delta = other.shift - self.shift  # (k,)
        o_sums = other._sums + other._comp  # rows: sum x', sum x'^2 (x' = v - other.shift)
        c = float(other.n_pairs)
        moved = np.stack(
            [o_sums[0] + delta * c, o_sums[1] + 2 * delta * o_sums[0] + delta * delta * c]
        )
        _neumaier_add(self._sums, self._comp, moved)
        counts = other.text_counts
        per_text = other._text_sum + other._text_comp + delta[:, None] * counts[None, :]
        total, comp = self._text_sum[:, idx], self._text_comp[:, idx]
        _neumaier_add(total, comp, per_text)
        self._text_sum[:, idx], self._text_comp[:, idx] = total, comp
        self.text_counts[idx] += counts
        self.n_pairs += other.n_pairs

    def sample_ci(self, metric: str, n_listed: int, level: float = 0.95) -> dict[str, Any]:
        """:func:`pair_sample_ci` for ``metric``: the pairs fed are a sample of a fixed list of
        ``n_listed`` pairs."""
        r = self._row(metric)
        return pair_sample_ci(
            float(self._sums[0, r] + self._comp[0, r]),
            self.n_pairs,
            float(self._sums[1, r] + self._comp[1, r]),
            n_listed,
            level,
            shift=float(self.shift[r]),
        )

    def mean(self, metric: str = "value") -> float:
        """Mean of ``metric`` over the pairs fed so far (NaN before any pair)."""
        r = self._row(metric)
        if self.n_pairs == 0:
            return math.nan
        return float(self.shift[r] + (self._sums[0, r] + self._comp[0, r]) / self.n_pairs)

    def text_means(self, metric: str = "value") -> np.ndarray:
        """Per-text mean of ``metric`` over each text's pairs; NaN for a text without pairs."""
        r = self._row(metric)
        sums = self._text_sum[r] + self._text_comp[r]
        out = np.full(self.n_texts, np.nan)
        has = self.text_counts > 0
        out[has] = self.shift[r] + sums[has] / self.text_counts[has]
        return out

    def ci(
        self,
        metric: str = "value",
        n_population: int | None = None,
        pairs_possible: int | None = None,
        level: float = 0.95,
        *,
        method: str = "unbiased",
    ) -> dict[str, Any]:
        """:func:`pair_mean_ci` for ``metric`` over the pairs fed so far."""
        r = self._row(metric)
        return pair_mean_ci(
            float(self._sums[0, r] + self._comp[0, r]),
            self.n_pairs,
            self._text_sum[r] + self._text_comp[r],
            self.text_counts,
            float(self._sums[1, r] + self._comp[1, r]),
            n_population,
            pairs_possible,
            level,
            shift=float(self.shift[r]),
            method=method,
        )


def _coarsened(counts: np.ndarray, lo: int) -> tuple[np.ndarray, int]:
    """Histogram ``counts`` starting at grid index ``lo``, on the grid of twice the width."""
    if lo % 2:
        counts, lo = np.concatenate([[0], counts]), lo - 1
    if counts.size % 2:
        counts = np.concatenate([counts, [0]])
    return counts.reshape(-1, 2).sum(axis=1), lo // 2


class StreamingQuantiles:
    r"""Quantiles of a stream of values: exact up to a size, then a fine fixed-grid histogram.

    While at most ``keep_exact_up_to`` values have been seen they are kept, and
    :meth:`quantile` returns ``np.quantile(values, q)`` (method ``"linear"``) exactly. Beyond,
    the values are binned on the grid :math:`[kw, (k+1)w)` (:math:`w` a power of two, default
    :math:`2^{-14}`; exact binning), whose range grows as new values arrive; the exact minimum
    and maximum are kept. The order statistics on either side of ``(count - 1) * q`` are located
    in their bins and placed by rank inside the bin, then interpolated as numpy does, so the
    absolute error is below :attr:`abs_error_bound` :math:`= w` (:math:`\approx 6.1\times10^{-5}`).
    If the range would need more than ``max_bins`` bins the bin width doubles (merging bins)
    until it fits, and :attr:`abs_error_bound` grows accordingly (with the defaults, only for a
    range wider than 128).

    Memory: ``8 * keep_exact_up_to`` bytes while exact, then at most ``8 * max_bins`` bytes
    (16 MiB by default; transiently twice that while the range grows).

    Parameters
    ----------
    keep_exact_up_to : int
        Number of values kept exactly (default 5,000,000 = 40 MB).
    bin_width : float
        Histogram bin width; must be a power of two.
    max_bins : int
        Largest number of histogram bins.
    """

    def __init__(
        self, keep_exact_up_to: int = 5_000_000, bin_width: float = 2.0**-14, max_bins: int = 2**21
    ) -> None:
        mant, _ = math.frexp(bin_width)
        if bin_width <= 0 or mant != 0.5:
            raise ValueError(f"bin_width must be a positive power of two, got {bin_width}")
        if max_bins < 2:
            raise ValueError("max_bins must be >= 2")
        self.keep_exact_up_to = int(keep_exact_up_to)
        self.max_bins = int(max_bins)
        self.count = 0
        self._width = float(bin_width)
        self._exact: list[np.ndarray] | None = []
        self._lo = 0  # grid index of self._counts[0]
        self._counts = np.zeros(0, dtype=np.int64)
        self._min = math.inf
        self._max = -math.inf

    @property
    def exact(self) -> bool:
        """Whether all values are still kept (quantiles are then exact)."""
        return self._exact is not None

    @property
    def n_bins(self) -> int:
        """Histogram bins in use (0 while exact)."""
        return int(self._counts.size)

    @property
    def abs_error_bound(self) -> float:
        """Upper bound on the absolute error of :meth:`quantile` (0.0 while exact)."""
        return 0.0 if self.exact else self._width

    def update(self, values: Any) -> None:
        """Add values (any shape; must be finite)."""
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if v.size == 0:
            return
        if not np.all(np.isfinite(v)):
            raise ValueError("non-finite values")
        self._min = min(self._min, float(v.min()))
        self._max = max(self._max, float(v.max()))
        self.count += v.size
        if self._exact is not None:
            if self.count <= self.keep_exact_up_to:
                self._exact.append(v.copy())
                return
            kept, self._exact = self._exact, None
            for chunk in kept:
                self._bin(chunk)
        self._bin(v)

    def merge(self, other: StreamingQuantiles) -> None:
        """Add the values another :class:`StreamingQuantiles` has seen.

        Exact values are added as by :meth:`update`; a histogram is added bin by bin on the
        common grid (the finer of the two is coarsened to the other's width first), so the
        quantiles are those of one stream fed both, with the bound of the coarser grid.
        """
        if other.count == 0:
            return
        if other._exact is not None:
            for chunk in other._exact:
                self.update(chunk)
            return
        if self._exact is not None:  # this one bins from now on
            kept, self._exact = self._exact, None
            for chunk in kept:
                self._bin(chunk)
        counts, lo, width = other._counts, other._lo, other._width
        nz = np.flatnonzero(counts)
        counts, lo = counts[nz[0] : nz[-1] + 1], lo + int(nz[0])
        while True:
            if width < self._width:
                counts, lo = _coarsened(counts, lo)
                width *= 2.0
            elif width > self._width and self._counts.size:
                self._coarsen()
            elif width > self._width:
                self._width = width
            else:
                cur = (self._lo, self._lo + self._counts.size - 1) if self._counts.size else None
                lo_all = lo if cur is None else min(lo, cur[0])
                hi_all = lo + counts.size - 1 if cur is None else max(lo + counts.size - 1, cur[1])
                if hi_all - lo_all + 1 <= self.max_bins:
                    break
                counts, lo = _coarsened(counts, lo)
                width *= 2.0
        self._grow(lo_all, hi_all)
        self._counts[lo - self._lo : lo - self._lo + counts.size] += counts
        self.count += other.count
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)

    def _coarsen(self) -> None:
        """Double the bin width, merging bins pairwise (grid stays anchored at 0)."""
        self._counts, self._lo = _coarsened(self._counts, self._lo)
        self._width *= 2.0

    def _bin(self, v: np.ndarray) -> None:
        while True:
            k = np.floor(v / self._width).astype(np.int64)
            kmin, kmax = int(k.min()), int(k.max())
            if self._counts.size == 0:
                lo, hi = kmin, kmax
            else:
                lo = min(self._lo, kmin)
                hi = max(self._lo + self._counts.size - 1, kmax)
            if hi - lo + 1 <= self.max_bins:
                break
            if self._counts.size:
                self._coarsen()
            else:
                self._width *= 2.0
        self._grow(lo, hi)
        idx = k - self._lo
        top = int(idx.max()) + 1
        self._counts[:top] += np.bincount(idx, minlength=top)

    def _grow(self, lo: int, hi: int) -> None:
        """Make the histogram cover grid indices [lo, hi], with slack for further growth."""
        size = self._counts.size
        cur_lo, cur_hi = self._lo, self._lo + size - 1
        if size and lo >= cur_lo and hi <= cur_hi:
            return
        need = hi - lo + 1
        new_size = min(self.max_bins, max(need, 2 * size))
        slack = new_size - need
        if size == 0:
            new_lo = lo
        elif lo < cur_lo and hi > cur_hi:
            new_lo = lo - slack // 2
        elif lo < cur_lo:
            new_lo = lo - slack  # growing downwards: slack below
        else:
            new_lo = lo  # growing upwards: slack above
        counts = np.zeros(new_size, dtype=np.int64)
        if size:
            counts[cur_lo - new_lo : cur_lo - new_lo + size] = self._counts
        self._counts, self._lo = counts, new_lo

    def _order_stats(self, ranks: np.ndarray) -> np.ndarray:
        """Estimated values of the (0-based) order statistics ``ranks`` from the histogram."""
        cum = np.cumsum(self._counts)
        b = np.searchsorted(cum, ranks, side="right")
        c = self._counts[b]
        before = cum[b] - c
        left = (self._lo + b) * self._width
        est = left + self._width * (ranks - before + 0.5) / c
        est = np.clip(est, left, left + self._width)
        est = np.where(ranks == 0, self._min, est)
        est = np.where(ranks == self.count - 1, self._max, est)
        return np.clip(est, self._min, self._max)

    def quantile(self, q: Any) -> np.ndarray | float:
        """Quantile(s) ``q`` in [0, 1], like ``np.quantile(values, q)`` (``"linear"``).

        Raises
        ------
        ValueError
            Before any value, or ``q`` outside [0, 1].
        """
        if self.count == 0:
            raise ValueError("no values")
        qa = np.asarray(q, dtype=np.float64)
        if np.any((qa < 0) | (qa > 1)) or not np.all(np.isfinite(qa)):
            raise ValueError("quantiles must lie in [0, 1]")
        if self._exact is not None:
            res = np.quantile(np.concatenate(self._exact), qa)
        else:
            pos = (self.count - 1) * qa.reshape(-1)
            r0 = np.floor(pos).astype(np.int64)
            r1 = np.minimum(r0 + 1, self.count - 1)
            x = self._order_stats(np.concatenate([r0, r1]))
            x0, x1 = x[: r0.size], x[r0.size :]
            res = (x0 + (pos - r0) * (x1 - x0)).reshape(qa.shape)
        return float(res) if np.ndim(res) == 0 else res


class PairAccumulator:
    r"""Streaming summary of scored pairs in O(n) memory: every averaged pair column.

    Feed tiles with :meth:`add` (a :class:`~socm.core.pairs.PairResult`) or :meth:`update`
    (indices and a mapping of columns); :meth:`result` gives the averages with confidence
    intervals (:func:`pair_mean_ci`) of the schema's averaged columns
    (:func:`socm.core.schema.averaged_names`: ``socm``, ``d_mu``, ``d_sigma`` and any
    registered one), SOCM quantiles (:class:`StreamingQuantiles`), the count of
    :math:`d_\Sigma > 1` and per-text means. Memory is bounded independently of the number of
    pairs: about ``(2 k + 1) * 8 * n_texts`` bytes of sums for ``k`` columns, plus
    ``8 * keep_exact_up_to`` bytes of SOCM values while they are kept exactly, then at most
    ``8 * max_bins`` bytes of histogram.

    Parameters
    ----------
    n_texts : int
        Number of sampled texts; pair indices lie in ``[0, n_texts)``.
    schema : tuple of PairColumn, optional
        The pair columns (default :func:`socm.core.schema.current_schema`); its averaged
        columns are summed, those with ``interval`` get confidence intervals.
    keep_exact_up_to : int
        Keep up to this many SOCM values for exact quantiles (default 5,000,000 = 40 MB);
        beyond, quantiles come from a histogram with absolute error below
        :math:`2^{-14} \approx 6.1\times10^{-5}`.
    max_bins : int
        Histogram size cap (see :class:`StreamingQuantiles`).
    """

    QUANTILES = (0.1, 0.5, 0.9, 0.99)

    def __init__(
        self,
        n_texts: int,
        schema: Sequence[Any] | None = None,
        *,
        keep_exact_up_to: int = 5_000_000,
        max_bins: int = 2**21,
    ) -> None:
        cols = current_schema() if schema is None else schema
        self.n_texts = int(n_texts)
        # SOCM first: the summary's interval method and notes are those of the SOCM average
        self.metrics = averaged_names(cols)
        self.intervals = tuple(c.name for c in cols if c.averaged and c.interval)
        if "socm" not in self.metrics or "d_sigma" not in self.metrics:
            raise ValueError("a pair schema needs the socm and d_sigma columns")
        self.sums = PairSums(self.n_texts, self.metrics)
        self.socm_quantiles = StreamingQuantiles(keep_exact_up_to, max_bins=max_bins)
        self.n_d_sigma_over_1 = 0

    @property
    def n_pairs(self) -> int:
        """Number of pairs fed so far."""
        return self.sums.n_pairs

    def update(self, i: Any, j: Any, values: Mapping[str, Any]) -> None:
        """Add a tile of scored pairs ``(i[t], j[t])`` with ``values[column][t]`` for every
        averaged column (other keys are ignored)."""
        self.sums.update(i, j, values)  # validates everything before any state changes below
        self.socm_quantiles.update(values["socm"])
        self.n_d_sigma_over_1 += int(np.count_nonzero(np.asarray(values["d_sigma"]) > 1.0))

    def add(self, tile: Any) -> None:
        """Add a :class:`~socm.core.pairs.PairResult` tile."""
        self.update(tile.i, tile.j, tile.columns)

    def merge(self, other: PairAccumulator, index: Any = None) -> None:
        """Add the pairs another accumulator was fed, e.g. a cluster worker's over the texts
        of its tile (``index``: their indices here; see :meth:`PairSums.merge`).

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> whole, part = PairAccumulator(5), PairAccumulator(3)
        >>> v = dict(zip(("d_mu", "d_sigma", "socm"), rng.random((3, 2))))
        >>> whole.update([3, 1], [4, 4], v)
        >>> part.update([1, 0], [2, 2], v)  # texts 1, 3, 4 as 0, 1, 2
        >>> merged = PairAccumulator(5)
        >>> merged.merge(part, index=[1, 3, 4])
        >>> bool(np.isclose(merged.sums.mean("socm"), whole.sums.mean("socm")))
        True
        """
        self.sums.merge(other.sums, index)
        self.socm_quantiles.merge(other.socm_quantiles)
        self.n_d_sigma_over_1 += other.n_d_sigma_over_1

    def result(
        self,
        n_population: int | None = None,
        pairs_possible: int | None = None,
        level: float = 0.95,
        *,
        method: str = "unbiased",
        n_listed: int | None = None,
    ) -> dict[str, Any]:
        """Summary of the pairs fed so far.

        Parameters
        ----------
        n_population : int or None
            Corpus size :math:`N` the texts were drawn from (``None``: no finite-population
            correction).
        pairs_possible : int or None
            Pairs that could have been scored among the texts (default all,
            ``n_texts * (n_texts - 1) // 2``).
        level : float
            Confidence level; the interval keys are named after it (``*_ci95`` for 0.95).
        method : {"unbiased", "jackknife"}
            See :func:`pair_mean_ci`.
        n_listed : int, optional
            The pairs are (a sample of) a fixed list of this many pairs, which is the
            population: intervals from :func:`pair_sample_ci` (``n_population`` and
            ``pairs_possible`` are then ignored).

        Returns
        -------
        dict
            ``n_texts``, ``n_texts_scored``, ``n_pairs``, ``pairs_possible``, ``n_population``;
            for each averaged column ``avg_<name>`` and, with an interval, ``avg_<name>_se``
            and ``avg_<name>_ci95`` (``[lo, hi]``, or ``None`` with the reason in
            ``ci_note``); ``ci_level``, ``ci_method``, ``ci_note``; ``socm_q10``,
            ``socm_q50``, ``socm_q90``, ``socm_q99``, ``socm_quantiles_exact``,
            ``socm_quantile_abs_error`` (bound; 0 when exact); ``n_d_sigma_over_1``; per-text
            arrays ``text_n_pairs`` and ``text_mean_<name>`` (NaN for a text without pairs).

        Raises
        ------
        ValueError
            If no pair has been fed.
        """
        if self.n_pairs == 0:
            raise ValueError("no scored pairs (count == 0)")
        level = _check_level(level)
        tag = f"ci{level * 100:g}"
        out: dict[str, Any] = {
            "n_texts": self.n_texts,
            "n_texts_scored": int(np.count_nonzero(self.sums.text_counts)),
            "n_pairs": self.n_pairs,
        }
        note = None
        for name in self.metrics:
            if name not in self.intervals:
                out[f"avg_{name}"] = self.sums.mean(name)
                continue
            if n_listed is not None:
                ci = self.sums.sample_ci(name, n_listed, level)
                ci.update(pairs_possible=n_listed, n_population=None)
            else:
                ci = self.sums.ci(name, n_population, pairs_possible, level, method=method)
            out[f"avg_{name}"] = ci["estimate"]
            out[f"avg_{name}_se"] = ci["se"]
            out[f"avg_{name}_{tag}"] = ci["ci"]
            if name == "socm":
                out.update(
                    pairs_possible=ci["pairs_possible"],
                    n_population=ci["n_population"],
                    ci_level=level,
                    ci_method=ci["method"],
                )
            note = note or ci["reason"]
        out["ci_note"] = note
        qs = np.atleast_1d(self.socm_quantiles.quantile(self.QUANTILES))
        for q, val in zip(self.QUANTILES, qs, strict=True):
            out[f"socm_q{round(q * 100)}"] = float(val)
        out["socm_quantiles_exact"] = self.socm_quantiles.exact
        out["socm_quantile_abs_error"] = self.socm_quantiles.abs_error_bound
        out["n_d_sigma_over_1"] = self.n_d_sigma_over_1
        out["text_n_pairs"] = self.sums.text_counts.copy()
        for name in self.metrics:
            out[f"text_mean_{name}"] = self.sums.text_means(name)
        return out
