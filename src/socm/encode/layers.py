"""Per-layer encoding: profiles of every hidden state, and every layer's token embeddings.

A mixin of :class:`socm.encode.Encoder` (it uses the encoder's token policy, caches and forward
pass), kept apart so that each class stays one job.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from socm.encode.cache import EmbeddingCache
from socm.encode.forward import Outputs, run_forward

__all__ = ["LayerProfiles", "PerLayerMixin"]


@dataclass
class LayerProfiles:
    """Per-layer profiles of a list of texts (:meth:`Encoder.layer_profiles`).

    Attributes
    ----------
    profiles : numpy.ndarray, shape (n_texts, L + 1, 2)
        Column 0 the normalised spread, column 1 the average within-text cosine; row ``l``
        hidden state ``l`` (0 = embedding output).
    n_cached, n_encoded : int
    seconds : float
    """

    profiles: np.ndarray
    n_cached: int = 0
    n_encoded: int = 0
    seconds: float = 0.0


class PerLayerMixin:
    """Per-layer calls of :class:`~socm.encode.Encoder`."""

    def layer_profiles(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, progress: bool = False
    ) -> LayerProfiles:
        """Per-layer normalised spread and average cosine of every text, cached per text.

        Under the encoder's token policy (:func:`socm.core.stats.spread_and_cosine`); see
        :class:`LayerProfiles` for the layout.
        """
        if len(texts) == 0:
            return LayerProfiles(profiles=np.empty((0, self.hidden_state_count(), 2)))
        t0 = time.perf_counter()
        tokens = self.prepare(texts, ids)
        out = (
            self.profile_cache.get_many(tokens["keys"])
            if self.profile_cache
            else [None] * len(texts)
        )
        todo = [k for k, e in enumerate(out) if e is None]
        self.load_if_needed(todo)
        run_forward(self, tokens, todo, Outputs(profiles=out), progress)
        return LayerProfiles(
            profiles=np.stack(out),
            n_cached=len(texts) - len(todo),
            n_encoded=len(todo),
            seconds=time.perf_counter() - t0,
        )

    def encode_all_layers(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, progress: bool = False
    ) -> list[list[np.ndarray]]:
        """Token embeddings of every hidden state: ``result[l][k]`` for layer ``l``, text ``k``.

        Uses (and fills) the per-layer caches, the same entries an encoder with ``layer=l``
        reads, so that one forward pass serves every layer.
        """
        tokens = self.prepare(texts, ids)
        caches = [self.layer_cache(layer) for layer in range(self.hidden_state_count())]
        per_layer = [self.cached_embeddings(c, tokens) for c in caches]
        todo = [k for k in range(len(texts)) if any(pl[k] is None for pl in per_layer)]
        self.load_if_needed(todo)
        run_forward(self, tokens, todo, Outputs(layers=per_layer, layer_caches=caches), progress)
        return per_layer  # type: ignore[return-value]

    def hidden_state_count(self) -> int:
        """Number of hidden states L + 1 (embedding output and L layers)."""
        if self.n_hidden_states:
            return self.n_hidden_states
        n = getattr(self.config, "num_hidden_layers", None)
        if n is None:  # count them on a one-token forward pass
            _, batch = next(self.batches(self.tokenize(["x"])))
            with torch.inference_mode():
                self.forward(batch)
            return int(self.n_hidden_states)
        return int(n) + 1

    def layer_cache(self, layer: int) -> EmbeddingCache | None:
        """The cache of hidden state ``layer`` (the one an encoder with ``layer=l`` uses)."""
        if self.cache_root is None:
            return None
        return EmbeddingCache(self.cache_root, {**self.cache_config(), "layer": layer})
