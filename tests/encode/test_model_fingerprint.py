"""The token-embedding cache key covers every file that defines a local model, by content
(issue 23, class 2): a changed tokenizer file or weights of the same size and modification
time get another key, never the old model's cached embeddings."""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest
from conftest import tiny_model

from socm.encode import Encoder
from socm.encode import models as models_mod
from socm.encode.models import file_sha256, local_fingerprint, model_files


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("models")
    a = tiny_model(tmp / "a", seed=0)
    b = tiny_model(tmp / "b", seed=1)
    assert (a / "model.safetensors").stat().st_size == (b / "model.safetensors").stat().st_size
    return a, b


def _encoder(folder, cache):
    return Encoder(str(folder), device="cpu", cache_dir=cache)


def test_the_fingerprint_covers_tokenizer_files(two_models, tmp_path):
    model = tmp_path / "m"
    shutil.copytree(two_models[0], model)
    (model / "README.md").write_text("docs")
    names = [p.name for p in model_files(model)]
    assert "vocab.txt" in names and "model.safetensors" in names and "README.md" not in names
    before = local_fingerprint(model)
    assert before.startswith("sha256:")
    (model / "README.md").write_text("other docs")  # documentation does not define the model
    assert local_fingerprint(model) == before
    vocab = model / "vocab.txt"
    st = vocab.stat()
    lines = vocab.read_text(encoding="utf-8").splitlines()
    lines[2000], lines[2001] = lines[2001], lines[2000]  # same size, another vocabulary
    vocab.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.utime(vocab, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert vocab.stat().st_size == st.st_size and local_fingerprint(model) != before


def test_weights_replaced_keeping_size_and_time_are_not_read_from_the_cache(two_models, tmp_path):
    a, b = two_models
    model, cache = tmp_path / "m", tmp_path / "cache"
    shutil.copytree(a, model)
    texts = ["Mean pooling averages the token embeddings.", "A second text."]
    first = _encoder(model, cache)
    old = first.encode(texts).embeddings
    weights = model / "model.safetensors"
    st = weights.stat()
    shutil.copy(b / "model.safetensors", weights)  # cp -p: the old modification time
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (weights.stat().st_size, weights.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    second = _encoder(model, cache)
    assert second.cache_config() != first.cache_config()
    res = second.encode(texts)
    fresh = _encoder(b, None).encode(texts).embeddings
    assert res.n_cached == 0
    assert all(np.array_equal(x, y) for x, y in zip(res.embeddings, fresh, strict=True))
    assert not np.allclose(res.embeddings[0], old[0])


def test_the_hash_shortcut_cannot_be_fooled_by_a_restored_time(tmp_path, monkeypatch):
    monkeypatch.setattr(models_mod, "_FILE_HASHES", {})
    f = tmp_path / "weights.bin"
    f.write_bytes(b"a" * 1000)
    time.sleep(models_mod._RACY_SECONDS + 0.2)  # older than the racy window: recorded
    first = file_sha256(f)
    record = models_mod._FILE_HASHES[str(f.resolve())]
    record["sha256"] = "recorded"  # an unchanged file is served from the record
    assert file_sha256(f) == "recorded"
    st = f.stat()
    with open(f, "r+b") as fh:  # rewritten in place: same inode, size and (restored) time
        fh.write(b"b" * 1000)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (f.stat().st_ino, f.stat().st_size, f.stat().st_mtime_ns) == (
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
    )
    second = file_sha256(f)
    assert second not in ("recorded", first)
