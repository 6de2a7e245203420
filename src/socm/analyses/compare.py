"""``socm compare``: several models side by side on the same texts and pairs.

Runs (or reuses) ``socm measure`` for each model and tabulates avg SOCM, its difference to each
model's backbone, avg d_μ, avg d_Σ, avg normalised spread and the share of texts over the trace
bound (tr Σ > 2).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from socm.errors import SocmError
from socm.files import atomic_write_bytes, atomic_write_json, check_writable_dir
from socm.measure.config import MeasureConfig
from socm.measure.job import run_measure
from socm.measure.rundir import pairs_dataset, read_summary, run_file, slug, summary_row

__all__ = ["format_markdown", "measure_or_reuse", "paired_delta", "run_compare"]

_COLUMNS = (
    "avg_d_mu",
    "avg_d_sigma",
    "avg_normalized_spread",
    "share_spread_over_2",
    "n_texts",
    "n_pairs",
    "numerics",
    "run",
)


def _same_config(summary: dict, cfg: MeasureConfig) -> bool:
    old = MeasureConfig.from_dict(summary.get("config", {}))
    return old.result_key() == cfg.result_key()


def measure_or_reuse(cfg: MeasureConfig, **kw) -> tuple[dict, bool]:
    """The run in ``cfg.out`` when its settings match ``cfg``, else a new run; (summary, reused)."""
    f = Path(cfg.out) / "summary.json"
    if f.is_file() and not kw:
        summary = json.loads(f.read_text(encoding="utf-8"))
        if _same_config(summary, cfg):
            return summary, True
    return run_measure(cfg, **kw)[0], False


def run_compare(
    models: list[str],
    base: MeasureConfig,
    out_dir: Path,
    backbone: str | None = None,
    families: dict[str, list[str]] | None = None,
) -> list[dict]:
    """Measure every model on the same texts and pairs; write compare.{json,csv,md}.

    ``backbone`` makes every other model's Δ relative to it; ``families`` maps a backbone to
    its fine-tuned models (several backbones in one call). Run folders go to
    ``out_dir/<model-slug>`` and are reused when their settings match.
    """
    check_writable_dir(Path(out_dir), "--out")
    families = dict(families or {})
    if backbone:
        families.setdefault(backbone, [])
        families[backbone] += [
            m for m in models if m != backbone and not any(m in fts for fts in families.values())
        ]
    parent = {ft: bb for bb, fts in families.items() for ft in fts}
    ordered = list(dict.fromkeys([*models, *families, *parent]))
    if not ordered:
        raise SocmError("give models to compare (--model, repeatable, or --family)")
    summaries = {}
    for model in ordered:
        cfg = replace(base, model=model, out=str(Path(out_dir) / slug(model, keep_org=True)))
        summaries[model], reused = measure_or_reuse(cfg)
        summaries[model]["_reused"] = reused
        summaries[model]["_run"] = cfg.out
    records = []
    for model in ordered:
        s = summaries[model]
        bb = parent.get(model, model if model in families else None)
        row = summary_row(s, s["_run"])
        delta = None if bb is None else s["avg_socm"] - summaries[bb]["avg_socm"]
        paired = None
        if bb is not None and bb != model:
            paired = paired_delta(Path(summaries[bb]["_run"]), Path(s["_run"]))
        records.append(
            {
                "model": model,
                "backbone": bb,
                "avg_socm": row["avg_socm"],
                "delta_vs_backbone": delta,
                **{k: row[k] for k in _COLUMNS},
                "avg_socm_ci95": s.get("avg_socm_ci95"),
                "delta_ci95": paired["ci"] if paired else None,
                "delta_outside_noise": paired["outside_noise"] if paired else None,
                "delta_note": paired["note"] if paired else None,
                "reused": s["_reused"],
            }
        )
    out_dir = Path(out_dir)
    atomic_write_json(out_dir / "compare.json", records)
    cols = [k for k in records[0] if k != "reused"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(records)
    atomic_write_bytes(out_dir / "compare.csv", buf.getvalue().encode())
    atomic_write_bytes(out_dir / "compare.md", (format_markdown(records) + "\n").encode())
    return records


def paired_delta(backbone_run: Path, run: Path, level: float = 0.95) -> dict:
    r"""Paired interval for :math:`\Delta` = avg SOCM(run) − avg SOCM(backbone run).

    Both runs scored the same pairs of the same texts, so the per-pair differences
    :math:`h_A - h_B` are one U-statistic (or, for listed pairs, one sample of the list) and
    :func:`socm.core.uncertainty.PairSums.ci` gives its interval: the text-to-text variation
    both models share cancels, which makes it far tighter than two independent intervals.

    Returns
    -------
    dict
        ``delta``, ``ci`` ([lo, hi] or None), ``outside_noise`` (the interval excludes 0),
        ``note`` (why there is no paired interval, when there is none).
    """

    from socm.core.uncertainty import PairSums

    none = {"delta": None, "ci": None, "outside_noise": None}
    sb = read_summary(run)
    files = [Path(backbone_run) / "pairs.parquet", Path(run) / "pairs.parquet"]
    if not all(f.exists() for f in files):
        return {**none, "note": "a run has no pairs.parquet (--no-pairs-file): no paired interval"}
    ids = [json.loads(x)["id"] for x in run_file(run, "texts.jsonl").read_text().splitlines()]
    index = {t: k for k, t in enumerate(ids)}
    n = len(ids)
    keyed = []
    for f in files:
        t = pairs_dataset(f).to_table(columns=["text1_id", "text2_id", "socm"]).to_pydict()
        try:
            i = np.array([index[x] for x in t["text1_id"]], dtype=np.int64)
            j = np.array([index[x] for x in t["text2_id"]], dtype=np.int64)
        except KeyError:
            return {**none, "note": "the runs scored different texts: no paired interval"}
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        order = np.argsort(lo * n + hi, kind="stable")
        keyed.append((lo[order], hi[order], np.asarray(t["socm"])[order]))
    (ia, ja, ha), (ib, jb, hb) = keyed
    if not (np.array_equal(ia, ib) and np.array_equal(ja, jb)):
        return {**none, "note": "the runs scored different pairs: no paired interval"}
    sums = PairSums(n, ("diff",))
    sums.update(ia, ja, {"diff": hb - ha})
    if sb.get("pairs") == "listed":
        ci = sums.sample_ci("diff", int(sb.get("pairs_possible") or len(ha)), level)
    else:
        ci = sums.ci("diff", sb.get("n_population"), sb.get("pairs_possible"), level)
    inside = ci["ci"] is not None and ci["ci"][0] <= 0 <= ci["ci"][1]
    return {
        "delta": ci["estimate"],
        "ci": ci["ci"],
        "outside_noise": None if ci["ci"] is None else not inside,
        "note": ci["reason"],
    }


def format_markdown(records: list[dict]) -> str:
    """The comparison as a Markdown table (the paper's layout), with 95% intervals; a Δ marked
    ``*`` is outside the noise (its paired interval excludes 0)."""

    def f(x, spec):
        return "—" if x is None else format(x, spec)

    def pm(value, ci, spec):
        if value is None:
            return "—"
        if not ci:
            return format(value, spec)
        return f"{format(value, spec)} ± {(ci[1] - ci[0]) / 2:.5f}"

    lines = [
        "| model | avg SOCM (95% CI) | Δ vs backbone (paired 95% CI) | avg d_μ | avg d_Σ "
        "| avg spread | spread > 2 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in records:
        delta = pm(r["delta_vs_backbone"], r.get("delta_ci95"), "+.5f")
        if r.get("delta_outside_noise"):
            delta += " *"
        lines.append(
            f"| {r['model']} | {pm(r['avg_socm'], r.get('avg_socm_ci95'), '.5f')} | {delta}"
            f" | {r['avg_d_mu']:.5f} | {r['avg_d_sigma']:.5f} | "
            f"{f(r['avg_normalized_spread'], '.4f')} | {r['share_spread_over_2']:.1%} |"
        )
    if any(r.get("delta_outside_noise") is not None for r in records):
        lines.append("")
        lines.append("\\* the paired interval of Δ excludes 0: the difference is outside the noise")
    return "\n".join(lines)
