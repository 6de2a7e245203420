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

from socm.errors import SocmError
from socm.files import atomic_write_bytes, atomic_write_json, check_writable_dir
from socm.measure.config import MeasureConfig
from socm.measure.job import run_measure
from socm.measure.rundir import slug, summary_row

__all__ = ["format_markdown", "measure_or_reuse", "run_compare"]

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
        records.append(
            {
                "model": model,
                "backbone": bb,
                "avg_socm": row["avg_socm"],
                "delta_vs_backbone": delta,
                **{k: row[k] for k in _COLUMNS},
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


def format_markdown(records: list[dict]) -> str:
    """The comparison as a Markdown table (the paper's layout)."""

    def f(x, spec):
        return "—" if x is None else format(x, spec)

    lines = [
        "| model | avg SOCM | Δ vs backbone | avg d_μ | avg d_Σ | avg spread | spread > 2 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in records:
        lines.append(
            f"| {r['model']} | {r['avg_socm']:.5f} | {f(r['delta_vs_backbone'], '+.5f')}"
            f" | {r['avg_d_mu']:.5f} | {r['avg_d_sigma']:.5f} | "
            f"{f(r['avg_normalized_spread'], '.4f')} | {r['share_spread_over_2']:.1%} |"
        )
    return "\n".join(lines)
