"""Mining near pairs: candidates against brute force, values against ``pairwise``."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
from conftest import random_tokens

from socm import mine
from socm.core.locality import chunk_pairs, locality_order
from socm.core.metrics import relative_d_sigma_from_bw2
from socm.core.mine import (
    Candidates,
    MineOptions,
    find_candidates,
    rank_candidates,
)
from socm.core.neighbors import nearest_neighbors, pair_cosines
from socm.core.pairs import PairResult, pairwise
from socm.core.stats import token_stats_many

DIM = 16


@pytest.fixture
def texts(rng) -> list[np.ndarray]:
    """50 texts of 1..40 tokens, with exact duplicates (ties in the neighbour search)."""
    out = [
        random_tokens(rng, int(rng.integers(1, 40)), DIM, rank=int(rng.integers(2, 8)))
        for _ in range(50)
    ]
    for dup, src in [(12, 5), (20, 5), (33, 5), (41, 7)]:
        out[dup] = out[src].copy()
    return out


def unit_means(texts) -> np.ndarray:
    return np.stack([s.mean for s in token_stats_many(texts)])


def brute_neighbors(means: np.ndarray, k: int) -> np.ndarray:
    """Top k per row of the full cosine matrix, self excluded, ties by lower index."""
    cos = means @ means.T
    np.fill_diagonal(cos, -np.inf)
    n = len(means)
    return np.stack([np.lexsort((np.arange(n), -cos[r]))[:k] for r in range(n)])


def brute_candidates(means: np.ndarray, k: int) -> set[tuple[int, int]]:
    nb = brute_neighbors(means, k)
    return {(min(a, int(b)), max(a, int(b))) for a in range(len(means)) for b in nb[a]}


def faiss_or_skip() -> None:
    pytest.importorskip("faiss", reason="faiss-cpu not installed")


# ------------------------------------------------------------------------------ candidates
@pytest.mark.parametrize("k", [1, 3, 8])
def test_neighbors_equal_brute_force_with_ties(texts, k):
    means = unit_means(texts)
    ref = brute_neighbors(means, k)
    # a few rows per block, so several blocks are searched
    idx, cos, info = nearest_neighbors(means, k, "exact", block_bytes=8 * len(means) * 7)
    assert info["method"] == "exact" and info["exact"] is True
    assert idx.dtype == np.int64 and cos.dtype == np.float64 and idx.shape == (len(means), k)
    np.testing.assert_array_equal(idx, ref)
    np.testing.assert_allclose(cos, np.take_along_axis(means @ means.T, idx, 1), atol=1e-15)
    # the duplicates of text 5 are each other's nearest texts, lowest index first
    assert idx[5, 0] == 12 and idx[12, 0] == 5 and idx[20, 0] == 5 and idx[41, 0] == 7


@pytest.mark.parametrize("margin", [0, 3, None])
def test_float32_blocks_equal_float64(texts, rng, margin):
    # float32 shortlists are re-ranked in float64: the same arrays, near-ties included
    base = rng.normal(size=24)
    near = base + 1e-6 * rng.normal(size=(60, 24))
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    for name, means in (("texts", unit_means(texts)), ("near", near)):
        for k in (1, 6):
            ref = nearest_neighbors(means, k, "exact", block_dtype="float64", margin=margin)
            got = nearest_neighbors(
                means, k, "exact", block_dtype="float32", margin=margin, block_bytes=4 * 60 * 9
            )
            assert got[2]["block_dtype"] == "float32" and got[2]["tolerance"] > 1e-6
            if margin == 0 and name == "near":
                assert got[2]["n_full_rows"] > 0  # float32 near-ties: full-row scans
            np.testing.assert_array_equal(got[0], ref[0])
            np.testing.assert_array_equal(got[1], ref[1])
            np.testing.assert_array_equal(ref[0], brute_neighbors(means, k))


@pytest.mark.parametrize("k", [1, 4])
def test_candidate_set_equals_brute_force(texts, k):
    res = mine(texts, neighbors=k, search="exact")
    pairs = list(zip(res.i.tolist(), res.j.tolist(), strict=True))
    assert len(set(pairs)) == len(pairs) == res.n_candidates
    assert all(a < b for a, b in pairs)
    assert set(pairs) == brute_candidates(unit_means(texts), k)
    assert res.text_n_candidates.min() >= k


def test_faiss_flat_equals_exact(texts, rng):
    faiss_or_skip()
    means = unit_means(texts)
    for k in (1, 5):
        e_idx, e_cos, _ = nearest_neighbors(means, k, "exact")
        # margin 0: the duplicates force deeper searches
        f_idx, f_cos, info = nearest_neighbors(means, k, "faiss", margin=0)
        assert info["method"] == "faiss" and info["exact"] is True
        assert info["n_deeper_searches"] > 0
        np.testing.assert_array_equal(f_idx, e_idx)
        np.testing.assert_array_equal(f_cos, e_cos)
    # cosines that float32 cannot tell apart (all round to 1): 1 - c ~ 1e-12 here, and
    # ~1e-18 (below float64 resolution too: then only the reference kernel decides) there
    base = rng.normal(size=24)
    for spread in (1e-6, 1e-9):
        pts = base + spread * rng.normal(size=(60, 24))
        pts /= np.linalg.norm(pts, axis=1, keepdims=True)
        e_idx, e_cos, _ = nearest_neighbors(pts, 6, "exact")
        f_idx, f_cos, info = nearest_neighbors(pts, 6, "faiss", margin=1, batch=7)
        assert info["n_deeper_searches"] > 0
        np.testing.assert_array_equal(f_idx, e_idx)
        np.testing.assert_array_equal(f_cos, e_cos)
        if spread == 1e-6:
            np.testing.assert_array_equal(e_idx, brute_neighbors(pts, 6))
    a = mine(texts, neighbors=3, search="exact")
    b = mine(texts, neighbors=3, search="faiss")
    for name, col in a.pairs().items():
        np.testing.assert_array_equal(b.pairs()[name], col)


def test_hnsw_reports_recall(rng):
    faiss_or_skip()
    centers = rng.normal(size=(20, 32))
    pts = np.repeat(centers, 50, axis=0) + 0.3 * rng.normal(size=(1000, 32))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    idx, cos, info = nearest_neighbors(pts, 10, "hnsw", recall_sample=200)
    assert info["method"] == "hnsw" and info["exact"] is False
    assert info["recall_queries"] == 200 and info["recall"] >= 0.9
    assert idx.shape == (1000, 10) and not (idx == np.arange(1000)[:, None]).any()
    assert (np.diff(cos, axis=1) <= 0).all()
    assert info["storage"] == "float16" and info["margin"] == 10 and info["ef_search"] == 128
    rows = np.repeat(np.arange(1000), 10)
    ref = pair_cosines(pts, rows, idx.ravel()).reshape(1000, 10)
    np.testing.assert_array_equal(cos, ref)  # re-ranked by the float64 cosines, not float16's
    exact, _, _ = nearest_neighbors(pts, 10, "exact")
    hits = (idx[:, :, None] == exact[:, None, :]).any(axis=2).mean()
    assert info["recall"] == pytest.approx(hits, abs=0.05)  # the sample's recall, all queries'
    res = mine([random_tokens(rng, 6, 8) for _ in range(30)], neighbors=3, search="hnsw")
    assert 0.0 <= res.neighbor_info["recall"] <= 1.0


def test_auto_is_exact_for_small_corpora(texts):
    res = mine(texts, neighbors=2)
    assert res.neighbor_info["method"] == "exact"
    assert res.neighbor_info["block_dtype"] == "float64"
    assert set(res.timings) == {"stats", "neighbors", "scoring", "ranking"}


# ------------------------------------------------------------------------------ values
@pytest.mark.parametrize("numerics", ["exact", "paper"])
def test_values_equal_pairwise(texts, numerics):
    res = mine(texts, neighbors=4, numerics=numerics, score_chunk_bytes=50_000)
    ref = pairwise(texts, pairs=np.stack([res.i, res.j], axis=1), numerics=numerics)
    for name in ("d_mu", "d_sigma", "socm"):
        np.testing.assert_allclose(getattr(res, name), getattr(ref, name), rtol=0, atol=1e-12)
    means = unit_means(texts)
    np.testing.assert_allclose(res.cosine, (means[res.i] * means[res.j]).sum(1), atol=1e-15)
    stats = token_stats_many(texts)
    tr = np.array([s.trace for s in stats])
    expect = 4 * ref.d_sigma / (tr[res.i] + tr[res.j])
    np.testing.assert_allclose(res.relative_d_sigma, expect, rtol=1e-12, atol=1e-15)
    assert ((res.relative_d_sigma >= 0) & (res.relative_d_sigma <= 1)).all()


def test_relative_d_sigma_analytic():
    # tokens e0 ± s e1: unit mean e0 and Σ = s² e1 e1ᵀ; e0 ± u e2 lives on an orthogonal axis
    def two_tokens(axis: int, s: float) -> np.ndarray:
        x = np.zeros((2, 4))
        x[:, 0] = 1.0
        x[:, axis] = [s, -s]
        return x

    texts = [two_tokens(1, 1.0), two_tokens(1, 2.0), two_tokens(2, 0.5)]
    res = mine(texts, neighbors=2, rank_by="relative_d_sigma")
    got = {(a, b): r for a, b, r in zip(res.i, res.j, res.relative_d_sigma, strict=True)}
    # same axis: BW² = (s - t)², traces s², t² → (1 - 2)² / (1 + 4)
    assert got[(0, 1)] == pytest.approx(0.2, abs=1e-12)
    # orthogonal supports: fidelity 0, BW² = tr A + tr B → exactly 1
    assert got[(0, 2)] == 1.0 and got[(1, 2)] == 1.0
    # ties (exactly 1.0) are ordered by (i, j)
    assert list(zip(res.i.tolist(), res.j.tolist(), strict=True)) == [(0, 2), (1, 2), (0, 1)]
    np.testing.assert_allclose(res.d_mu, 0.0, atol=1e-15)
    assert relative_d_sigma_from_bw2(0.0, 0.0, 0.0) == 0.0
    np.testing.assert_allclose(
        relative_d_sigma_from_bw2([1.0, 0.0, 2.0], [1.0, 0.0, 1.0], [4.0, 0.0, 1.0]),
        [0.2, 0.0, 1.0],
    )


# ------------------------------------------------------------------------------ ranking
@pytest.mark.parametrize("rank_by", ["socm", "d_sigma", "relative_d_sigma"])
def test_ranking(texts, rank_by):
    res = mine(texts, neighbors=3, rank_by=rank_by)
    assert res.rank_by == rank_by
    score = getattr(res, rank_by)
    expect = sorted(zip((-score).tolist(), res.i.tolist(), res.j.tolist(), strict=True))
    got = list(zip((-score).tolist(), res.i.tolist(), res.j.tolist(), strict=True))
    assert got == expect


def greedy_cap(i, j, cap):
    count: dict[int, int] = {}
    keep = []
    for p, (a, b) in enumerate(zip(i.tolist(), j.tolist(), strict=True)):
        if count.get(a, 0) < cap and count.get(b, 0) < cap:
            count[a] = count.get(a, 0) + 1
            count[b] = count.get(b, 0) + 1
            keep.append(p)
    return np.array(keep, dtype=np.int64)


def test_max_per_text_and_top_k(texts):
    full = mine(texts, neighbors=5)
    assert len(full) == full.n_candidates
    for cap in (1, 2):
        capped = mine(texts, neighbors=5, max_per_text=cap)
        keep = greedy_cap(full.i, full.j, cap)
        np.testing.assert_array_equal(capped.i, full.i[keep])
        np.testing.assert_array_equal(capped.j, full.j[keep])
        np.testing.assert_array_equal(capped.socm, full.socm[keep])
        per = capped.per_text()["n_mined"]
        assert per.max() <= cap
        top = mine(texts, neighbors=5, max_per_text=cap, top_k=7)
        np.testing.assert_array_equal(top.i, capped.i[:7])
        np.testing.assert_array_equal(top.j, capped.j[:7])
        assert top.n_candidates == full.n_candidates
    top = mine(texts, neighbors=5, top_k=10)
    assert len(top) == 10
    np.testing.assert_array_equal(top.socm, full.socm[:10])
    assert len(mine(texts, neighbors=5, top_k=10**6)) == full.n_candidates


def test_per_text(texts):
    res = mine(texts, neighbors=3, top_k=5)
    full = mine(texts, neighbors=3)
    table = res.per_text()
    n = len(texts)
    assert all(v.shape == (n,) for v in table.values())
    for t in (0, 5, 41):
        mask = (full.i == t) | (full.j == t)
        assert table["n_candidates"][t] == mask.sum()
        assert table["mean_cosine"][t] == pytest.approx(full.cosine[mask].mean(), abs=1e-14)
        assert table["mean_relative_d_sigma"][t] == pytest.approx(
            full.relative_d_sigma[mask].mean(), abs=1e-14
        )
    assert table["n_mined"].sum() == 2 * len(res)


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"neighbors": 0}, "neighbors must be a whole number >= 1"),
        ({"neighbors": 5}, "smaller than the number of texts"),
        ({"neighbors": 1.5}, "neighbors must be a whole number >= 1"),
        ({"rank_by": "cosine"}, "rank_by must be one of"),
        ({"top_k": 0}, "top_k must be a whole number >= 1"),
        ({"max_per_text": -1}, "max_per_text must be a whole number >= 1"),
        ({"search": "annoy"}, "search must be one of"),
        ({"search_options": {"ef": 64}}, "search_options: unknown 'ef'; known: margin"),
        ({"numerics": "fast"}, "numerics must be one of"),
        ({"backend": "spark"}, "backend must be 'local', 'ray' or a Backend"),
    ],
)
def test_input_errors(rng, kwargs, match):
    texts = [random_tokens(rng, 4, 8) for _ in range(5)]
    with pytest.raises(ValueError, match=match):
        mine(texts, **kwargs)


def test_more_input_errors(rng):
    with pytest.raises(ValueError, match="at least 2 texts"):
        mine([random_tokens(rng, 3, 8)], neighbors=1)
    with pytest.raises(ValueError, match="dimension mismatch"):
        mine([random_tokens(rng, 3, 8), random_tokens(rng, 3, 6)], neighbors=1)
    with pytest.raises(ValueError, match="text 1"):
        mine([random_tokens(rng, 3, 8), np.zeros((0, 8))], neighbors=1)
    means = unit_means([random_tokens(rng, 3, 8) for _ in range(4)])
    with pytest.raises(ValueError, match="1 <= k < N"):
        nearest_neighbors(means, 4)
    with pytest.raises(ValueError, match="method must be one of"):
        nearest_neighbors(means, 1, method="ivf")
    with pytest.raises(ValueError, match="2-D"):
        nearest_neighbors(means[0], 1)
    with pytest.raises(ValueError, match="margin must be"):
        nearest_neighbors(means, 1, margin=-1)
    with pytest.raises(ValueError, match="block_dtype must be"):
        nearest_neighbors(means, 1, block_dtype="float16")


# ------------------------------------------------------------------------------ the steps
@pytest.mark.parametrize("numerics", ["exact", "paper"])
def test_the_steps_scored_elsewhere_give_mine(texts, numerics):
    """find_candidates -> any scorer of the listed pairs in order -> rank_candidates is
    ``mine`` (how a cluster backend's run is assembled)."""
    stats = token_stats_many(texts)
    ref = mine(
        texts, neighbors=4, top_k=25, rank_by="relative_d_sigma", max_per_text=2, numerics=numerics
    )
    cand = find_candidates(np.stack([s.mean for s in stats]), MineOptions(neighbors=4))
    assert cand.pairs().shape == (len(cand), 2) and (cand.i < cand.j).all()
    scored = pairwise(stats, pairs=cand.pairs(), numerics=numerics)  # i first, in order
    opts = MineOptions(neighbors=4, top_k=25, rank_by="relative_d_sigma", max_per_text=2)
    res = rank_candidates(cand, scored, opts)
    np.testing.assert_array_equal(res.i, ref.i)
    np.testing.assert_array_equal(res.j, ref.j)
    for col in ("cosine", "d_mu", "d_sigma", "socm", "relative_d_sigma"):
        np.testing.assert_allclose(getattr(res, col), getattr(ref, col), rtol=0, atol=1e-12)
    for key, val in ref.per_text().items():
        np.testing.assert_allclose(res.per_text()[key], val, rtol=0, atol=1e-12)
    assert res.n_candidates == ref.n_candidates and set(res.timings) == {"neighbors", "ranking"}
    with pytest.raises(ValueError, match=f"{len(cand)} candidates but scores of"):
        rank_candidates(cand, scored.take(np.arange(len(cand) - 1)), opts)
    with pytest.raises(ValueError, match="rank_by must be one of"):
        rank_candidates(cand, scored, opts.replace(rank_by="cosine"))
    with pytest.raises(ValueError, match="must be smaller than the number of texts"):
        find_candidates(np.stack([s.mean for s in stats]), MineOptions(neighbors=len(stats)))


# ------------------------------------------------------------------------------ chunks
def test_locality_order_and_chunks_cover_every_pair_once(texts):
    stats = token_stats_many(texts)
    cand = find_candidates(np.stack([s.mean for s in stats]), MineOptions(neighbors=4))
    order = locality_order(cand.i, cand.j, len(stats))
    assert sorted(order.tolist()) == list(range(len(cand)))
    nbytes = np.array([8 * s.dim * (s.rank + 1) for s in stats])
    budget = int(nbytes.max()) * 6
    chunks = chunk_pairs(order, cand.i, cand.j, nbytes, budget, max_pairs=7)
    np.testing.assert_array_equal(np.concatenate(chunks), order)
    for sel in chunks:
        assert 1 <= len(sel) <= 7
        used = nbytes[np.unique(np.concatenate([cand.i[sel], cand.j[sel]]))].sum()
        assert used <= budget or len(sel) == 1  # only a single pair may pass the budget
    # a chunk ends only when the next pair would pass the budget or the pair cap
    for sel, nxt in itertools.pairwise(chunks):
        grown = np.concatenate([sel, nxt[:1]])
        used = nbytes[np.unique(np.concatenate([cand.i[grown], cand.j[grown]]))].sum()
        assert used > budget or len(grown) > 7

    # in locality order, chunks need fewer distinct texts than in (i, j) order
    def texts_sent(order):
        parts = chunk_pairs(order, cand.i, cand.j, nbytes, budget)
        return sum(len(np.unique(np.concatenate([cand.i[c], cand.j[c]]))) for c in parts)

    assert texts_sent(order) <= texts_sent(np.arange(len(cand)))


# ------------------------------------------------------------------------------ what places a pair
def test_neighbor_ranks_and_cosine_percentiles_against_brute_force(texts):
    res = mine(texts, neighbors=4)
    means = unit_means(texts)
    cos = means @ means.T
    n = len(texts)
    for a, b, r1, r2 in zip(res.i, res.j, res.neighbor_rank_1, res.neighbor_rank_2, strict=True):
        for q, other, rank in ((a, b, r1), (b, a, r2)):
            order = sorted((t for t in range(n) if t != q), key=lambda t: (-cos[q, t], t))
            expect = order.index(other) + 1
            assert rank == (expect if expect <= 4 else 0)
        assert r1 or r2  # a candidate is among the nearest of at least one of its texts
    # 50 texts: all 1,225 pairs are fewer than the 100,000 random pairs, so the reference is
    # every pair and the percentile exact (ties half)
    iu = np.triu_indices(n, 1)
    everyone = pair_cosines(means, *iu)  # the kernel every cosine of mine comes from
    assert len(res.random_cosines) == len(everyone)
    for c, pct in zip(res.cosine, res.cosine_percentile, strict=True):
        expect = 100 * ((everyone < c).sum() + 0.5 * (everyone == c).sum()) / len(everyone)
        assert pct == pytest.approx(expect, abs=1e-9)
    sampled = mine(texts, neighbors=4, random_pairs=300, seed=3)
    assert len(sampled.random_cosines) == 300
    assert np.abs(sampled.cosine_percentile - res.cosine_percentile).max() < 10


def test_fragments_and_duplicates_are_left_out_and_counted(rng):
    texts = [random_tokens(rng, int(rng.integers(6, 20)), 12) for _ in range(30)]
    texts[4] = random_tokens(rng, 3, 12)  # a fragment
    texts[9] = texts[2].copy()  # a duplicate of an earlier text
    texts[17] = texts[2].copy()
    res = mine(texts, neighbors=3, min_tokens=5, drop_duplicates=True)
    assert res.excluded == {"n_fragments": 1, "n_duplicates": 2}
    used = set(res.i.tolist()) | set(res.j.tolist())
    assert not used & {4, 9, 17} and res.per_text()["n_candidates"][[4, 9, 17]].sum() == 0
    kept = [t for t in range(30) if t not in (4, 9, 17)]
    ref = mine([texts[t] for t in kept], neighbors=3)
    mapped = sorted(
        zip(np.array(kept)[ref.i].tolist(), np.array(kept)[ref.j].tolist(), strict=True)
    )
    assert sorted(zip(res.i.tolist(), res.j.tolist(), strict=True)) == mapped
    everything = mine(texts, neighbors=3)
    assert everything.excluded == {"n_fragments": 0, "n_duplicates": 0}
    assert {(2, 9), (2, 17), (9, 17)} <= set(
        zip(everything.i.tolist(), everything.j.tolist(), strict=True)
    )
    with pytest.raises(ValueError, match="2 texts after leaving out 30 fragments and dup"):
        mine(texts, neighbors=1, min_tokens=100)


def planted_corpus(rng, dim: int = 24, n_pairs: int = 12, planted=(2, 7, 10)):
    """Pairs of texts with the same mean (each pair's own direction, far from the others).
    In the planted pairs the two texts' tokens spread along orthogonal axes; in the others
    the two texts spread along the same axes. Equal spreads everywhere: only the shape of the
    token distribution tells the planted pairs apart."""
    out = []
    for p in range(n_pairs):
        mean = np.zeros(dim)
        mean[p % dim] = 3.0
        mean += 0.05 * rng.normal(size=dim)
        axes = rng.permutation([a for a in range(dim) if a != p % dim])
        first, second = axes[:3], axes[3:6] if p in planted else axes[:3]
        for ax in (first, second):
            dev = np.zeros((6, dim))
            for k, a in enumerate(ax):
                dev[2 * k, a], dev[2 * k + 1, a] = 1.0, -1.0
            out.append(mean + dev)
    return out, [(2 * p, 2 * p + 1) for p in planted]


@pytest.mark.parametrize("rank_by", ["socm", "d_sigma", "relative_d_sigma"])
def test_every_ranking_finds_planted_shape_differences_at_equal_means(rng, rank_by):
    texts, planted = planted_corpus(rng)
    res = mine(texts, neighbors=1, rank_by=rank_by)  # the candidates: each text's nearest
    assert res.n_candidates == 12
    top = set(zip(res.i[: len(planted)].tolist(), res.j[: len(planted)].tolist(), strict=True))
    assert top == set(planted)
    np.testing.assert_allclose(res.d_mu[: len(planted)], 0.0, atol=1e-12)
    assert (res.relative_d_sigma[: len(planted)] > 0.99).all()
    assert (res.relative_d_sigma[len(planted) :] < 0.5).all()


def _ranked_inputs(rng, n=5_000, p=70_000):
    """Candidates and scores of ``p`` random pairs (more than one block of ``_keep``)."""
    i = rng.integers(0, n - 1, p)
    j = i + 1 + rng.integers(0, n - 1 - i)
    cand = Candidates(
        i, j, rng.uniform(0.5, 1, p), n, rank_1=rng.integers(0, 6, p),
        rank_2=rng.integers(0, 6, p), random_cosines=np.sort(rng.uniform(-1, 1, 500)),
    )  # fmt: skip
    cols = {k: rng.uniform(0, 1, p) for k in ("d_mu", "d_sigma", "socm", "relative_d_sigma")}
    return cand, PairResult(i, j, **cols)


@pytest.mark.parametrize(
    "opts",
    [MineOptions(), MineOptions(max_per_text=3), MineOptions(max_per_text=2, top_k=500)],
)
def test_a_ranking_that_consumes_its_inputs_equals_one_that_does_not(rng, opts):
    cand, scores = _ranked_inputs(rng)
    ref = rank_candidates(copy.deepcopy(cand), copy.deepcopy(scores), opts)
    got = rank_candidates(cand, scores, opts, consume=True)
    np.testing.assert_array_equal(got.i, ref.i)
    np.testing.assert_array_equal(got.j, ref.j)
    assert got.columns.keys() == ref.columns.keys() and got.n_candidates == 70_000
    for name, col in ref.columns.items():
        np.testing.assert_array_equal(got.columns[name], col)
    np.testing.assert_array_equal(got.text_mean_relative_d_sigma, ref.text_mean_relative_d_sigma)
    assert cand.i.size == cand.cosine.size == scores.i.size == 0 and not scores.columns
    if opts.max_per_text is not None:  # the greedy walk, written out over the whole ranking
        c2, s2 = _ranked_inputs(np.random.default_rng(0))
        order = np.lexsort((c2.j, c2.i, -s2.columns["relative_d_sigma"]))
        count, kept = np.zeros(c2.n_texts, dtype=int), []
        for p in order:
            a, b = c2.i[p], c2.j[p]
            if count[a] < opts.max_per_text and count[b] < opts.max_per_text:
                count[a] += 1
                count[b] += 1
                kept.append(p)
        kept = kept[: opts.top_k]
        res = rank_candidates(c2, s2, opts)
        np.testing.assert_array_equal(res.i, c2.i[kept])
        np.testing.assert_array_equal(res.j, c2.j[kept])
