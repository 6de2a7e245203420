"""Padding and batching of tokenised texts: one iterator for every forward loop.

Texts run longest first (few pad tokens per batch) and are right-padded whatever the tokenizer's
default, so every text sees positions 0..n-1 exactly as when encoded alone (left padding would
shift absolute positions). Used by :class:`socm.encode.Encoder` and by ``socm mechanism``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch

__all__ = ["MODEL_INPUTS", "iter_batches", "pad_batch", "row_mask"]

#: Tokenizer outputs that are model inputs.
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def pad_batch(tokenizer, features: list[dict]) -> dict[str, torch.Tensor]:
    """Right-pad a list of unpadded tokenizer features into tensors."""
    side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    try:
        return tokenizer.pad(features, return_tensors="pt")
    finally:
        tokenizer.padding_side = side


def iter_batches(
    tokenizer,
    tokens: dict,
    todo: Iterable[int],
    batch_size: int,
    device: torch.device | str,
) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """Yield ``(text positions, padded model inputs on device)``, longest texts first.

    Parameters
    ----------
    tokenizer
        A Hugging Face tokenizer (for padding).
    tokens : dict
        Unpadded tokenizer output for all texts (``input_ids``, ``attention_mask``, ...).
    todo : iterable of int
        Positions of the texts to run.
    batch_size : int
    device : torch.device or str
    """
    keys = [k for k in MODEL_INPUTS if k in tokens]
    order = sorted(todo, key=lambda k: -len(tokens["input_ids"][k]))
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        batch = pad_batch(tokenizer, [{k: tokens[k][i] for k in keys} for i in idx])
        yield idx, {k: v.to(device) for k, v in batch.items()}


def row_mask(attention: torch.Tensor, keep: Sequence[bool] | np.ndarray) -> np.ndarray:
    """Map a text's unpadded keep-mask onto its padded row (whatever the padding side)."""
    att = attention.cpu().numpy().astype(bool)
    mask = np.zeros(att.shape[0], dtype=bool)
    positions = np.flatnonzero(att)
    keep = np.asarray(keep, dtype=bool)
    if positions.size != keep.size:  # pragma: no cover - tokenizer.pad keeps every token
        raise RuntimeError("padding changed the number of tokens")
    mask[positions[keep]] = True
    return mask
