"""The statistics store: round trip, checksums, precision, and the collector's budget."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_tokens

from socm.core.pairs import iter_pairwise_lazy, pairwise
from socm.core.stats import token_stats
from socm.errors import SocmError
from socm.store import (
    LocalStats,
    StatsCollector,
    StatsStore,
    StoredStats,
    parse_bytes,
    stats_nbytes,
)


@pytest.fixture
def texts(rng):
    return [token_stats(random_tokens(rng, int(rng.integers(1, 30)), 16)) for _ in range(25)]


def test_round_trip_is_exact_and_keyed_by_text(texts, tmp_path):
    store = StatsStore(tmp_path, {"model": "m"})
    keys = [f"k{t}" for t in range(len(texts))]
    store.put_many(keys, texts)
    assert len(store) == len(texts) and store.head("other") is None
    for key, st in zip(keys, texts, strict=True):
        got = store.stats(key)
        assert np.array_equal(got.factor, st.factor) and np.array_equal(got.mean, st.mean)
        assert (got.trace, got.mean_norm, got.n_tokens) == (st.trace, st.mean_norm, st.n_tokens)
        assert np.array_equal(got.top_token_share, st.top_token_share, equal_nan=True)
    again = StatsStore(tmp_path, {"model": "m"})  # another process, the same folder
    assert again.head("k3").trace == texts[3].trace
    assert StatsStore(tmp_path, {"model": "other"}).head("k3") is None  # other config


def test_a_damaged_entry_reads_as_missing(texts, tmp_path):
    store = StatsStore(tmp_path, {"model": "m"})
    store.put_many(["a", "b"], texts[:2])
    loc = store.factors.locate("a")
    raw = bytearray(loc.path.read_bytes())
    raw[loc.offset + 100] ^= 0xFF
    loc.path.write_bytes(bytes(raw))
    fresh = StatsStore(tmp_path, {"model": "m"})
    assert fresh.factor("a") is None and fresh.stats("a") is None
    assert np.array_equal(fresh.factor("b"), texts[1].factor)


def test_a_text_is_complete_only_with_its_factor_of_the_store_precision(texts, tmp_path):
    wide = StatsStore(tmp_path, {"model": "m"})
    wide.put_many(["a", "b"], texts[:2])
    narrow = StatsStore(tmp_path, {"model": "m"}, dtype="float32")
    assert narrow.head("a") is not None  # heads are shared by both precisions...
    assert narrow.complete_many(["a", "b", "c"]) == [False, False, False]  # ...factors are not
    assert wide.complete_many(["a", "b", "c"]) == [True, True, False]
    collector = StatsCollector(3, narrow, budget=1, always=True)
    assert collector.missing(["a", "b", "c"]) == [True, True, True]
    narrow.put_many(["a"], texts[:1])
    assert narrow.complete_many(["a", "b"]) == [True, False]


def test_a_factor_damaged_under_a_run_stops_it_with_the_folder(texts, tmp_path):
    store = StatsStore(tmp_path, {"model": "m"})
    collector = StatsCollector(2, store, budget=1, always=True)
    collector.add(["a", "b"], texts[:2])
    stats = collector.finish()
    loc = store.factors.locate("b")
    raw = bytearray(loc.path.read_bytes())
    raw[loc.offset + 100] ^= 0xFF
    loc.path.write_bytes(bytes(raw))
    assert np.array_equal(stats[0].factor, texts[0].factor)
    with pytest.raises(SocmError, match="delete that folder, or use another --store"):
        stats[1]


def test_forgotten_means_are_read_back_from_the_store_bit_for_bit(texts, tmp_path):
    store = StatsStore(tmp_path, {"model": "m"})
    collector = StatsCollector(len(texts), store, budget=1, always=True)
    collector.add([f"k{t}" for t in range(len(texts))], texts)
    stats = collector.finish()
    held = stats.means()
    before = [stats[t] for t in range(len(texts))]
    stats.forget_means()
    assert stats.means() is not held  # read back: a new array
    np.testing.assert_array_equal(stats.means(), held)
    for t, st in enumerate(before):
        got = stats[t]
        assert np.array_equal(got.mean, st.mean) and np.array_equal(got.factor, st.factor)
    ref = pairwise(before, [[0, 1], [2, 5], [3, 24]])
    got = pairwise([stats[t] for t in range(len(texts))], [[0, 1], [2, 5], [3, 24]])
    np.testing.assert_array_equal(got.socm, ref.socm)
    local = LocalStats(texts)
    local.forget_means()  # in memory: nothing is freed
    np.testing.assert_array_equal(local.means(), held)
    loc = store.heads.locate("k4")  # a head damaged under the run stops it, like a factor
    raw = bytearray(loc.path.read_bytes())
    raw[loc.offset + 100] ^= 0xFF
    loc.path.write_bytes(bytes(raw))
    with pytest.raises(SocmError, match="statistics of text 4 are missing or damaged"):
        stats[4]
    with pytest.raises(SocmError, match="statistics of text 4 are missing or damaged"):
        stats.means()


def test_float32_factors_move_values_by_about_1e_7(texts, tmp_path):
    store = StatsStore(tmp_path, {"model": "m"}, dtype="float32")
    keys = [str(t) for t in range(len(texts))]
    store.put_many(keys, texts)
    back = [store.stats(k) for k in keys]
    ref, got = pairwise(texts), pairwise(back)
    for col in ("d_mu", "d_sigma", "socm"):
        err = np.abs(getattr(got, col) - getattr(ref, col)).max()
        assert err < 1e-6, col
    assert np.abs(got.d_sigma - ref.d_sigma).max() > 0  # it is rounded: not a copy
    with pytest.raises(ValueError, match="store dtype"):
        StatsStore(tmp_path, {}, dtype="float16")


def test_the_collector_keeps_memory_within_budget_and_stores_beyond(texts, tmp_path):
    keys = [f"k{t}" for t in range(len(texts))]
    small = StatsCollector(len(texts), lambda: StatsStore(tmp_path / "a", {}), budget=1 << 30)
    small.add(keys, texts)
    held = small.finish()
    assert isinstance(held, LocalStats) and not small.stored
    assert not (tmp_path / "a").exists()  # no store made for a run that fits
    size = stats_nbytes([s.n_tokens for s in texts], 16)
    assert size == sum(8 * 16 * (s.rank + 1) for s in texts)  # ranks are min(n - 1, D)
    big = StatsCollector(len(texts), lambda: StatsStore(tmp_path / "b", {}), budget=size // 3)
    for s in range(0, len(texts), 10):  # the projection passes the budget on the way
        big.add(keys[s : s + 10], texts[s : s + 10])
    stored = big.finish()
    assert isinstance(stored, StoredStats) and big.stored and len(stored) == len(texts)
    np.testing.assert_array_equal(stored.means(), np.stack([s.mean for s in texts]))
    assert stored.ranks.tolist() == [s.rank for s in texts]
    assert np.array_equal(stored[7].factor, texts[7].factor)
    # scoring from the store equals scoring in memory, a budget of factors at a time
    ref = pairwise(texts)
    tiles = list(iter_pairwise_lazy(stored, budget_bytes=4000))
    got = {(int(i), int(j)): v for t in tiles for i, j, v in zip(t.i, t.j, t.socm, strict=True)}
    assert len(got) == len(ref)
    np.testing.assert_allclose(
        [got[(i, j)] for i, j in zip(ref.i.tolist(), ref.j.tolist(), strict=True)],
        ref.socm, rtol=0, atol=1e-12,
    )  # fmt: skip
    # a rerun finds every text in the store: nothing to encode, heads read back
    rerun = StatsCollector(len(texts), lambda: StatsStore(tmp_path / "b", {}), always=True)
    assert rerun.missing(keys) == [False] * len(texts)
    rerun.add(keys, [None] * len(texts))
    again = rerun.finish()
    np.testing.assert_array_equal(again.traces, [s.trace for s in texts])
    shares = [s.top_token_share for s in texts]
    np.testing.assert_array_equal(again.top_token_shares, shares)
    np.testing.assert_array_equal(held.top_token_shares, shares)
    got = [again[t].top_token_share for t in range(len(texts))]
    np.testing.assert_array_equal(got, shares)  # NaN (one token) where the input has NaN


def test_sizes():
    assert parse_bytes("1.5k") == 1536 and parse_bytes("3") == 3
    with pytest.raises(ValueError, match="a size such as"):
        parse_bytes("lots")
    with pytest.raises(ValueError, match="positive"):
        parse_bytes("0")
    assert stats_nbytes([1, 5, 500], 10) == 8 * 10 * (1 + 5 + 11)
