"""Whole documents in windows: the layout covers every token once, the encoder's window mode
equals an independent per-window forward pass with per-token ownership, short texts are
unchanged, causal attention is measured, profiles add over windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import MODEL, SHARED_DATA

from socm.core.stats import spread_and_cosine
from socm.encode import Encoder
from socm.encode.windows import WINDOWS_VERSION, owned_ranges, split_windows, window_starts
from socm.errors import SocmError


@pytest.fixture(scope="module")
def documents() -> list[str]:
    """Paragraphs of the offline Wikipedia sample joined into documents of 2,000+ tokens,
    and two short texts."""
    path = SHARED_DATA / "wiki1m" / "wiki1m_head.txt"
    if not path.is_file():
        pytest.skip(f"shared data not found at {path}")
    lines = [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]
    return [" ".join(lines[0:110]), " ".join(lines[200:340]), lines[400], "Short."]


@pytest.fixture(scope="module")
def window_encoder() -> Encoder:
    return Encoder(MODEL, device="cpu", cache_dir=None, long_texts="window")


@pytest.mark.parametrize("n_content", [1, 509, 510, 511, 893, 1000, 1530, 5000])
@pytest.mark.parametrize("causal", [False, True])
def test_layout_covers_every_position_once_within_the_capacity(n_content, causal):
    capacity = 510
    starts = window_starts(n_content, capacity)
    assert starts[0] == 0 and starts == sorted(set(starts))
    assert min(starts[-1] + capacity, n_content) == n_content  # the last reaches the end
    owned = owned_ranges(starts, capacity, n_content, causal)
    covered = np.concatenate([np.arange(lo, hi) for lo, hi in owned])
    assert np.array_equal(covered, np.arange(n_content))
    overlap = capacity // 4
    for s, (lo, hi) in zip(starts, owned, strict=True):
        assert s <= lo <= hi <= s + capacity  # a window only gives tokens it holds
        if causal:  # the earliest window that holds a token gives it
            assert all(next(w for w in starts if w <= p < w + capacity) == s for p in (lo, hi - 1))
        elif len(starts) > 1:  # context on both sides, except at the document's ends
            if lo > 0:
                assert lo - s >= overlap // 2
            if hi < n_content:
                assert s + capacity - hi >= overlap // 2


def test_rows_hold_the_specials_and_at_most_max_length_tokens(window_encoder, documents):
    tok = window_encoder.tokenizer
    enc = window_encoder.tokenize(documents)
    win = split_windows(enc, 512, causal=False)
    assert [len(r) for r in win.by_text][2:] == [1, 1]
    assert len(win.by_text[0]) >= 4
    for ids in win.rows["input_ids"]:
        assert len(ids) <= 512
        assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
        assert sum(i in (tok.cls_token_id, tok.sep_token_id) for i in ids) == 2
    for t, rows in enumerate(win.by_text):
        kept = np.concatenate(
            [win.source[r][win.keep(r, np.ones(len(enc["input_ids"][t]), bool))] for r in rows]
        )
        assert np.array_equal(kept, np.arange(len(enc["input_ids"][t])))  # each token once


def _reference(model, ids: list[int], max_length: int, lead: int, trail: int, causal: bool):
    """Every token of a tokenisation (``lead`` special tokens, the content, ``trail``
    special tokens) from the window that owns it, ownership decided per token (the window
    where it is farthest from an edge, or the earliest under causal attention), each window
    run through the model alone."""
    head, content, tail = ids[:lead], ids[lead : len(ids) - trail], ids[len(ids) - trail :]
    cap = max_length - lead - trail
    starts = window_starts(len(content), cap)
    with torch.inference_mode():
        outs = [
            model(input_ids=torch.tensor([head + content[s : s + cap] + tail]))
            .last_hidden_state[0]
            .float()
            .numpy()
            for s in starts
        ]
    rows = list(outs[0][:lead])
    for p in range(len(content)):
        holding = [w for w, s in enumerate(starts) if s <= p < s + cap]
        if causal:
            w = holding[0]
        else:
            # max keeps the first of equals: a tie goes to the earlier window
            w = max(holding, key=lambda w: min(p - starts[w], starts[w] + cap - 1 - p))
        rows.append(outs[w][lead + p - starts[w]])
    rows += list(outs[-1][len(outs[-1]) - trail :])
    return np.stack(rows)


@pytest.mark.parametrize(("prefix", "batch_size"), [("", 32), ("query: ", 3)])
def test_window_mode_equals_a_per_window_reference(window_encoder, documents, prefix, batch_size):
    """Batches of 3 rows split a document's windows across forward passes; a prefix opens
    every window ([CLS] query : ...), its tokens kept from the first."""
    enc = window_encoder
    if (prefix, batch_size) != ("", 32):
        enc = Encoder(
            MODEL, device="cpu", cache_dir=None, long_texts="window", prefix=prefix,
            batch_size=batch_size,
        )  # fmt: skip
    res = enc.encode(documents[:2])
    lead = len(enc.tokenizer(prefix)["input_ids"]) - 1  # [CLS] and the prefix's own tokens
    for k, text in enumerate(documents[:2]):
        ids = enc.tokenizer(prefix + text)["input_ids"]
        assert len(ids) > 2000 and res.n_tokens[k] == len(ids)
        cap = 512 - lead - 1
        assert not res.truncated[k] and res.n_windows[k] == len(
            window_starts(len(ids) - lead - 1, cap)
        )
        want = _reference(enc.model, ids, 512, lead, 1, causal=False)
        got = res.embeddings[k]
        assert got.shape == want.shape
        # float32 forward passes of the same inputs, batched differently
        np.testing.assert_allclose(got, want, atol=2e-5, rtol=0)


def test_short_texts_and_first_windows_equal_truncate_mode(window_encoder, documents):
    cut = Encoder(MODEL, device="cpu", cache_dir=None).encode(documents)
    whole = window_encoder.encode(documents)
    assert cut.truncated == [True, True, False, False] and whole.n_truncated == 0
    assert whole.n_windows[2:] == [1, 1]
    for k in (2, 3):
        np.testing.assert_array_equal(whole.embeddings[k], cut.embeddings[k])
    for k in (0, 1):  # the first window is the truncated input; it gives its first tokens
        np.testing.assert_allclose(whole.embeddings[k][:300], cut.embeddings[k][:300], atol=2e-5)
    key = window_encoder.cache_config()
    assert key["long_texts"] == "window" and key["windows_version"] == WINDOWS_VERSION
    plain = Encoder(MODEL, device="cpu", cache_dir=None).cache_config()
    assert "long_texts" not in plain and "windows_version" not in plain


def test_profiles_add_over_windows(window_encoder, documents):
    """The per-layer profile of a windowed text (summed over its windows) equals the profile
    of its assembled tokens at every layer."""
    texts = documents[:1] + documents[2:3]
    profiles = window_encoder.layer_profiles(texts).profiles
    layers = window_encoder.encode_all_layers(texts)
    for k in range(len(texts)):
        for layer, embs in enumerate(layers):
            h = torch.from_numpy(embs[k].astype(np.float64))[None]
            spread, cos = spread_and_cosine(h, torch.ones(h.shape[:2], dtype=torch.bool))
            np.testing.assert_allclose(profiles[k, layer], [spread[0], cos[0]], rtol=1e-5)


@pytest.mark.parametrize(("arch", "options"), [("qwen3", {}), ("llama", {"batch_size": 2})])
def test_causal_attention_is_measured_and_takes_the_earliest_window(
    tiny_decoder, window_encoder, arch, options
):
    """A decoder without special tokens (qwen3 here) and one with a BOS (llama), the second
    in batches of 2 windows."""
    assert window_encoder.attends_causally() is False
    folder = tiny_decoder(arch)
    dec = Encoder(
        str(folder), device="cpu", cache_dir=None, max_length=16, long_texts="window", **options
    )
    assert dec.attends_causally() is True
    text = " ".join(f"word{k}" for k in range(40))
    res = dec.encode([text])
    ids = dec.tokenizer(text)["input_ids"]
    assert res.n_tokens[0] == len(ids) and res.n_windows[0] > 2
    special = set(dec.tokenizer.all_special_ids)
    lead, trail = int(ids[0] in special), int(ids[-1] in special)
    assert lead == (arch == "llama")
    want = _reference(dec.model, ids, 16, lead, trail, causal=True)
    np.testing.assert_allclose(res.embeddings[0], want, atol=2e-5)


def test_window_mode_is_refused_where_one_input_per_text_is_needed(tiny_decoder):
    folder = tiny_decoder("qwen3")
    with pytest.raises(SocmError, match="drop --long-texts window"):
        Encoder(str(folder), device="cpu", cache_dir=None, pooling="model", long_texts="window")
    with pytest.raises(SocmError, match="leave no room for text in a window of 16 tokens"):
        Encoder(
            MODEL, device="cpu", cache_dir=None, max_length=16, long_texts="window",
            prefix="a very long instruction that fills every window: " * 3,
        )  # fmt: skip
    with pytest.raises(SocmError, match="--long-texts must be truncate or window"):
        Encoder(MODEL, device="cpu", cache_dir=None, long_texts="slide")
