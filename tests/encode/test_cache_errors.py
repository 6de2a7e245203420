"""A full disk and odd cache entries end in one line naming the path, never an internal error
(issue 23, rough edges)."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
from conftest import MODEL

from socm.cli import main
from socm.encode import cache as cache_mod
from socm.encode.cache import EmbeddingCache, text_key
from socm.errors import SocmError

FULL = OSError(errno.ENOSPC, "No space left on device")


def test_odd_cache_entries_are_named(tmp_path):
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    (cache.dir / "shards").write_text("a file where a folder belongs")
    with pytest.raises(
        SocmError, match=r"cache .*: cannot write new entries: .*remove that folder"
    ):
        cache.put(text_key("a"), np.ones((2, 3)))
    other = EmbeddingCache(tmp_path, {"model": "n"})
    other.index_path.mkdir()  # a folder where the index belongs
    with pytest.raises(SocmError, match=f"cache {other.dir}: cannot read its index"):
        other.get_many([text_key("a")])
    third = EmbeddingCache(tmp_path, {"model": "o"})
    third.put(text_key("a"), np.ones((2, 3)))
    shard = third.shard_path(0)
    third.close()
    shard.unlink()
    shard.mkdir()  # a folder where a shard belongs
    fresh = EmbeddingCache(tmp_path, {"model": "o"})
    with pytest.raises(SocmError, match="cannot read an entry"):
        fresh.get(text_key("a"))


def test_a_full_disk_names_the_cache(wiki_head, tmp_path, monkeypatch, capsys):
    def full(fd, data):
        raise FULL

    monkeypatch.setattr(cache_mod, "_write_all", full)
    args = ["measure", "--corpus", str(wiki_head), "--n-texts", "4", "--quiet", "--device", "cpu"]
    args += ["--model", MODEL, "--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("socm: error: token-embedding cache ") and err.count("\n") == 1
    assert "No space left on device" in err and "free some space" in err
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_a_full_disk_names_the_file(tmp_path, monkeypatch, capsys):
    import socm.files as files

    class FullDisk:  # the os module, but replacing a file fails as on a full disk
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def replace(src, dst):
            raise FULL

    monkeypatch.setattr(files, "os", FullDisk())
    with pytest.raises(SocmError, match=r"cannot write .*x\.json: No space left on device; free"):
        files.atomic_write_json(tmp_path / "x.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone


def test_any_os_error_is_one_line_with_its_path(monkeypatch, capsys):
    import socm.cli.figures as figures

    def boom(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/report.html")

    monkeypatch.setattr(figures, "cmd_report", boom)
    assert main(["report", "run"]) == 1
    err = capsys.readouterr().err
    assert err == "socm: error: No space left on device: /data/report.html\n"
