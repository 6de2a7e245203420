"""``socm layers``: token concentration per layer (an analysis stage).

For each text and each hidden state (0 = embedding output, 1..L = transformer layers), under the
same token policy as ``socm measure``:

* the normalised spread :math:`S(X)/\\lVert\\mu(X)\\rVert^2 = \\operatorname{tr}\\Sigma(\\tilde X)`,
* the average within-text cosine similarity over all :math:`n \\times n` token pairs, the diagonal
  included (:func:`socm.core.stats.spread_and_cosine`),
* optionally the average SOCM, d_μ and d_Σ over the corpus's pairs at that layer, each with its
  confidence interval (:class:`socm.core.uncertainty.PairAccumulator`, as ``socm measure``
  computes the run's).

Hara et al. (2026, Sec. 5) show that fine-tuned encoders concentrate their tokens layer by layer
(small normalised spread, high average cosine) and that a small spread for both texts bounds
SOCM. One forward pass with all hidden states serves every layer; per-text profiles are cached,
and ``socm measure`` fills that cache as it encodes, so ``layers`` after ``measure`` on the same
texts does not re-encode.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from socm.core.pairs import pairwise
from socm.core.stats import SPREAD_BOUND, token_stats_many
from socm.core.uncertainty import PairAccumulator
from socm.encode.models import engine_device
from socm.errors import SocmError
from socm.measure.config import MeasureConfig
from socm.measure.rundir import per_layer_table, versions
from socm.measure.select import prepare
from socm.measure.writer import write_per_layer

__all__ = ["format_layer_table", "run_layers", "summarize_layers"]


def summarize_layers(values: np.ndarray) -> list[dict]:
    """Per-layer mean and median of a ``(n_texts, L + 1, 2)`` profile array."""
    out = []
    for layer in range(values.shape[1]):
        spread, cos = values[:, layer, 0], values[:, layer, 1]
        out.append(
            {
                "layer": layer,
                "n_texts": int(values.shape[0]),
                "normalized_spread_mean": float(spread.mean()),
                "normalized_spread_median": float(np.median(spread)),
                "avg_cos_mean": float(cos.mean()),
                "avg_cos_median": float(np.median(cos)),
                "share_spread_over_2": float((spread > SPREAD_BOUND).mean()),
            }
        )
    return out


def run_layers(cfg: MeasureConfig, per_layer_socm: bool = False) -> tuple[list[dict], Path]:
    """Compute the per-layer table and summary; write them to the run folder.

    Writes ``layers.parquet`` (text_id, layer, normalized_spread, avg_cos), ``layers_summary.json``
    (one record per layer) and ``layers_info.json`` (settings, timings, versions).
    Returns (summary records, folder).
    """
    t0 = time.perf_counter()
    if cfg.pooling != "mean":
        raise SocmError("socm layers measures mean pooling at every layer: drop pooling='model'")
    job = prepare(cfg, "layers", layer=None)
    chosen, pairs, enc = job.texts, job.pairs, job.encoder
    prof = enc.layer_profiles(chosen.texts, chosen.ids, progress=cfg.progress)
    values = prof.profiles  # (n_texts, L + 1, 2)
    records = summarize_layers(values)
    socm_seconds = 0.0
    if per_layer_socm:
        t1 = time.perf_counter()
        per_layer = enc.encode_all_layers(chosen.texts, chosen.ids, progress=cfg.progress)
        for layer, embs in enumerate(per_layer):
            res = pairwise(
                token_stats_many(embs),
                pairs=pairs,
                numerics=cfg.numerics,
                device=engine_device(enc.device),
            )
            records[layer].update(_layer_averages(res, chosen, pairs, cfg.pairs_file is not None))
        socm_seconds = time.perf_counter() - t1
    table = per_layer_table(
        chosen.ids,
        np.arange(values.shape[1]),
        {"normalized_spread": values[:, :, 0], "avg_cos": values[:, :, 1]},
    )
    write_per_layer(
        job.writer,
        "layers",
        table,
        records,
        {
            "model": cfg.model,
            "revision": enc.resolved.revision,
            "corpus": chosen.name,
            "n_texts": len(chosen),
            "seed": cfg.seed,
            "token_policy": enc.token_policy(),
            "per_layer_socm": per_layer_socm,
            "numerics": cfg.numerics if per_layer_socm else None,
            "timings": {
                "profiles_s": round(prof.seconds, 3),
                "socm_s": round(socm_seconds, 3),
                "total_s": round(time.perf_counter() - t0, 3),
                "n_encoded": prof.n_encoded,
                "n_cached": prof.n_cached,
            },
            "versions": versions(),
        },
    )
    return records, job.out


def _layer_averages(res: object, chosen: object, pairs: object, listed: bool) -> dict:
    """One layer's averages with their intervals, as ``socm measure`` computes a run's (all,
    sampled or listed pairs)."""
    acc = PairAccumulator(len(chosen))
    acc.add(res)
    if listed:
        n_listed = int(chosen.info.get("n_listed_pairs", len(pairs)))
        out = acc.result(n_listed=n_listed)
    else:
        out = acc.result(n_population=chosen.info.get("n_population"))
    keep = [f"avg_{m}" for m in ("socm", "d_mu", "d_sigma")]
    keep += [f"{k}_ci95" for k in keep] + ["ci_level", "n_pairs", "pairs_possible"]
    return {k: out.get(k) for k in keep}


def format_layer_table(records: list[dict]) -> str:
    """A small text table of per-layer records."""
    has_socm = "avg_socm" in records[0]
    head = f"{'layer':>5}  {'spread mean':>11}  {'spread med':>10}  {'cos mean':>8}  {'cos med':>7}"
    if has_socm:
        head += f"  {'avg SOCM':>8}"
    lines = [head]
    for r in records:
        line = (
            f"{r['layer']:>5}  {r['normalized_spread_mean']:>11.4f}  "
            f"{r['normalized_spread_median']:>10.4f}  {r['avg_cos_mean']:>8.4f}  "
            f"{r['avg_cos_median']:>7.4f}"
        )
        if has_socm:
            line += f"  {r['avg_socm']:>8.5f}"
        lines.append(line)
    return "\n".join(lines)
