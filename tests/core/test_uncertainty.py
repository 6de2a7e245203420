"""Confidence intervals for pair averages and the streaming pair accumulator."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from socm.core.uncertainty import (
    METHOD_EXACT,
    PairAccumulator,
    PairSums,
    StreamingQuantiles,
    jackknife_variance,
    leave_one_text_out_means,
    pair_mean_ci,
    paired_difference_ci,
)

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def sums_of(i: np.ndarray, j: np.ndarray, v: np.ndarray, n: int) -> dict:
    """Sufficient statistics of scored pairs, computed in memory."""
    return {
        "total": float(v.sum()),
        "count": int(v.size),
        "text_sums": np.bincount(i, v, n) + np.bincount(j, v, n),
        "text_counts": np.bincount(i, minlength=n) + np.bincount(j, minlength=n),
        "sum_sq": float((v * v).sum()),
    }


def ci_of(i, j, v, n, n_population=None, pairs_possible=None, **kw) -> dict:
    s = sums_of(i, j, v, n)
    return pair_mean_ci(
        s["total"],
        s["count"],
        s["text_sums"],
        s["text_counts"],
        s["sum_sq"],
        n_population,
        pairs_possible,
        **kw,
    )


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def pair_uniform(i: np.ndarray, j: np.ndarray, n_pop: int) -> np.ndarray:
    """A fixed symmetric pseudo-random U(0, 1) value per corpus pair (splitmix64 hash)."""
    a = np.minimum(i, j).astype(np.uint64)
    b = np.maximum(i, j).astype(np.uint64)
    z = a * np.uint64(n_pop) + b + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


class Population:
    """A finite corpus of texts with a latent angle and scale; h is SOCM-like and non-negative
    on average: an angular distance times a shape term, plus fixed pair-specific noise."""

    def __init__(self, n_pop: int, noise: float, seed: int = 0) -> None:
        r = np.random.default_rng(seed)
        self.n_pop = n_pop
        self.noise = noise
        self.angle = r.uniform(0.0, 2.0, n_pop)
        self.scale = np.sqrt(r.lognormal(0.0, 0.4, n_pop))
        self.theta = self._mean_all_pairs()

    def h(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        a, s = self.angle, self.scale
        base = (1.0 - np.cos(a[i] - a[j])) * s[i] * s[j]
        return base + self.noise * (pair_uniform(i, j, self.n_pop) - 0.5) * (s[i] + s[j])

    def _mean_all_pairs(self, block: int = 500) -> float:
        total = 0.0
        for start in range(0, self.n_pop, block):
            i = np.arange(start, min(start + block, self.n_pop))[:, None]
            j = np.arange(self.n_pop)[None, :]
            v = self.h(i, j)
            total += float(v[i < j].sum())
        return total / (self.n_pop * (self.n_pop - 1) / 2)


# ---------------------------------------------------------------------------------------------
# jackknife and closed forms
# ---------------------------------------------------------------------------------------------


def test_jackknife_matches_brute_force_leave_one_text_out(rng):
    n = 14
    iu, ju = np.triu_indices(n, 1)
    keep = rng.random(iu.size) < 0.6
    i, j = iu[keep], ju[keep]
    v = rng.gamma(2.0, 0.3, i.size)
    s = sums_of(i, j, v, n)
    brute = np.array([v[(i != k) & (j != k)].mean() for k in range(n)])
    loo = leave_one_text_out_means(s["total"], s["count"], s["text_sums"], s["text_counts"])
    np.testing.assert_allclose(loo, brute, rtol=0, atol=1e-12)
    vj_brute = (n - 1) / n * np.sum((brute - brute.mean()) ** 2)
    vj = jackknife_variance(s["total"], s["count"], s["text_sums"], s["text_counts"])
    assert vj == pytest.approx(vj_brute, rel=1e-12, abs=1e-15)


def test_jackknife_all_pairs_closed_form(rng):
    n = 25
    i, j = np.triu_indices(n, 1)
    v = rng.normal(size=i.size)
    s = sums_of(i, j, v, n)
    centred = s["text_sums"] - s["text_counts"] * v.mean()
    big_m = n * (n - 1) / 2
    expected = 2 * np.dot(centred, centred) / (big_m * (n - 2) ** 2)
    vj = jackknife_variance(s["total"], s["count"], s["text_sums"], s["text_counts"])
    assert vj == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("n", [4, 5, 6])
def test_variance_exactly_unbiased_all_pairs(rng, n):
    """Averaged over every possible text sample, the estimate equals the exact variance."""
    n_pop = 8
    h = rng.gamma(2.0, 1.0, (n_pop, n_pop))
    h = h + h.T
    theta = h[np.triu_indices(n_pop, 1)].mean()
    i, j = np.triu_indices(n, 1)
    est, var = [], []
    for sample in itertools.combinations(range(n_pop), n):
        s = np.array(sample)
        r = ci_of(i, j, h[s[i], s[j]], n, n_pop)
        est.append(r["estimate"])
        var.append(r["variance_raw"])
    true_var = np.mean((np.array(est) - theta) ** 2)
    assert np.mean(est) == pytest.approx(theta, rel=1e-12)
    assert np.mean(var) == pytest.approx(true_var, rel=1e-9)


def test_variance_exactly_unbiased_sampled_pairs(rng):
    """A regular design of sampled pairs (a 6-cycle among 6 of 7 texts): exact unbiasedness
    over every placement of the texts, i.e. text sampling and pair sampling together."""
    n_pop, n = 7, 6
    h = rng.normal(size=(n_pop, n_pop))
    h = h + h.T + 2.0
    theta = h[np.triu_indices(n_pop, 1)].mean()
    i = np.arange(n)
    j = (i + 1) % n
    est, var = [], []
    for placement in itertools.permutations(range(n_pop), n):
        s = np.array(placement)
        r = ci_of(i, j, h[s[i], s[j]], n, n_pop)
        est.append(r["estimate"])
        var.append(r["variance_raw"])
    true_var = np.mean((np.array(est) - theta) ** 2)
    assert np.mean(var) == pytest.approx(true_var, rel=1e-9)


def test_zero_width_whole_corpus_all_pairs(rng):
    n = 30
    i, j = np.triu_indices(n, 1)
    v = rng.gamma(2.0, 0.3, i.size)
    for method in ("unbiased", "jackknife"):
        r = ci_of(i, j, v, n, n_population=n, method=method)
        assert r["se"] == 0.0
        assert r["ci"] == [r["estimate"], r["estimate"]]
        assert r["method"] == METHOD_EXACT
    assert r["estimate"] == pytest.approx(v.mean(), rel=1e-14)
    # the whole corpus but sampled pairs: only the pair-sampling part remains, and it is > 0
    keep = rng.random(i.size) < 0.5
    r = ci_of(i[keep], j[keep], v[keep], n, n_population=n)
    assert r["se"] > 0.0


def test_width_shrinks_with_finite_population(rng):
    n = 80
    i, j = np.triu_indices(n, 1)
    x = rng.normal(size=n)
    v = np.abs(x[i] - x[j]) + 0.3 * rng.random(i.size)
    widths = []
    for n_pop in (None, 100 * n, 4 * n, 2 * n, n + 5, n):
        lo, hi = ci_of(i, j, v, n, n_population=n_pop)["ci"]
        widths.append(hi - lo)
    assert all(a > b for a, b in itertools.pairwise(widths))
    assert widths[-1] == 0.0
    # roughly the sqrt(1 - n/N) of the finite-population correction
    assert widths[3] / widths[0] == pytest.approx(math.sqrt(0.5), rel=0.05)


def test_pair_sampling_whole_corpus_matches_textbook(rng):
    """n == N with sampled pairs: averaged over designs, the variance is the textbook
    (1 - m/M) S^2 / m of a mean of m out of M pairs."""
    n, m = 120, 600
    iu, ju = np.triu_indices(n, 1)
    x = rng.normal(size=n)
    v_all = (x[iu] - x[ju]) ** 2 + rng.random(iu.size)
    textbook = (1 - m / iu.size) * v_all.var(ddof=1) / m
    var = []
    for _ in range(200):
        sel = rng.choice(iu.size, m, replace=False)
        var.append(ci_of(iu[sel], ju[sel], v_all[sel], n, n_population=n)["variance_raw"])
    assert np.mean(var) == pytest.approx(textbook, rel=0.05)


def test_degenerate_cases(rng):
    with pytest.raises(ValueError, match="count == 0"):
        pair_mean_ci(0.0, 0, np.zeros(4), np.zeros(4, int), 0.0)
    with pytest.raises(ValueError, match="expected 2"):
        pair_mean_ci(1.0, 1, np.array([1.0, 1.0, 0.0]), np.array([1, 0, 0]), 1.0)
    with pytest.raises(ValueError, match="below"):
        ci_of(np.array([0]), np.array([1]), np.array([0.5]), 3, n_population=2)
    # two texts: an estimate, but no interval
    r = ci_of(np.array([0]), np.array([1]), np.array([0.5]), 2, n_population=100)
    assert r["estimate"] == 0.5
    assert r["ci"] is None and r["se"] is None and "fewer than 3" in r["reason"]
    # three texts: no two pairs are disjoint, so the variance is not estimable
    i, j = np.triu_indices(3, 1)
    r = ci_of(i, j, np.array([0.1, 0.2, 0.4]), 3, n_population=50)
    assert r["ci"] is None and "disjoint" in r["reason"]
    # ... unless they are the whole corpus
    assert ci_of(i, j, np.array([0.1, 0.2, 0.4]), 3, n_population=3)["se"] == 0.0
    # a star: every pair shares text 0; the jackknife cannot leave it out
    star_j = np.arange(1, 6)
    r = ci_of(np.zeros(5, int), star_j, rng.random(5), 6, method="jackknife")
    assert r["ci"] is None and "every scored pair" in r["reason"]
    with pytest.raises(ValueError, match="every scored pair"):
        leave_one_text_out_means(1.0, 5, np.ones(6), np.array([5, 1, 1, 1, 1, 1]))
    with pytest.raises(ValueError, match="level"):
        ci_of(i, j, np.ones(3), 3, level=1.0)


def test_interval_is_location_equivariant(rng):
    n = 40
    iu, ju = np.triu_indices(n, 1)
    sel = rng.choice(iu.size, 300, replace=False)
    i, j = iu[sel], ju[sel]
    v = rng.gamma(2.0, 0.3, i.size)
    a = ci_of(i, j, v, n, n_population=500)
    b = ci_of(i, j, v + 7.0, n, n_population=500)
    assert b["se"] == pytest.approx(a["se"], rel=1e-9)
    assert b["estimate"] == pytest.approx(a["estimate"] + 7.0, rel=1e-14)


def test_paired_difference_is_ci_of_differences(rng):
    n = 50
    i, j = np.triu_indices(n, 1)
    x = rng.normal(size=n)
    a = np.abs(x[i] - x[j]) + 0.2 * rng.random(i.size)
    b = a * 0.9 + 0.05 * rng.random(i.size)
    sa, sb = sums_of(i, j, a, n), sums_of(i, j, b, n)
    r = paired_difference_ci(
        sa["total"],
        sb["total"],
        i.size,
        sa["text_sums"],
        sb["text_sums"],
        sa["text_counts"],
        float(((a - b) ** 2).sum()),
        n_population=1000,
    )
    ref = ci_of(i, j, a - b, n, n_population=1000)
    assert r["estimate"] == pytest.approx(ref["estimate"], rel=1e-12)
    assert r["se"] == pytest.approx(ref["se"], rel=1e-9)
    # pairing removes the shared text effect: far narrower than the separate intervals
    assert r["se"] < 0.5 * ci_of(i, j, a, n, n_population=1000)["se"]


# ---------------------------------------------------------------------------------------------
# calibration by simulation
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_population() -> Population:
    return Population(3000, noise=2.0, seed=3)


@pytest.fixture(scope="module")
def small_population() -> tuple[Population, np.ndarray]:
    pop = Population(800, noise=2.0, seed=4)
    idx = np.arange(pop.n_pop)
    matrix = pop.h(idx[:, None], idx[None, :])
    return pop, matrix


def coverage(values_of, pop: Population, n: int, m: int | None, reps: int, seed: int):
    """Fraction of ``reps`` simulated runs whose 95% interval covers the corpus mean, and the
    ratio of the mean interval width to that of the (simulated) true standard deviation."""
    rng = np.random.default_rng(seed)
    iu, ju = np.triu_indices(n, 1)
    hits, widths, est = 0, [], []
    for _ in range(reps):
        texts = rng.choice(pop.n_pop, n, replace=False)
        i, j = iu, ju
        if m is not None:
            sel = rng.choice(iu.size, m, replace=False)
            i, j = iu[sel], ju[sel]
        r = ci_of(i, j, values_of(texts[i], texts[j]), n, n_population=pop.n_pop)
        lo, hi = r["ci"]
        hits += lo <= pop.theta <= hi
        widths.append(hi - lo)
        est.append(r["estimate"])
    return hits / reps, np.mean(widths) / (2 * 1.959964 * np.std(est))


@pytest.mark.parametrize(("n", "m"), [(200, None), (200, 2000)])
def test_coverage_small_sampling_fraction(big_population, n, m):
    cov, width_ratio = coverage(big_population.h, big_population, n, m, reps=500, seed=11)
    assert 0.92 <= cov <= 0.98
    assert 0.85 <= width_ratio <= 1.15


@pytest.mark.parametrize(("n", "m"), [(500, None), (800, 20000)])
def test_coverage_large_sampling_fraction(small_population, n, m):
    """n/N = 0.625 with all pairs, and the whole corpus with sampled pairs."""
    pop, matrix = small_population
    cov, width_ratio = coverage(lambda a, b: matrix[a, b], pop, n, m, reps=400, seed=12)
    assert 0.92 <= cov <= 0.98
    assert 0.85 <= width_ratio <= 1.15


# ---------------------------------------------------------------------------------------------
# streaming accumulation
# ---------------------------------------------------------------------------------------------


def random_run(rng, n: int = 60, frac: float = 0.7):
    iu, ju = np.triu_indices(n, 1)
    keep = rng.random(iu.size) < frac
    keep[(iu == n - 1) | (ju == n - 1)] = False  # one text without any scored pair
    i, j = iu[keep], ju[keep]
    flip = rng.random(i.size) < 0.5  # pairs may come as (j, i)
    i, j = np.where(flip, j, i), np.where(flip, i, j)
    d_mu = rng.gamma(2.0, 0.2, i.size)
    d_sigma = rng.gamma(3.0, 0.4, i.size)
    socm = d_sigma / (d_mu + d_sigma) * rng.lognormal(0.0, 0.5, i.size)
    return n, i, j, d_mu, d_sigma, socm


def cols(d_mu, d_sigma, socm) -> dict:
    """The three averaged pair columns by name, as PairAccumulator.update takes them."""
    return {"d_mu": d_mu, "d_sigma": d_sigma, "socm": socm}


def feed(acc: PairAccumulator, rng, i, j, d_mu, d_sigma, socm, n_tiles: int) -> None:
    order = rng.permutation(i.size)
    for tile in np.array_split(order, n_tiles):
        acc.update(i[tile], j[tile], cols(d_mu[tile], d_sigma[tile], socm[tile]))


def test_accumulator_equals_in_memory(rng):
    n, i, j, d_mu, d_sigma, socm = random_run(rng)
    acc = PairAccumulator(n)
    feed(acc, rng, i, j, d_mu, d_sigma, socm, n_tiles=7)
    res = acc.result(n_population=5000)
    assert res["n_pairs"] == i.size
    assert res["n_texts_scored"] == n - 1
    assert res["pairs_possible"] == n * (n - 1) // 2
    assert res["socm_quantiles_exact"] and res["socm_quantile_abs_error"] == 0.0
    assert res["n_d_sigma_over_1"] == int(np.sum(d_sigma > 1))
    np.testing.assert_array_equal(
        res["text_n_pairs"], np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
    )
    for name, v in (("socm", socm), ("d_mu", d_mu), ("d_sigma", d_sigma)):
        assert res[f"avg_{name}"] == pytest.approx(v.mean(), rel=0, abs=1e-12)
        ref = ci_of(i, j, v, n, n_population=5000)
        assert res[f"avg_{name}_se"] == pytest.approx(ref["se"], rel=1e-9)
        np.testing.assert_allclose(res[f"avg_{name}_ci95"], ref["ci"], rtol=0, atol=1e-12)
        per_text = [v[(i == k) | (j == k)].mean() for k in range(n - 1)]
        np.testing.assert_allclose(res[f"text_mean_{name}"][:-1], per_text, rtol=0, atol=1e-12)
        assert np.isnan(res[f"text_mean_{name}"][-1])
    for q in PairAccumulator.QUANTILES:
        assert res[f"socm_q{round(q * 100)}"] == np.quantile(socm, q)
    assert res["ci_method"] == ref["method"] and res["ci_note"] is None


def test_accumulator_order_and_tiling_invariant(rng):
    n, i, j, d_mu, d_sigma, socm = random_run(rng)
    results = []
    for n_tiles in (1, 3, 40):
        acc = PairAccumulator(n)
        feed(acc, rng, i, j, d_mu, d_sigma, socm, n_tiles)
        results.append(acc.result(n_population=None, level=0.9))
    first = results[0]
    for other in results[1:]:
        for key, value in first.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_allclose(other[key], value, rtol=0, atol=1e-12)
            elif isinstance(value, float):
                assert other[key] == pytest.approx(value, rel=1e-10, abs=1e-14), key
            elif isinstance(value, list):
                np.testing.assert_allclose(other[key], value, rtol=1e-10, atol=1e-14)
            else:
                assert other[key] == value, key
    assert "avg_socm_ci90" in first


def test_accumulator_sums_are_accurate(rng):
    """Many tiles of values with a large common offset: the mean is accurate to ~1 ulp."""
    n = 200
    acc = PairSums(n)
    chunks = []
    for _ in range(300):
        i = rng.integers(0, n - 1, 2000)
        j = i + 1 + rng.integers(0, n - 1 - i)
        v = 1e4 + rng.random(i.size) * 1e-3
        acc.update(i, j, {"value": v})
        chunks.append(v)
    exact = math.fsum(np.concatenate(chunks)) / acc.n_pairs
    assert abs(acc.mean() - exact) <= 4 * np.spacing(exact)


def test_sketch_quantiles_within_bound(rng):
    values = np.concatenate(
        [
            rng.lognormal(-1.0, 0.6, 150_000),  # bulk of SOCM-like values
            rng.uniform(0.0, 10.0, 20_000),  # a long tail up to ~10
            np.round(rng.uniform(0, 3, 30_000), 2),  # heavy ties
        ]
    )
    rng.shuffle(values)
    qs = np.array([0.0, 0.001, 0.1, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0])
    sketch = StreamingQuantiles(keep_exact_up_to=1000)
    for tile in np.array_split(values, 37):
        sketch.update(tile)
    assert not sketch.exact
    assert sketch.abs_error_bound == 2.0**-14 <= 1e-4
    err = np.abs(sketch.quantile(qs) - np.quantile(values, qs))
    assert err.max() <= sketch.abs_error_bound
    assert sketch.quantile(0.0) == values.min() and sketch.quantile(1.0) == values.max()


def test_sketch_range_growth_and_coarsening(rng):
    values = np.sort(rng.normal(2.0, 3.0, 60_000))  # sorted: the range grows tile after tile
    sketch = StreamingQuantiles(keep_exact_up_to=0)
    for tile in np.array_split(values, 50):
        sketch.update(tile)
    qs = np.linspace(0, 1, 41)
    assert np.abs(sketch.quantile(qs) - np.quantile(values, qs)).max() <= 2.0**-14
    # a capped histogram widens its bins; the reported bound stays valid
    small = StreamingQuantiles(keep_exact_up_to=0, max_bins=1000)
    for tile in np.array_split(rng.permutation(values), 9):
        small.update(tile)
    assert small.n_bins <= 1000
    assert small.abs_error_bound > 2.0**-14
    assert np.abs(small.quantile(qs) - np.quantile(values, qs)).max() <= small.abs_error_bound


def test_accumulator_sketch_mode(rng):
    n, i, j, d_mu, d_sigma, socm = random_run(rng, n=120, frac=1.0)
    acc = PairAccumulator(n, keep_exact_up_to=500)
    feed(acc, rng, i, j, d_mu, d_sigma, socm, n_tiles=13)
    res = acc.result(n_population=None)
    assert not res["socm_quantiles_exact"]
    for q in PairAccumulator.QUANTILES:
        assert abs(res[f"socm_q{round(q * 100)}"] - np.quantile(socm, q)) <= 1e-4
    assert res["avg_socm"] == pytest.approx(socm.mean(), abs=1e-12)


def test_accumulator_rejects_bad_input(rng):
    acc = PairAccumulator(5)
    with pytest.raises(ValueError, match="count == 0"):
        acc.result(10)
    with pytest.raises(ValueError, match="itself"):
        acc.update([1], [1], cols([0.1], [0.1], [0.1]))
    with pytest.raises(ValueError, match="lie in"):
        acc.update([0], [5], cols([0.1], [0.1], [0.1]))
    with pytest.raises(ValueError, match="non-finite"):
        acc.update([0], [1], cols([0.1], [np.nan], [0.1]))
    with pytest.raises(ValueError, match="values for"):
        acc.update([0, 1], [1, 2], cols([0.1], [0.1, 0.2], [0.1, 0.2]))
    assert acc.n_pairs == 0  # nothing was half-applied


def test_a_non_positive_unbiased_estimate_falls_back_to_the_jackknife():
    """Tiny samples can give an unbiased variance <= 0: the interval must not claim certainty."""
    rng = np.random.default_rng(3)
    n = 6
    i, j = np.triu_indices(n, k=1)
    for _ in range(200):
        h = rng.normal(0, 1, n)[i] * 0 + rng.normal(0, 1e-3, i.size)  # no text effect
        sums = np.bincount(i, h, n) + np.bincount(j, h, n)
        counts = np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
        r = pair_mean_ci(h.sum(), h.size, sums, counts, float((h**2).sum()), n_population=10_000)
        if r["variance_raw"] <= 0:
            assert "not positive" in r["method"] and r["ci"][1] > r["ci"][0]
            return
    pytest.fail("no sample with a non-positive unbiased estimate was drawn")


# ------------------------------------------------------------------------------ merging
def _tiles(rng, n, n_tiles, size):
    """Random distinct pairs of n texts, cut into tiles, with three values each."""
    i, j = np.triu_indices(n, 1)
    pick = rng.permutation(len(i))[: n_tiles * size]
    for t in range(n_tiles):
        sel = pick[t * size : (t + 1) * size]
        yield i[sel], j[sel], rng.random(len(sel)), rng.random(len(sel)) * 1.2, rng.random(len(sel))


@pytest.mark.parametrize("keep", [10**6, 0, 50])
def test_merged_accumulators_equal_one_fed_everything(rng, keep):
    """Workers' accumulators over their own texts (local indices), merged: the same summary
    as one accumulator fed every tile; quantiles exactly the same (same values, same grid)."""
    from socm.core.uncertainty import PairAccumulator

    n = 40
    whole = PairAccumulator(n, keep_exact_up_to=keep)
    merged = PairAccumulator(n, keep_exact_up_to=keep)
    for i, j, dmu, dsig, soc in _tiles(rng, n, 6, 90):
        whole.update(i, j, cols(dmu, dsig, soc))
        texts, inv = np.unique(np.concatenate([i, j]), return_inverse=True)
        part = PairAccumulator(len(texts), keep_exact_up_to=keep if keep else 0)
        part.update(inv[: len(i)], inv[len(i) :], cols(dmu + 0.0, dsig, soc))
        merged.merge(part, index=texts)
    a, b = whole.result(n_population=1000), merged.result(n_population=1000)
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, float):
            assert b[key] == pytest.approx(value, rel=1e-12, abs=1e-14), key
        elif isinstance(value, np.ndarray):
            np.testing.assert_allclose(b[key], value, rtol=1e-12, atol=1e-14, err_msg=key)
        elif key.endswith("ci95") and value is not None:
            np.testing.assert_allclose(b[key], value, rtol=1e-12, err_msg=key)
        else:
            assert b[key] == value, key


def test_merging_histograms_of_other_widths_keeps_the_coarser_bound(rng):
    from socm.core.uncertainty import StreamingQuantiles

    a = StreamingQuantiles(0, bin_width=2.0**-10)
    b = StreamingQuantiles(0, bin_width=2.0**-6)
    va, vb = rng.normal(0.4, 0.1, 5000), rng.normal(0.6, 0.2, 3000)
    a.update(va)
    b.update(vb)
    a.merge(b)
    assert a.count == 8000 and a.abs_error_bound == 2.0**-6
    both = np.concatenate([va, vb])
    q = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    np.testing.assert_allclose(a.quantile(q), np.quantile(both, q), rtol=0, atol=2.0**-6)
    exact = StreamingQuantiles()
    exact.update(va[:10])
    exact.merge(b)  # an exact stream takes a histogram: it bins from then on
    assert not exact.exact and exact.count == 3010


def test_merge_refuses_what_does_not_fit():
    from socm.core.uncertainty import PairSums

    a = PairSums(4, ("x",))
    with pytest.raises(ValueError, match="cannot merge sums"):
        a.merge(PairSums(4, ("y",)))
    with pytest.raises(ValueError, match="index must give 2 texts"):
        a.merge(PairSums(2, ("x",)), index=[0, 9])
    with pytest.raises(ValueError, match="must not repeat"):
        a.merge(PairSums(2, ("x",)), index=[1, 1])
