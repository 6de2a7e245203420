"""Decoder embedders in the encode stage: pooling read from the model's files, native pooled
embeddings and prompt exclusion against sentence-transformers itself, padding side, forward
dtype, first-token exclusion, refusals and cache keys. Tiny random models built from configs
(``tests/tiny_decoders.py``)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import MODEL
from tiny_decoders import SENTENCES

from socm.core.stats import token_stats
from socm.encode import Encoder, ResolvedModel
from socm.encode.pooling import pool, read_embedder_info, reduce_encoded
from socm.encode.precision import resolve_forward_dtype
from socm.errors import SocmError

TEXTS = SENTENCES[:8]


def local(path) -> ResolvedModel:
    return ResolvedModel(str(path), str(path), None, "local")


def unit_means(enc: Encoder, texts=TEXTS) -> np.ndarray:
    return np.stack([s.mean for s in reduce_encoded(enc.encode(texts))])


def test_pooling_is_read_from_the_sentence_transformers_files(tiny_decoder, tmp_path):
    info = read_embedder_info(local(tiny_decoder("qwen3")))
    assert (info.modes, info.include_prompt, info.source) == (
        ("lasttoken",), True, "1_Pooling/config.json"
    )  # fmt: skip
    assert info.after == ("Normalize",) and info.prompts["query"].startswith("Instruct:")
    assert info.notice() == (
        "this model pools by its last token; SOCM measures what mean pooling would lose"
    )
    cls = tiny_decoder("llama", pooling="cls", include_prompt=False, legacy_pooling_config=False)
    new = read_embedder_info(local(cls))
    assert (new.name, new.include_prompt) == ("cls", False) and "first" in new.notice()
    mean = read_embedder_info(local(tiny_decoder("qwen3", pooling="mean")))
    assert mean.is_mean and mean.notice() is None
    # the packaged MiniLM: mean pooling, as sentence-transformers ships it
    packaged = Encoder(MODEL, device="cpu").embedder
    assert packaged.name == "mean" and packaged.notice() is None
    # no modules.json: nothing declared; a latent-attention config (NV-Embed) is named
    bare = tmp_path / "bare"
    shutil.copytree(tiny_decoder("qwen3"), bare)
    (bare / "modules.json").unlink()
    assert read_embedder_info(local(bare)).name == "unknown"
    cfg = json.loads((bare / "config.json").read_text())
    (bare / "config.json").write_text(json.dumps({**cfg, "latent_attention_config": {}}))
    assert read_embedder_info(local(bare)).name == "latent_attention"


def test_pool_modes_on_an_analytic_batch():
    """Right- and left-padded rows give the same pooled vectors (the mask decides)."""
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [4.0, 2.0], [9.0, 9.0]])
    right = torch.stack([x, x])
    mask = torch.tensor([[True, True, True, False], [False, True, True, False]])
    want = {
        "cls": [[1.0, 0.0], [0.0, 2.0]],
        "lasttoken": [[4.0, 2.0], [4.0, 2.0]],
        "mean": [[5 / 3, 4 / 3], [2.0, 2.0]],
        "max": [[4.0, 2.0], [4.0, 2.0]],
        # weights 1, 2, 3 from the first attended position
        "weightedmean": [[(1 + 0 + 12) / 6, (0 + 4 + 6) / 6], [(0 + 8) / 3, (2 + 4) / 3]],
    }
    for mode, values in want.items():
        np.testing.assert_allclose(pool(right, mask, [mode]).numpy(), values, atol=1e-15)
    sq = pool(right, mask, ["mean_sqrt_len_tokens"]).numpy()
    np.testing.assert_allclose(sq[0], np.array([5.0, 4.0]) / np.sqrt(3), atol=1e-15)


@pytest.mark.parametrize(
    ("arch", "mode"),
    [("qwen3", m) for m in ("mean", "lasttoken", "cls", "weightedmean", "max")]
    + [(a, m) for a in ("llama", "gemma3") for m in ("mean", "lasttoken")],
)
def test_prompt_exclusion_and_native_pooling_match_sentence_transformers(tiny_decoder, arch, mode):
    """sentence-transformers with include_prompt=False, encoding with the model's prompt: its
    sentence embedding equals socm's native pooled embedding (unit length), and for mean
    pooling also socm's unit mean with --exclude-prompt-tokens: the same tokens are left out.
    sentence-transformers pads on the left, socm on the right: float32 rounding apart."""
    st = pytest.importorskip("sentence_transformers")
    folder = tiny_decoder(arch, pooling=mode, include_prompt=False, legacy_pooling_config=False)
    model = st.SentenceTransformer(str(folder), device="cpu")
    ref = model.encode(TEXTS, prompt_name="query", batch_size=4, show_progress_bar=False)
    opts = dict(device="cpu", prompt_name="query", batch_size=4)
    native = Encoder(str(folder), pooling="model", exclude_prompt_tokens=True, **opts)
    prompt = native.prompt
    if hasattr(model[0], "_get_prompt_length"):
        assert native.policy.prompt_tokens == model[0]._get_prompt_length(prompt)
    np.testing.assert_allclose(unit_means(native), ref, rtol=0, atol=1e-6)
    if mode != "mean":
        return
    mean = Encoder(str(folder), exclude_prompt_tokens=True, **opts)
    got = unit_means(mean)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)
    n_text = [len(mean.policy.tokenize([t])["input_ids"][0]) for t in TEXTS]
    assert [len(e) for e in mean.encode(TEXTS).embeddings] == [
        n - mean.policy.prompt_tokens for n in n_text
    ]
    # one prompt token fewer left out: far from sentence-transformers (the test can fail)
    mean.policy.prompt_tokens -= 1
    assert np.abs(unit_means(mean) - ref).max() > 1e-3


def test_padding_side_never_changes_a_value(tiny_decoder):
    """Tokenizers that pad on the left and on the right give the same token embeddings, bit for
    bit (socm right-pads every batch and masks by attention_mask), equal to one text at a time
    and to the model run by hand on its own left-padded batch with position ids from the mask
    (an independent route: RoPE sees the same relative positions)."""
    left = tiny_decoder("llama", padding_side="left")
    right = tiny_decoder("llama", padding_side="right")
    a = Encoder(str(left), device="cpu", batch_size=4).encode(TEXTS).embeddings
    b = Encoder(str(right), device="cpu", batch_size=4).encode(TEXTS).embeddings
    one = Encoder(str(left), device="cpu", batch_size=1).encode(TEXTS).embeddings
    for x, y, z in zip(a, b, one, strict=True):
        assert np.array_equal(x, y)
        np.testing.assert_allclose(x, z, rtol=0, atol=2e-5)
    enc = Encoder(str(left), device="cpu")
    tok = enc.tokenizer
    assert tok.padding_side == "left"
    batch = tok(TEXTS, padding=True, return_tensors="pt")
    positions = (batch["attention_mask"].cumsum(1) - 1).clamp_min(0)
    with torch.inference_mode():
        hidden = enc.model(**batch, position_ids=positions).last_hidden_state
    for k, x in enumerate(a):
        rows = hidden[k][batch["attention_mask"][k].bool()].numpy()
        np.testing.assert_allclose(x, rows, rtol=0, atol=2e-5)


def test_forward_dtype(tiny_decoder, tmp_path):
    folder = tiny_decoder("qwen3")
    f32 = Encoder(str(folder), device="cpu", cache_dir=tmp_path)
    bf16 = Encoder(str(folder), device="cpu", dtype="bfloat16", cache_dir=tmp_path)
    assert (f32.forward_dtype, bf16.forward_dtype) == ("float32", "bfloat16")
    assert "forward_dtype" not in f32.cache_config()  # today's caches stay valid
    assert bf16.cache_config()["forward_dtype"] == "bfloat16"
    assert bf16.cache.dir != f32.cache.dir
    x, y = f32.encode(TEXTS).embeddings, bf16.encode(TEXTS).embeddings
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    assert all(e.dtype == np.float32 for e in y)  # cast as they leave the model
    diffs = [token_stats(b).trace / token_stats(a).trace - 1 for a, b in zip(x, y, strict=True)]
    assert 0 < np.abs(diffs).max() < 0.05  # bfloat16 moves the spread, a little
    # auto: the config on a CUDA device, float32 elsewhere
    cfg = type("Cfg", (), {"dtype": torch.bfloat16})()
    assert resolve_forward_dtype("auto", torch.device("cuda"), lambda: cfg) == "bfloat16"
    assert resolve_forward_dtype("auto", torch.device("cpu"), lambda: cfg) == "float32"
    with pytest.raises(SocmError, match="--dtype"):
        Encoder(str(folder), device="cpu", dtype="int8")


def test_float16_overflow_is_refused_with_the_remedy(tiny_decoder):
    """A BOS embedding beyond float16's range (65504): one line naming the text and the fix."""
    folder = tiny_decoder("llama", sink_scale=1e7)
    enc = Encoder(str(folder), device="cpu", dtype="float16", layer=0)
    with pytest.raises(SocmError, match=r"text \d: .*not finite in a float16 .*--dtype bfloat16"):
        enc.encode(TEXTS[:2])


