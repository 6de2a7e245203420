"""The inputs side of :class:`socm.encode.Encoder`: texts tokenised under its token policy,
padded into batches, and whether its model attends causally (which decides the window a token
of a long text is taken from, :mod:`socm.encode.windows`). A mixin, kept apart so that each
class stays one job."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from socm.encode.batching import iter_batches
from socm.encode.pooling import pool_masks
from socm.encode.tokens import TokenPolicy
from socm.encode.windows import attends_causally

__all__ = ["InputsMixin"]


class InputsMixin:
    """Tokenisation and batching calls of :class:`~socm.encode.Encoder`."""

    policy: TokenPolicy
    pooling: str
    embedder: Any
    tokenizer: Any
    batch_size: int
    device: torch.device
    model: Any
    _causal: bool | None = None

    def attends_causally(self) -> bool:
        """Whether the model attends causally (measured once, on the loaded model:
        :func:`socm.encode.windows.attends_causally`); decides which window a token of a long
        text is taken from."""
        if self._causal is None:
            vocab = getattr(self.model.config, "vocab_size", None) or len(self.tokenizer)
            self._causal = attends_causally(
                self.model, self.device, min(vocab, len(self.tokenizer))
            )
        return self._causal

    def tokenize(self, texts: Sequence[str]) -> dict:
        """:meth:`TokenPolicy.tokenize <socm.encode.tokens.TokenPolicy.tokenize>`."""
        return self.policy.tokenize(texts)

    def token_strings(self, text: str) -> list[str]:
        """The token strings of ``text`` kept under the policy (for labels in figures)."""
        return self.policy.token_strings(text)

    def prepare(self, texts: Sequence[str], ids: Sequence[str] | None = None) -> dict:
        """:meth:`TokenPolicy.prepare <socm.encode.tokens.TokenPolicy.prepare>`, with the
        texts' names (``ids``, default positions) for errors and, with native pooling, the
        tokens the model's pooling sees (``pool``)."""
        tokens = self.policy.prepare(texts, ids)
        tokens["ids"] = list(ids) if ids is not None else [str(k) for k in range(len(texts))]
        if self.pooling == "model":
            tokens["pool"] = pool_masks(self.policy, tokens, self.embedder.include_prompt)
        return tokens

    def batches(
        self, tokens: dict, todo: Sequence[int] | None = None
    ) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
        """Padded model inputs on this encoder's device, longest texts first
        (:func:`socm.encode.batching.iter_batches`)."""
        todo = range(len(tokens["input_ids"])) if todo is None else todo
        return iter_batches(self.tokenizer, tokens, todo, self.batch_size, self.device)
