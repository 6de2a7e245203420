"""``summary.json`` of a measure run: what it holds and how it is printed."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from socm.core.schema import PairSchema, averaged_names, current_schema
from socm.core.stats import SPREAD_BOUND
from socm.encode.encoder import Encoder, EncodeResult
from socm.inputs.corpus import Corpus
from socm.measure.config import MeasureConfig
from socm.measure.rundir import versions

__all__ = [
    "average_keys",
    "build_summary",
    "format_summary",
    "is_sample",
    "pairs_words",
    "pooling_fields",
    "sink_fields",
    "window_fields",
    "with_ci",
]

#: A text whose top token holds more than this share of its spread is dominated by one token.
TOP_TOKEN_MAJORITY = 0.5


#: Keys of :meth:`socm.core.uncertainty.PairAccumulator.result` copied into summary.json
#: besides each averaged column's average, interval and standard error.
_STAT_KEYS = (
    "ci_level",
    "ci_method",
    "ci_note",
    "n_population",
    "pairs_possible",
    "socm_quantiles_exact",
    "socm_quantile_abs_error",
)


def average_keys(schema: PairSchema | None = None) -> list[str]:
    """The keys of the pair averages in ``summary.json``: every averaged column's
    ``avg_<name>``, then ``avg_<name>_ci95`` and ``avg_<name>_se`` of those with an interval
    (:mod:`socm.core.schema`)."""
    cols = {c.name: c for c in (current_schema() if schema is None else schema)}
    names = averaged_names(tuple(cols.values()))
    with_ci = [n for n in names if cols[n].interval]
    return (
        [f"avg_{n}" for n in names]
        + [f"avg_{n}_ci95" for n in with_ci]
        + [f"avg_{n}_se" for n in with_ci]
    )


def pooling_fields(cfg: MeasureConfig, enc: Encoder) -> dict:
    """How the model pools and which SOCM the run computed: ``pooling`` (``mean``, the
    paper's, or ``model``: the native-pooling variant), ``variant`` (in words),
    ``model_pooling`` (what the model's files declare), ``pooling_note`` (the line printed
    when the model does not pool by the mean) and ``forward_dtype``."""
    info = enc.embedder
    if cfg.pooling == "model":
        variant = (
            f"native pooling: d_mu from the model's own pooled embedding ({info.phrase()}), "
            "d_sigma from the token covariances (an extension beyond the paper)"
        )
    else:
        variant = "mean pooling (the paper's SOCM)"
    return {
        "pooling": cfg.pooling,
        "variant": variant,
        "model_pooling": info.as_dict(),
        "pooling_note": info.notice() if cfg.pooling == "mean" else None,
        "forward_dtype": enc.forward_dtype,
    }


def sink_fields(shares: np.ndarray | None) -> dict:
    """``top_token_share_median`` (over texts with a spread) and ``share_top_token_over_half``
    (the share of texts one token dominates: more than half of its spread)."""
    if shares is None or not len(shares):
        return {"top_token_share_median": None, "share_top_token_over_half": None}
    shares = np.asarray(shares, dtype=np.float64)
    known = shares[np.isfinite(shares)]
    return {
        "top_token_share_median": float(np.median(known)) if len(known) else None,
        "share_top_token_over_half": float(np.mean(known > TOP_TOKEN_MAJORITY))
        if len(known)
        else None,
    }


def build_summary(
    cfg: MeasureConfig,
    enc: Encoder,
    encoded: EncodeResult,
    chosen: Corpus,
    s: dict,
    spreads: np.ndarray,
    timings: dict,
    pairs_mode: str,
    schema: PairSchema | None = None,
    shares: np.ndarray | None = None,
) -> dict:
    """The run's ``summary.json``: settings, averages with confidence intervals, SOCM
    quantiles, counts, how the model pools (:func:`pooling_fields`), the top token's share
    of the spread (:func:`sink_fields`, from ``shares``), versions; ``s`` is
    :meth:`PairAccumulator.result <socm.core.uncertainty.PairAccumulator.result>` of the
    scored pairs."""
    q = {"0.1": s["socm_q10"], "0.5": s["socm_q50"], "0.9": s["socm_q90"], "0.99": s["socm_q99"]}
    return {
        "model": cfg.model,
        "model_path": enc.resolved.path,
        "model_source": enc.resolved.source,
        "revision": enc.resolved.revision,
        "corpus": chosen.name,
        "corpus_source": chosen.info.get("source"),
        "unit": chosen.info.get("unit"),
        "n_texts": len(chosen),
        "n_pairs": s["n_pairs"],
        "pairs": pairs_mode,
        "seed": cfg.seed,
        "numerics": cfg.numerics,
        "layer": "last" if cfg.layer is None else cfg.layer,
        "token_policy": enc.token_policy(),
        **pooling_fields(cfg, enc),
        "n_truncated": encoded.n_truncated,
        **window_fields(enc, encoded),
        "n_dropped_empty": chosen.n_dropped,
        **{k: s.get(k) for k in average_keys(schema)},
        **{k: s.get(k) for k in _STAT_KEYS},
        "socm_quantiles": q,
        "avg_normalized_spread": float(spreads.mean()),
        "share_spread_over_2": float((spreads > SPREAD_BOUND).mean()),
        "n_d_sigma_over_1": s["n_d_sigma_over_1"],
        **sink_fields(shares),
        "timings": timings,
        "device": str(enc.device),
        "versions": versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def window_fields(enc: Encoder, encoded: EncodeResult) -> dict:
    """With ``long_texts="window"``: ``n_windowed`` (texts encoded in more than one window)
    and ``max_windows``; nothing otherwise, so other runs' summaries stay as they were."""
    if enc.policy.long_texts != "window":
        return {}
    windows = list(encoded.n_windows) or [1]
    return {"n_windowed": sum(w > 1 for w in windows), "max_windows": max(windows)}


def _possible(summary: dict) -> int | None:
    """The pairs the run's pairs were drawn from: ``pairs_possible`` (written since intervals
    were), else all pairs of the texts for a run of all or sampled pairs (None: unknown)."""
    possible = summary.get("pairs_possible")
    if isinstance(possible, int | float) and not isinstance(possible, bool):
        return int(possible)
    n = summary.get("n_texts")
    if summary.get("pairs") in ("all", "sampled", None) and isinstance(n, int):
        return n * (n - 1) // 2
    return None


def is_sample(summary: dict) -> bool:
    """Whether a run scored a sample of its pairs (fewer than the pairs it drew them from), so
    that its largest SOCM is the sample's, not the corpus's.

    Examples
    --------
    >>> is_sample({"n_pairs": 10, "pairs": "sampled", "n_texts": 100})
    True
    >>> is_sample({"n_pairs": 4950, "pairs": "all", "n_texts": 100})
    False
    """
    possible = _possible(summary)
    return summary.get("pairs") == "sampled" or (
        possible is not None and int(summary.get("n_pairs") or 0) < possible
    )


def pairs_words(summary: dict) -> str:
    """What a run's pairs are, in words that state only its counts.

    Parameters
    ----------
    summary : dict
        A run's ``summary.json`` (``n_pairs``, ``pairs``, ``pairs_possible``, ``n_texts``).

    Returns
    -------
    str
        ``"all 79,800 pairs"``, ``"200,000 sampled of 12,497,500 pairs"``, ``"5,000 listed
        pairs"`` or ``"1,000 sampled of 5,000 listed pairs"``.

    Examples
    --------
    >>> pairs_words({"n_pairs": 200000, "pairs": "sampled", "n_texts": 5000})
    '200,000 sampled of 12,497,500 pairs'
    >>> pairs_words({"n_pairs": 4950, "pairs": "all", "n_texts": 100})
    'all 4,950 pairs'
    >>> pairs_words({"n_pairs": 50, "pairs": "listed", "pairs_possible": 80})
    '50 sampled of 80 listed pairs'
    """
    n = int(summary.get("n_pairs") or 0)
    possible = _possible(summary)
    listed = " listed" if summary.get("pairs") == "listed" else ""
    if possible is not None and n < possible:
        return f"{n:,} sampled of {possible:,}{listed} pairs"
    if listed:
        return f"{n:,} listed pairs"
    return f"all {n:,} pairs"


def with_ci(summary: dict, metric: str, digits: int = 4) -> str:
    """``0.4499 ± 0.0087 (95% CI)`` from a summary's average and interval (the average alone
    when the summary has no interval)."""
    value = summary[f"avg_{metric}"]
    ci = summary.get(f"avg_{metric}_ci95")
    if not ci:
        return f"{value:.{digits + 1}f}"
    half = (ci[1] - ci[0]) / 2
    level = round(100 * (summary.get("ci_level") or 0.95))
    return f"{value:.{digits}f} ± {half:.{digits}f} ({level}% CI)"


def format_summary(summary: dict, out: Path) -> str:
    """A short human-readable table of a run."""
    q = summary["socm_quantiles"]
    rows = [
        ("model", summary["model"]),
        *_pooling_rows(summary),
        (
            "corpus",
            f"{summary['corpus']} ({summary['n_texts']:,} texts, {pairs_words(summary)})",
        ),
        ("numerics", summary["numerics"]),
        ("avg SOCM", with_ci(summary, "socm")),
        ("avg d_mu", with_ci(summary, "d_mu")),
        ("avg d_sigma", with_ci(summary, "d_sigma")),
        (
            "SOCM q10/q50/q90/q99" + (" (of the sample)" if is_sample(summary) else ""),
            "/".join(f"{q[k]:.4f}" for k in ("0.1", "0.5", "0.9", "0.99")),
        ),
        ("avg normalized spread", f"{summary['avg_normalized_spread']:.4f}"),
        ("texts with spread > 2", f"{summary['share_spread_over_2']:.1%}"),
        ("pairs with d_sigma > 1", f"{summary['n_d_sigma_over_1']:,}"),
        *_sink_rows(summary),
        ("truncated texts", str(summary["n_truncated"])),
        *(
            [("texts in windows", f"{summary['n_windowed']:,} (up to {summary['max_windows']})")]
            if "n_windowed" in summary
            else []
        ),
        (
            "time encode/pairs/total",
            "/".join(f"{summary['timings'][k]:.1f}s" for k in ("encode_s", "pairs_s", "total_s"))
            + f" ({summary['timings']['n_cached']} texts from cache)",
        ),
        ("output", str(out)),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def _pooling_rows(summary: dict) -> list[tuple[str, str]]:
    """The variant when it is native pooling, else the model's pooling note when there is
    one; the forward dtype when it is not float32."""
    rows = []
    if summary.get("pooling") == "model":
        rows.append(("variant", summary["variant"]))
    elif summary.get("pooling_note"):
        rows.append(("pooling", summary["pooling_note"]))
    if summary.get("forward_dtype") not in (None, "float32"):
        rows.append(("forward dtype", f"{summary['forward_dtype']} (statistics in float64)"))
    return rows


def _sink_rows(summary: dict) -> list[tuple[str, str]]:
    """The top token's share of the spread, when the run recorded it."""
    med = summary.get("top_token_share_median")
    if med is None:
        return []
    over = summary.get("share_top_token_over_half") or 0.0
    return [("top token share", f"median {med:.3f}; texts over 1/2: {over:.1%}")]
