"""The token-embedding cache: round trip, keys, corruption detection, atomic writes, shards.

Tests that reach into the file layout (corrupting an entry's bytes) locate an entry inside its
shard with ``EmbeddingCache.locate`` (format 4) instead of the per-text ``entry_path`` of
format 3.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from socm.encode.cache import EmbeddingCache, default_cache_dir, text_key
from socm.errors import SocmWarning


def test_round_trip_and_keys(tmp_path):
    cache = EmbeddingCache(tmp_path, {"model": "m", "layer": None})
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    key = text_key("hello")
    assert cache.get(key) is None
    cache.put(key, arr)
    np.testing.assert_array_equal(cache.get(key), arr)
    assert (cache.dir / "config.json").exists()
    other = EmbeddingCache(tmp_path, {"model": "m", "layer": 3})
    assert other.dir != cache.dir and other.get(key) is None
    same = EmbeddingCache(tmp_path, {"layer": None, "model": "m"})
    assert same.dir == cache.dir
    assert not list(cache.dir.rglob("*.tmp"))


def flip_byte(path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupt_entries_are_detected_and_removed(tmp_path):
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    key = text_key("t")
    cache.put(key, np.ones((2, 3), dtype=np.float32))
    loc = cache.locate(key)
    flip_byte(loc.path, loc.offset + loc.length - 40)  # a payload byte
    assert cache.get(key) is None and cache.n_corrupt == 1 and cache.locate(key) is None
    cache.put(key, np.ones((2, 3), dtype=np.float32))  # recomputed: appended, supersedes
    loc = cache.locate(key)
    with open(loc.path, "r+b") as f:
        f.truncate(loc.offset + 50)  # truncated
    assert cache.get(key) is None and cache.n_corrupt == 2


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SOCM_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("SOCM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "socm"


def test_float64_entries_keep_their_precision(tmp_path):
    cache = EmbeddingCache(tmp_path, {"kind": "profile"})
    arr = np.array([[1 / 3, 2 / 7], [np.pi, np.e]])
    cache.put("k" * 64, arr, dtype="<f8")
    got = cache.get("k" * 64)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, arr)


def test_atomic_writes_get_normal_permissions(tmp_path):
    import os

    from socm.files import atomic_write_json

    atomic_write_json(tmp_path / "x.json", {"a": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o666 & ~mask
    assert not list(tmp_path.glob(".*tmp"))


def test_an_entry_copied_over_another_texts_entry_is_refused(tmp_path):
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    a, b = text_key("text a"), text_key("text b")
    cache.put(a, np.full((2, 3), 1.0, dtype=np.float32))
    cache.put(b, np.full((4, 3), 2.0, dtype=np.float32))
    la, lb = cache.locate(a), cache.locate(b)
    entry_a = la.path.read_bytes()[la.offset : la.offset + la.length]
    with open(lb.path, "r+b") as f:  # valid bytes of text a in place of text b's entry
        f.seek(lb.offset)
        f.write(entry_a + b"\0" * (lb.length - la.length))
    assert cache.get(b) is None and cache.n_corrupt == 1
    np.testing.assert_array_equal(cache.get(a), np.full((2, 3), 1.0))


# ---------------------------------------------------------------- shards (format 4, issue 12)
def entries(n: int, rows: int = 3, cols: int = 8, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        (text_key(f"text {t}"), rng.normal(size=(rows + t % 4, cols)).astype(np.float32))
        for t in range(n)
    ]


def test_many_entries_share_few_files_and_survive_reopening(tmp_path):
    items = entries(500)
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    for s in range(0, 500, 32):  # one put_many per encoded batch
        cache.put_many(items[s : s + 32])
    usage = cache.usage()
    assert usage.n_entries == 500 and usage.n_files == 3  # config.json, index.bin, one shard
    cache.close()
    again = EmbeddingCache(tmp_path, {"model": "m"})
    got = again.get_many([k for k, _ in items] + [text_key("absent")])
    assert got[-1] is None
    for (_, arr), back in zip(items, got, strict=False):
        np.testing.assert_array_equal(back, arr)
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_batch_is_written_in_parts_not_copied_whole(tmp_path, monkeypatch):
    import os

    from socm.encode import cache as cache_module

    items = entries(40, rows=20, cols=16)  # about 1.4 KB an entry
    monkeypatch.setattr(cache_module, "WRITE_BYTES", 8000)
    writes, write = [], os.write
    monkeypatch.setattr(
        os, "write", lambda fd, data: writes.append((fd, len(data))) or write(fd, data)
    )
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    cache.put_many(items)
    entry = [cache.locate(k).length for k, _ in items]
    shard = [n for fd, n in writes if fd == writes[0][0]]  # the shard's (then the index's)
    assert sum(shard) == sum(entry) and len(shard) > 3
    assert max(shard) <= max(8000, max(entry))  # only an entry alone may pass the limit
    locs = [cache.locate(k) for k, _ in items]
    assert all(b.offset == a.offset + a.length for a, b in itertools.pairwise(locs))
    again = EmbeddingCache(tmp_path, {"model": "m"})
    for (_, arr), back in zip(items, again.get_many([k for k, _ in items]), strict=True):
        np.testing.assert_array_equal(back, arr)


def test_shards_roll_over_and_writers_do_not_share_a_shard(tmp_path):
    items = entries(40)
    small = EmbeddingCache(tmp_path, {"model": "m"})
    small.shard_bytes = 2000  # a few entries per shard
    for s in range(0, 40, 4):
        small.put_many(items[s : s + 4])
    assert len(small.shard_numbers()) > 3
    first = EmbeddingCache(tmp_path, {"model": "x"})
    second = EmbeddingCache(tmp_path, {"model": "x"})
    first.put(text_key("a"), np.ones((2, 2)))
    second.put(text_key("b"), np.zeros((2, 2)))  # the first holds its shard's lock
    assert first.locate(text_key("a")).path != second.locate(text_key("b")).path
    reader = EmbeddingCache(tmp_path, {"model": "x"})
    np.testing.assert_array_equal(reader.get(text_key("a")), np.ones((2, 2)))
    np.testing.assert_array_equal(reader.get(text_key("b")), np.zeros((2, 2)))
    first.put(text_key("c"), np.full((1, 2), 3.0))  # written after the reader loaded the index
    np.testing.assert_array_equal(reader.get(text_key("c")), np.full((1, 2), 3.0))
    for c in (small, first, second, reader):
        c.close()
    reuse = EmbeddingCache(tmp_path, {"model": "x"})
    reuse.put(text_key("d"), np.ones((1, 2)))  # the lock is free again: no new shard
    assert len(reuse.shard_numbers()) == 2


def test_a_flipped_byte_in_a_shard_loses_that_entry_only(tmp_path):
    items = entries(20)
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    cache.put_many(items)
    victim = cache.locate(items[7][0])
    flip_byte(victim.path, victim.offset + 100)
    fresh = EmbeddingCache(tmp_path, {"model": "m"})
    got = fresh.get_many([k for k, _ in items])
    assert got[7] is None and fresh.n_corrupt == 1
    for t, ((_, arr), back) in enumerate(zip(items, got, strict=True)):
        if t != 7:
            np.testing.assert_array_equal(back, arr)
    fresh.put(*items[7])  # recomputed
    np.testing.assert_array_equal(
        EmbeddingCache(tmp_path, {"model": "m"}).get(items[7][0]), items[7][1]
    )


def test_torn_writes_are_ignored(tmp_path):
    items = entries(10)
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    cache.put_many(items[:5])
    cache.close()
    with open(cache.index_path, "ab") as f:  # an interrupted index append: half a record
        f.write(b"\x01" * 30)
    shard = cache.locate(items[0][0]).path
    with open(shard, "ab") as f:  # an interrupted shard append: bytes no record points to
        f.write(b"\x02" * 1000)
    again = EmbeddingCache(tmp_path, {"model": "m"})
    assert len(again) == 5
    again.put_many(items[5:])  # cuts the torn record, appends after the garbage
    final = EmbeddingCache(tmp_path, {"model": "m"})
    assert len(final) == 10 and final.n_corrupt == 0
    for key, arr in items:
        np.testing.assert_array_equal(final.get(key), arr)
    assert (cache.index_path.stat().st_size - 16) % 68 == 0


def test_damaged_index_record_is_skipped(tmp_path):
    items = entries(6)
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    cache.put_many(items)
    flip_byte(cache.index_path, 16 + 68 * 2 + 5)  # inside the third record
    again = EmbeddingCache(tmp_path, {"model": "m"})
    got = again.get_many([k for k, _ in items])
    assert got[2] is None and all(g is not None for t, g in enumerate(got) if t != 2)


def test_float16_entries_round_trip(tmp_path):
    cache = EmbeddingCache(tmp_path, {"model": "m", "dtype": "float16"})
    arr = np.random.default_rng(0).normal(size=(5, 16)).astype(np.float32)
    cache.put("k" * 64, arr, dtype="<f2")
    got = cache.get("k" * 64)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, arr.astype(np.float16))
    assert np.abs(got.astype(np.float32) - arr).max() <= np.abs(arr).max() * 2.0**-11
    with pytest.raises(ValueError, match="float16 range"):
        cache.put("j" * 64, np.array([[1e6, 0.0]]), dtype="<f2")
    with pytest.raises(ValueError, match="2-D"):
        cache.put("j" * 64, np.ones(3))


def test_old_one_file_per_text_folders_are_named_once(tmp_path, recwarn):
    import socm.encode.cache as cache_module

    old = tmp_path / "embeddings" / "0123456789abcdef01234567"
    (old / "ab").mkdir(parents=True)
    (old / "ab" / ("ab" + "0" * 62 + ".emb")).write_bytes(b"x")
    (old / "config.json").write_text('{"model": "m"}')
    cache_module._LEGACY_WARNED.discard(tmp_path / "embeddings")
    with pytest.warns(SocmWarning, match="1 cache folder.*old one-file-per-text format.*0123"):
        cache = EmbeddingCache(tmp_path, {"model": "m"})
    assert cache.dir != old and cache.get(text_key("x")) is None
    EmbeddingCache(tmp_path, {"model": "n"})  # once per process
    assert not [w for w in recwarn if issubclass(w.category, SocmWarning)]
    assert (old / "ab").is_dir()  # left alone


def test_keys_sharing_the_index_prefix_never_read_as_each_other(tmp_path, monkeypatch):
    """The in-memory index keeps 8 bytes of each key: two keys sharing them share a slot,
    the later wins, the earlier reads as missing (its entry's header holds the whole key)."""
    import hashlib

    import socm.encode.cache as cache_module
    from socm.encode.cache import EmbeddingCache

    def owner(key: str) -> bytes:  # every key's digest starts with the same 8 bytes
        return b"\0" * 8 + hashlib.sha256(key.encode()).digest()[8:]

    monkeypatch.setattr(cache_module, "_owner", owner)
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    cache.put_many([("a", np.ones((2, 3))), ("b", np.zeros((1, 3)))])
    assert cache.get("a") is None  # superseded in memory: missing, not b's entry
    np.testing.assert_array_equal(cache.get("b"), np.zeros((1, 3)))
    fresh = EmbeddingCache(tmp_path, {"model": "m"})  # read back from index.bin: the same
    assert fresh.get("a") is None and fresh.get("b").shape == (1, 3)


def test_a_forgotten_index_is_read_again_on_the_next_lookup(tmp_path):
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    arrays = {f"text {k}": np.full((k + 1, 3), k, dtype=np.float32) for k in range(5)}
    cache.put_many([(key, a, "<f4") for key, a in arrays.items()])
    cache.forget_index()
    assert len(cache.index) == 0  # nothing held in memory
    for key, a in arrays.items():
        np.testing.assert_array_equal(cache.get(key), a)
    assert len(cache) == 5 and cache.get("another text") is None


def test_the_index_agrees_with_a_dict_across_merges(tmp_path, monkeypatch):
    """Entries in the sorted arrays and in the dict of recent ones are found, superseded,
    discarded and revived alike: a random sequence of writes and discards against a dict."""
    import hashlib

    from socm.encode.cache import ShardIndex

    monkeypatch.setattr(ShardIndex, "MERGE_MIN", 8)  # merges every few entries
    index = ShardIndex(tmp_path / "index.bin")
    model: dict[bytes, tuple] = {}
    rng = np.random.default_rng(0)
    owners = [hashlib.sha256(str(k).encode()).digest() for k in range(300)]
    for step in range(3000):
        owner = owners[int(rng.integers(len(owners)))]
        if rng.random() < 0.2 and owner in model:
            index.discard(owner, model.pop(owner))
        else:
            loc = (int(rng.integers(9)), step, 10, 2, 3, b"<f4 ")
            index.set(owner, loc)
            model[owner] = loc
    assert len(index._keys) > 100  # most entries went through a merge
    assert len(index) == len(model)
    for owner in owners:
        assert index.lookup(owner) == model.get(owner)
        assert index.known(owner) == (owner in model)
    stale = (0, -1, 10, 2, 3, b"<f4 ")  # discarding at a location it is no longer at: kept
    kept = next(iter(model))
    index.discard(kept, stale)
    assert index.lookup(kept) == model[kept]
