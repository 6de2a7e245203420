"""``socm pair``: one pair of texts explained, for one or two models.

For each model: both texts' unit-mean token embeddings (what :func:`socm.output.pair_figure`
projects to 2-D), their token strings, d_μ, d_Σ, SOCM and each text's normalised spread.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from socm.core.metrics import d_mu, d_sigma, socm
from socm.core.stats import token_stats
from socm.encode.encoder import Encoder
from socm.errors import SocmError
from socm.measure.config import DEFAULT_MODEL, MeasureConfig, make_encoder

__all__ = ["explain_pair", "pair_numbers", "pair_panel"]


def pair_panel(encoder: Encoder, text_a: str, text_b: str, numerics: str = "exact") -> dict:
    """Everything :func:`socm.output.pair_figure` draws for one model, and the numbers."""
    encoded = encoder.encode([text_a, text_b])
    emb = encoded.embeddings
    stats = [token_stats(e) for e in emb]
    unit = [
        np.asarray(e, dtype=np.float64) / st.mean_norm for e, st in zip(emb, stats, strict=True)
    ]
    return {
        "model": encoder.resolved.name,
        "texts": (text_a, text_b),
        "tokens": unit,
        "labels": [encoder.token_strings(text_a), encoder.token_strings(text_b)],
        "d_mu": d_mu(*stats),
        "d_sigma": d_sigma(*stats, numerics=numerics),
        "socm": socm(*stats, numerics=numerics),
        "normalized_spread": [st.trace for st in stats],
        "truncated": list(encoded.truncated),
        "max_length": encoder.max_length,
    }


def explain_pair(
    text_a: str, text_b: str, models: list[str] | None, base: MeasureConfig
) -> list[dict]:
    """One :func:`pair_panel` per model (one or two), each encoder built from ``base``'s
    options (token policy, device, ...; no cache).

    Raises
    ------
    SocmError
        More than two models, or an empty text.
    """
    models = models or [DEFAULT_MODEL]
    if len(models) > 2:
        raise SocmError("socm pair draws one or two models side by side")
    if not text_a.strip() or not text_b.strip():
        raise SocmError("both texts must be non-empty")
    return [
        pair_panel(
            make_encoder(replace(base, model=m, no_cache=True)), text_a, text_b, base.numerics
        )
        for m in models
    ]


def pair_numbers(panel: dict) -> dict:
    """The printable numbers of a panel (no token arrays)."""
    return {
        "model": panel["model"],
        "d_mu": panel["d_mu"],
        "d_sigma": panel["d_sigma"],
        "socm": panel["socm"],
        "normalized_spread": panel["normalized_spread"],
        "n_tokens": [len(t) for t in panel["tokens"]],
        "truncated": panel["truncated"],
    }
