"""``summary.json`` of a measure run: what it holds and how it is printed."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from socm.core.pairs import PairResult
from socm.core.stats import SPREAD_BOUND
from socm.encode.encoder import Encoder, EncodeResult
from socm.inputs.corpus import Corpus
from socm.measure.config import MeasureConfig
from socm.measure.rundir import versions

__all__ = ["build_summary", "by_label", "format_summary"]


def build_summary(
    cfg: MeasureConfig,
    enc: Encoder,
    encoded: EncodeResult,
    chosen: Corpus,
    res: PairResult,
    spreads: np.ndarray,
    timings: dict,
    pairs_mode: str,
) -> dict:
    """The run's ``summary.json``: settings, averages, SOCM quantiles, counts, versions."""
    s = res.summary()
    q = {
        "0.1": s.pop("socm_q10"),
        "0.5": s.pop("socm_q50"),
        "0.9": s.pop("socm_q90"),
        "0.99": s.pop("socm_q99"),
    }
    return {
        "model": cfg.model,
        "model_path": enc.resolved.path,
        "model_source": enc.resolved.source,
        "revision": enc.resolved.revision,
        "corpus": chosen.name,
        "corpus_source": chosen.info.get("source"),
        "unit": chosen.info.get("unit"),
        "n_texts": len(chosen),
        "n_pairs": len(res),
        "pairs": pairs_mode,
        "seed": cfg.seed,
        "numerics": cfg.numerics,
        "layer": "last" if cfg.layer is None else cfg.layer,
        "token_policy": enc.token_policy(),
        "n_truncated": encoded.n_truncated,
        "n_dropped_empty": chosen.n_dropped,
        "avg_socm": s["avg_socm"],
        "avg_d_mu": s["avg_d_mu"],
        "avg_d_sigma": s["avg_d_sigma"],
        "socm_quantiles": q,
        "avg_normalized_spread": float(spreads.mean()),
        "share_spread_over_2": float((spreads > SPREAD_BOUND).mean()),
        "n_d_sigma_over_1": s["n_d_sigma_over_1"],
        "timings": timings,
        "device": str(enc.device),
        "versions": versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def by_label(res: PairResult, labels: list[str | None]) -> dict:
    """Averages per pair label (``"(none)"`` for unlabelled pairs)."""
    lab = np.array(["" if x is None else x for x in labels], dtype=object)
    out = {}
    for name in dict.fromkeys(lab.tolist()):
        sel = lab == name
        out[name or "(none)"] = {
            "n_pairs": int(sel.sum()),
            "avg_socm": float(res.socm[sel].mean()),
            "avg_d_mu": float(res.d_mu[sel].mean()),
            "avg_d_sigma": float(res.d_sigma[sel].mean()),
        }
    return out


def format_summary(summary: dict, out: Path) -> str:
    """A short human-readable table of a run."""
    q = summary["socm_quantiles"]
    rows = [
        ("model", summary["model"]),
        (
            "corpus",
            f"{summary['corpus']} ({summary['n_texts']} texts, {summary['n_pairs']:,} "
            f"{summary['pairs']} pairs)",
        ),
        ("numerics", summary["numerics"]),
        ("avg SOCM", f"{summary['avg_socm']:.5f}"),
        ("avg d_mu", f"{summary['avg_d_mu']:.5f}"),
        ("avg d_sigma", f"{summary['avg_d_sigma']:.5f}"),
        ("SOCM q10/q50/q90/q99", "/".join(f"{q[k]:.4f}" for k in ("0.1", "0.5", "0.9", "0.99"))),
        ("avg normalized spread", f"{summary['avg_normalized_spread']:.4f}"),
        ("texts with spread > 2", f"{summary['share_spread_over_2']:.1%}"),
        ("pairs with d_sigma > 1", f"{summary['n_d_sigma_over_1']:,}"),
        ("truncated texts", str(summary["n_truncated"])),
        (
            "time encode/pairs/total",
            "/".join(f"{summary['timings'][k]:.1f}s" for k in ("encode_s", "pairs_s", "total_s"))
            + f" ({summary['timings']['n_cached']} texts from cache)",
        ),
        ("output", str(out)),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