def test_first_token_sink_share_and_its_exclusion(tiny_decoder):
    """A BOS embedding scaled 1000 times is an attention sink at the embedding output: it holds
    (n - 1)/n of its text's spread. --exclude-first-token (or --exclude-special-tokens, which
    drops BOS and EOS) measures without it."""
    folder = tiny_decoder("llama", sink_scale=1000.0)
    every = Encoder(str(folder), device="cpu", layer=0)
    stats = reduce_encoded(every.encode(TEXTS))
    for st in stats:
        assert st.top_token_share > (st.n_tokens - 1) / st.n_tokens - 1e-3
    for flag in ("exclude_first_token", "exclude_special_tokens"):
        enc = Encoder(str(folder), device="cpu", layer=0, **{flag: True})
        without = reduce_encoded(enc.encode(TEXTS))
        drop = 1 if flag == "exclude_first_token" else 2
        assert [s.n_tokens for s in without] == [s.n_tokens - drop for s in stats]
        assert max(s.top_token_share for s in without) < 0.5
    assert (
        Encoder(str(folder), device="cpu", exclude_first_token=True).token_policy()["first_token"]
        == "excluded"
    )


def test_refusals(tiny_decoder, tmp_path):
    folder = str(tiny_decoder("qwen3"))
    with pytest.raises(SocmError, match="drop --layer"):
        Encoder(folder, device="cpu", pooling="model", layer=1)
    with pytest.raises(SocmError, match="no such prompt .*document, query"):
        Encoder(folder, device="cpu", prompt_name="passage")
    with pytest.raises(SocmError, match="not both"):
        Encoder(folder, device="cpu", prompt="x: ", prompt_name="query")
    with pytest.raises(SocmError, match="needs a prompt"):
        Encoder(folder, device="cpu", exclude_prompt_tokens=True)
    with pytest.raises(SocmError, match="mean or model"):
        Encoder(folder, device="cpu", pooling="last")
    both = tiny_decoder("qwen3", pooling=("cls", "mean"), legacy_pooling_config=False)
    with pytest.raises(SocmError, match="concatenates cls\\+mean"):
        Encoder(str(both), device="cpu", pooling="model")
    with pytest.raises(SocmError, match="declares no pooling"):
        bare = tmp_path / "bare"
        shutil.copytree(folder, bare)
        (bare / "modules.json").unlink()
        Encoder(str(bare), device="cpu", pooling="model")
    enc = Encoder(
        folder, device="cpu", prompt_name="query", exclude_prompt_tokens=True, max_length=20,
        exclude_special_tokens=True,
    )  # fmt: skip
    with pytest.raises(SocmError, match="no tokens left .*special tokens, prompt tokens excluded"):
        enc.encode(TEXTS[:1])  # the prompt fills the 20 tokens but the EOS


