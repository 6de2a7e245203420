"""The token-embedding cache: round trip, keys, corruption detection, atomic writes."""

from __future__ import annotations

import numpy as np

from socm.encode.cache import EmbeddingCache, default_cache_dir, text_key


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


def test_corrupt_entries_are_detected_and_removed(tmp_path):
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    key = text_key("t")
    cache.put(key, np.ones((2, 3), dtype=np.float32))
    path = cache.entry_path(key)
    data = bytearray(path.read_bytes())
    data[-40] ^= 0xFF  # flip a payload byte
    path.write_bytes(bytes(data))
    assert cache.get(key) is None and cache.n_corrupt == 1 and not path.exists()
    cache.put(key, np.ones((2, 3), dtype=np.float32))
    path.write_bytes(path.read_bytes()[:50])  # truncated
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
    cache.entry_path(b).write_bytes(cache.entry_path(a).read_bytes())  # valid bytes, wrong text
    assert cache.get(b) is None and cache.n_corrupt == 1
    np.testing.assert_array_equal(cache.get(a), np.full((2, 3), 1.0))
