"""The pair schema: one declaration per pair column drives the engine, the sums and the
files."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_tokens

import socm
from socm.core.metrics import bures_wasserstein2, d_mu_from_cosine
from socm.core.pairs import PairResult, iter_pairwise_between, pairwise
from socm.core.schema import (
    BUILTIN_COLUMNS,
    PairColumn,
    PairParts,
    averaged_names,
    compute_columns,
    current_schema,
    rankable_names,
    register_pair_column,
    stored_names,
    unregister_pair_column,
)
from socm.core.stats import token_stats
from socm.core.uncertainty import PairAccumulator


def test_builtin_columns_and_their_roles():
    assert [c.name for c in BUILTIN_COLUMNS] == ["d_mu", "d_sigma", "socm", "relative_d_sigma"]
    assert stored_names() == ("d_mu", "d_sigma", "socm")
    assert averaged_names() == ("socm", "d_mu", "d_sigma")  # the headline average first
    assert rankable_names() == ("socm", "d_sigma", "relative_d_sigma")
    assert current_schema() == BUILTIN_COLUMNS


def test_builtin_formulas_on_analytic_parts():
    # cos 0.6 -> d_mu 0.2; traces 1, 4 and fidelity 1 -> BW^2 = 3, d_sigma 0.75, rel 0.6
    parts = PairParts(np.array([0.6]), np.array([1.0]), np.array([1.0]), np.array([4.0]))
    cols = compute_columns(parts, BUILTIN_COLUMNS)
    assert cols["d_mu"][0] == pytest.approx(0.2)
    assert cols["d_sigma"][0] == pytest.approx(0.75)
    assert cols["socm"][0] == pytest.approx(0.8 * 0.75)
    assert cols["relative_d_sigma"][0] == pytest.approx(0.6)
    assert parts.bw2[0] == pytest.approx(float(bures_wasserstein2(1.0, 4.0, 1.0)))


def test_registering_and_refusing(cosine_column):
    assert current_schema()[-1] is cosine_column
    assert "cosine" in stored_names() and "cosine" in averaged_names()
    with pytest.raises(ValueError, match="already registered"):
        register_pair_column(cosine_column)
    with pytest.raises(ValueError, match="built-in"):
        register_pair_column(PairColumn("socm", "x", lambda p: p.cosine))
    with pytest.raises(ValueError, match="built-in"):
        unregister_pair_column("d_mu")
    with pytest.raises(ValueError, match="identifier"):
        PairColumn("i", "x", lambda p: p.cosine)
    with pytest.raises(ValueError, match="interval needs an averaged"):
        PairColumn("x", "x", lambda p: p.cosine, averaged=False)
    bad = PairColumn("short", "x", lambda p: p.cosine[:1])
    parts = PairParts(*(np.ones(3) for _ in range(4)))
    with pytest.raises(ValueError, match="'short': 1 values for 3 pairs"):
        compute_columns(parts, (*BUILTIN_COLUMNS, bad))


def test_a_registered_column_comes_out_of_every_engine_route(rng, cosine_column):
    texts = [random_tokens(rng, int(rng.integers(2, 15)), 12) for _ in range(9)]
    means = np.stack([token_stats(x).mean for x in texts])
    allp = pairwise(texts)
    listed = pairwise(texts, pairs=[[3, 1], [0, 8]])
    between = PairResult.concat(list(iter_pairwise_between(texts[:4], texts[4:])))
    for res, offset in ((allp, 0), (listed, 0), (between, 4)):
        assert res.fields[-1] == "cosine"
        expect = (means[res.i] * means[res.j + offset]).sum(1)
        np.testing.assert_allclose(res.cosine, expect, rtol=0, atol=1e-14)
        np.testing.assert_allclose(res.d_mu, d_mu_from_cosine(res.cosine), rtol=0, atol=1e-15)
    summary = allp.summary(n_population=9)
    assert summary["avg_cosine"] == pytest.approx(allp.cosine.mean(), abs=1e-14)
    assert summary["avg_cosine_ci95"] == [summary["avg_cosine"]] * 2  # whole corpus
    res = socm.mine(texts, neighbors=3)
    assert "cosine" in res.columns  # mine's own cosine column: the same values
    np.testing.assert_allclose(res.cosine, (means[res.i] * means[res.j]).sum(1), atol=1e-14)


def test_an_explicit_schema_wins_over_the_registry(rng, cosine_column):
    texts = [random_tokens(rng, 5, 8) for _ in range(4)]
    assert "cosine" not in pairwise(texts, schema=BUILTIN_COLUMNS).columns
    acc = PairAccumulator(4, BUILTIN_COLUMNS)
    acc.add(pairwise(texts, schema=BUILTIN_COLUMNS))
    assert "avg_cosine" not in acc.result()
    with pytest.raises(ValueError, match="needs the socm and d_sigma"):
        PairAccumulator(4, (cosine_column,))