def test_a_text_with_nothing_left_to_pool_is_refused(tiny_decoder):
    from socm.encode.pooling import pool_masks

    folder = tiny_decoder("qwen3", include_prompt=False)
    enc = Encoder(str(folder), device="cpu", prompt_name="query", pooling="model")
    tokens = {"attention_mask": [[1] * enc.policy.prompt_tokens], "ids": ["t7"]}
    with pytest.raises(SocmError, match="text t7: no tokens left for the model's pooling"):
        pool_masks(enc.policy, tokens, include_prompt=False)
    assert pool_masks(enc.policy, tokens, include_prompt=True)[0].all()


def test_cache_keys_stay_as_they_were_and_pooled_vectors_are_cached(tiny_decoder, tmp_path):
    folder = str(tiny_decoder("qwen3"))
    plain = Encoder(folder, device="cpu", cache_dir=tmp_path)
    assert set(plain.cache_config()) == {
        "model", "path", "revision", "layer", "exclude_special_tokens", "prefix",
        "max_length", "dtype",
    }  # fmt: skip
    assert plain.stats_config() == plain.cache_config()
    # a prompt whose tokens stay in is the prefix it prepends: the same cache entries
    prompt = "Instruct: retrieve\nQuery: "
    as_prompt = Encoder(folder, device="cpu", cache_dir=tmp_path, prompt=prompt)
    as_prefix = Encoder(folder, device="cpu", cache_dir=tmp_path, prefix=prompt)
    assert as_prompt.cache.dir == as_prefix.cache.dir
    excl = Encoder(
        folder, device="cpu", cache_dir=tmp_path, prompt=prompt, exclude_prompt_tokens=True
    )
    assert excl.cache.dir != as_prompt.cache.dir
    native = Encoder(folder, device="cpu", cache_dir=tmp_path, pooling="model")
    assert native.cache.dir == plain.cache.dir  # token embeddings shared
    assert native.stats_config() != native.cache_config()
    first = native.encode(TEXTS)
    again = Encoder(folder, device="cpu", cache_dir=tmp_path, pooling="model").encode(TEXTS)
    assert again.n_cached == len(TEXTS) and again.n_encoded == 0
    for p, q in zip(first.pooled, again.pooled, strict=True):
        assert np.array_equal(p, q) and p.shape == (32,)
    assert plain.encode(TEXTS).pooled is None
