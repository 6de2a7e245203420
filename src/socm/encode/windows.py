r"""Whole documents: texts longer than the model's limit encoded in overlapping windows.

``long_texts="truncate"`` (the default, the paper's protocol) cuts a text at the model's maximum
length L. ``long_texts="window"`` encodes a longer text in windows and keeps every token's
embedding once, so its statistics cover all its tokens.

Layout. A text's full tokenisation is ``lead + content + trail``: ``lead`` the special tokens
the tokenizer puts before the text ([CLS], <s>, BOS; none for some decoders), ``trail`` those
after it ([SEP], </s>, EOS). Each window is a model input of at most L tokens,
``lead + content[s_w : s_w + C] + trail`` with content capacity :math:`C = L - |lead| -
|trail|` (every window sees the special tokens the model expects around a text). Windows start
at :math:`s_w = wS` with stride :math:`S = C - O` and overlap :math:`O = \lfloor C/4
\rfloor` (:func:`window_starts`), the last one moved back to end at the content's end; e.g.
all-MiniLM-L6-v2 (L = 512, C = 510): O = 127, S = 383. A prompt and a prefix open every window
too: ``lead`` is then the leading special tokens and the prompt and prefix, as many tokens as
sentence-transformers counts for a prompt (:func:`~socm.encode.pooling.prompt_length` of
``prompt + prefix``), so every token is embedded under the same instruction.

Which window a token's embedding comes from (:func:`owned_ranges`) is chosen so that it saw the
most context:

* bidirectional attention (BERT, MPNet, ...): the window in which the token is farthest from
  an edge (a tie goes to the earlier window); the overlap is split at its middle, so every
  token has at least :math:`\lfloor O/2 \rfloor` content tokens of context on both sides,
  except at the document's own ends;
* causal attention (decoders): the earliest window that holds it, where it has the most left
  context (a causal token never sees the right).

Which attention a model uses is measured, not assumed (:func:`attends_causally`: changing the
last token of a short input leaves the others' hidden states unchanged under causal attention
only). The lead's special tokens are kept from the first window, the trail's from the last (the
copies in the other windows are not kept), so a text within the limit is one window equal to
its truncate-mode input, and every token of the full tokenisation is kept exactly once under the
token policy (:class:`~socm.encode.tokens.TokenPolicy`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "LONG_TEXT_CHOICES",
    "WINDOWS_VERSION",
    "Windows",
    "attends_causally",
    "n_windows",
    "owned_ranges",
    "split_windows",
    "window_starts",
]

#: What happens to a text longer than the model's limit.
LONG_TEXT_CHOICES: tuple[str, ...] = ("truncate", "window")
#: Version of the window layout and ownership rule above, part of a windowed text's cache key
#: (a cache made under another layout is not read as this one's tokens).
WINDOWS_VERSION = 1


def window_starts(n_content: int, capacity: int) -> list[int]:
    """Start of each window's content slice (layout in the module docstring).

    Examples
    --------
    >>> window_starts(500, 510)
    [0]
    >>> window_starts(1000, 510)
    [0, 383, 490]
    """
    if capacity < 1:
        raise ValueError("a window needs room for at least one content token")
    if n_content <= capacity:
        return [0]
    stride = capacity - capacity // 4
    return [*range(0, n_content - capacity, stride), n_content - capacity]


def n_windows(special: Sequence[int], max_length: int, lead_min: int = 0) -> int:
    """Number of windows of a text, from its full tokenisation's special-tokens mask
    (``lead_min``: the tokens of a prompt and prefix that open every window)."""
    return len(_layout(special, max_length, lead_min)[3])


def owned_ranges(
    starts: Sequence[int], capacity: int, n_content: int, causal: bool
) -> list[tuple[int, int]]:
    """Content positions ``[lo, hi)`` whose embeddings each window contributes: contiguous,
    in order, covering ``0..n_content`` once (the rules in the module docstring).

    Examples
    --------
    >>> owned_ranges([0, 383, 490], 510, 1000, causal=False)
    [(0, 447), (447, 692), (692, 1000)]
    >>> owned_ranges([0, 383, 490], 510, 1000, causal=True)
    [(0, 510), (510, 893), (893, 1000)]
    """
    ends = [min(s + capacity, n_content) for s in starts]
    cuts = [0]
    for w in range(len(starts) - 1):
        # farthest from an edge: p stays in w while ends[w] - 1 - p >= p - starts[w + 1]
        cuts.append(ends[w] if causal else (starts[w + 1] + ends[w] - 1) // 2 + 1)
    cuts.append(n_content)
    return [(cuts[w], cuts[w + 1]) for w in range(len(starts))]


class Windows:
    """The model inputs of a batch of texts, one row per window, and which text positions each
    row's tokens stand for.

    Attributes
    ----------
    rows : dict
        Unpadded model inputs (``input_ids``, ``attention_mask``, ``token_type_ids`` where the
        tokenizer gives them), one entry per window.
    text : list of int
        The text of each row.
    source : list of numpy.ndarray
        Per row, each of its tokens' position in its text's full tokenisation.
    first_owned, last_owned : list of int
        Per row, the range ``[first, last)`` of its text's positions it contributes
        (:meth:`keep` intersects it with the policy's mask).
    by_text : list of list of int
        Each text's rows, in order.
    """

    def __init__(self) -> None:
        self.rows: dict[str, list] = {}
        self.text: list[int] = []
        self.source: list[np.ndarray] = []
        self.first_owned: list[int] = []
        self.last_owned: list[int] = []
        self.by_text: list[list[int]] = []

    def keep(self, row: int, text_keep: np.ndarray) -> np.ndarray:
        """The row's tokens that count: those it contributes that the policy keeps."""
        src = self.source[row]
        own = (src >= self.first_owned[row]) & (src < self.last_owned[row])
        return own & text_keep[src]


def _layout(
    special: Sequence[int], max_length: int, lead_min: int = 0
) -> tuple[int, int, int, list[int]]:
    """(lead, trail, capacity, window starts) of a text from its full tokenisation's
    special-tokens mask: one window ``[0]`` (lead and trail 0) within ``max_length``; the lead
    is at least ``lead_min`` tokens (a prompt and prefix)."""
    special = np.asarray(special, dtype=bool)
    n = len(special)
    if n <= max_length:
        return 0, 0, n, [0]
    lead = max(int(np.argmin(special)) if not special.all() else n, lead_min)
    trail = int(np.argmin(special[::-1])) if not special.all() else 0
    capacity = max_length - lead - trail
    return lead, trail, capacity, window_starts(n - lead - trail, capacity)


def split_windows(enc: dict, max_length: int, causal: bool, lead_min: int = 0) -> Windows:
    """One row per window of every text of a full (untruncated) tokenisation ``enc``
    (``input_ids``, ``attention_mask``, ``special_tokens_mask``; ``token_type_ids`` copied
    where present), laid out and owned as in the module docstring; ``lead_min``: the tokens of
    a prompt and prefix, which open every window."""
    out = Windows()
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    out.rows = {k: [] for k in keys}
    for t, ids in enumerate(enc["input_ids"]):
        n = len(ids)
        rows_of_text = []
        lead, trail, capacity, starts = _layout(enc["special_tokens_mask"][t], max_length, lead_min)
        if len(starts) == 1:  # one window: the text's own inputs, as they are
            pieces = [(None, 0, n)]
        else:
            n_content = n - lead - trail
            owned = owned_ranges(starts, capacity, n_content, causal)
            head, tail = np.arange(lead), np.arange(n - trail, n)
            pieces = []
            for w, (s, (lo, hi)) in enumerate(zip(starts, owned, strict=True)):
                body = lead + np.arange(s, min(s + capacity, n_content))
                first = 0 if w == 0 else lead + lo
                last = n if w == len(starts) - 1 else lead + hi
                pieces.append((np.concatenate([head, body, tail]), first, last))
        for src, first, last in pieces:
            rows_of_text.append(len(out.text))
            out.text.append(t)
            out.source.append(np.arange(n) if src is None else src)
            out.first_owned.append(first)
            out.last_owned.append(last)
            for k in keys:
                whole = enc[k][t]
                out.rows[k].append(whole if src is None else np.asarray(whole)[src].tolist())
        out.by_text.append(rows_of_text)
    return out


def attends_causally(model: Any, device: Any, vocab_size: int) -> bool:
    """Whether ``model`` attends causally: the hidden states of the first 7 tokens of an
    8-token input are unchanged (to 1e-5 relative) when only its last token changes, which
    holds under causal attention and, with random or trained weights, not under
    bidirectional attention."""
    import torch

    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, max(6, vocab_size - 1), (1, 8), generator=gen)
    other = ids.clone()
    other[0, -1] = (ids[0, -1] + 1) % vocab_size
    batch = torch.cat([ids, other]).to(device)
    with torch.inference_mode():
        out = model(input_ids=batch, attention_mask=torch.ones_like(batch))
        hidden = (out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]).float()
    a, b = hidden[0, :-1], hidden[1, :-1]
    return bool(torch.allclose(a, b, rtol=1e-5, atol=1e-5 * float(a.abs().max())))
