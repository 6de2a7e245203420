"""``socm compare`` and ``socm reproduce``: models side by side, and the paper's table.

``compare`` runs (or reuses) ``socm measure`` for several models on the same texts and pairs and
tabulates avg SOCM, its difference to each model's backbone, avg d_μ, avg d_Σ, avg normalised
spread and the share of texts over the trace bound (tr Σ > 2).

``reproduce`` runs the paper's experiment (:func:`socm.correlate.load_paper_table`) on whatever
models and datasets are reachable, in both numerics, next to the published averages; what
cannot be reached (offline, no ``datasets`` library, no local copy) is listed and skipped.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from socm.corpus import Corpus, load_corpus, sample
from socm.correlate import load_paper_table
from socm.encode import hub_offline, resolve_model
from socm.errors import SocmError
from socm.io import atomic_write_bytes, atomic_write_json
from socm.measure import MeasureConfig, run_measure

__all__ = ["format_markdown", "run_compare", "run_reproduce"]

_SKIP_KEYS = ("out", "progress", "extra")


def _slug(model: str) -> str:
    """A folder name that keeps the whole model id (``org/name`` -> ``org__name``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model.strip("/").replace("/", "__")) or "model"


def _same_config(summary: dict, cfg: MeasureConfig) -> bool:
    old = {k: v for k, v in summary.get("config", {}).items() if k not in _SKIP_KEYS}
    new = {k: v for k, v in asdict(cfg).items() if k not in _SKIP_KEYS}
    return old == new


def _measure_or_reuse(cfg: MeasureConfig, **kw) -> tuple[dict, bool]:
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
        cfg = replace(base, model=model, out=str(Path(out_dir) / _slug(model)))
        summaries[model], reused = _measure_or_reuse(cfg)
        summaries[model]["_reused"] = reused
        summaries[model]["_run"] = cfg.out
    records = []
    for model in ordered:
        s = summaries[model]
        bb = parent.get(model, model if model in families else None)
        records.append(
            {
                "model": model,
                "backbone": bb,
                "avg_socm": s["avg_socm"],
                "delta_vs_backbone": None
                if bb is None
                else s["avg_socm"] - summaries[bb]["avg_socm"],
                "avg_d_mu": s["avg_d_mu"],
                "avg_d_sigma": s["avg_d_sigma"],
                "avg_normalized_spread": s["avg_normalized_spread"],
                "share_spread_over_2": s["share_spread_over_2"],
                "n_texts": s["n_texts"],
                "n_pairs": s["n_pairs"],
                "numerics": s["numerics"],
                "run": s["_run"],
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


# --------------------------------------------------------------------------- reproduce
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers (offline mode counts as unreachable)."""
    if hub_offline():
        return False
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        urllib.request.urlopen(f"{endpoint}/api/models?limit=1", timeout=timeout)
        return True
    except Exception:
        return False


def _dataset(name: str, spec: dict, data_dir: Path | None, online: bool):
    """(corpus, pairs or None) for a paper dataset, or a string saying why it is unreachable."""
    local = {
        "wikipedia": "wiki1m_for_simcse.txt",
        "msmarco": "msmarco_corpus.jsonl",
        "hard_negatives": "msmarco_hard_negatives.tsv",
    }[name]
    path = data_dir / local if data_dir else None
    try:
        if name == "wikipedia":
            if path and path.is_file():
                return sample(load_corpus(path), spec["n_texts"], spec["seed"]), None
            if not online:
                return f"needs {local} in --data-dir (offline)"
            return sample(load_corpus("wiki1m"), spec["n_texts"], spec["seed"]), None
        if path and path.is_file():
            if name == "msmarco":
                return load_corpus(path), None  # the 1,000 selected passages
            rows = [
                ln.split("\t")[:2]
                for ln in path.read_text(encoding="utf-8").splitlines()
                if ln.strip()
            ]
            return _pairs_corpus(rows, path.name)
        if not online:
            return f"needs {local} in --data-dir (offline)"
        try:
            import datasets
        except ImportError:
            return f"needs the 'datasets' library (pip install datasets) or {local} in --data-dir"
        if name == "msmarco":
            ds = datasets.load_dataset(spec["hf_dataset"], spec["config"], split="corpus")
            ds = ds.shuffle(seed=0).select(range(spec["n_texts"]))
            return Corpus(
                ids=[str(x) for x in ds["_id"]], texts=list(ds["text"]), name="msmarco"
            ), None
        ds = datasets.load_dataset(spec["hf_dataset"], spec["config"], split="train")
        ds = ds.shuffle(seed=0).select(range(spec["n_pairs"]))
        return _pairs_corpus(list(zip(ds["query"], ds["negative"], strict=True)), "hard_negatives")
    except SocmError as exc:
        return str(exc)
    except Exception as exc:  # network or dataset-format failures: report, do not crash
        return f"could not be loaded ({exc.__class__.__name__}: {str(exc)[:120]})"


def _pairs_corpus(rows: list, name: str) -> tuple[Corpus, np.ndarray]:
    texts = list(dict.fromkeys(t.strip() for r in rows for t in r[:2]))
    index = {t: k for k, t in enumerate(texts)}
    pairs = np.array([[index[a.strip()], index[b.strip()]] for a, b in rows], dtype=np.int64)
    return Corpus(ids=[f"t{k}" for k in range(len(texts))], texts=texts, name=name), pairs


def run_reproduce(
    base: MeasureConfig,
    out_dir: Path,
    models: list[str] | None = None,
    datasets: list[str] | None = None,
    data_dir: Path | None = None,
) -> dict:
    """Run the paper's table on the reachable subset; returns {"rows", "skipped"}."""
    table = load_paper_table()
    entries = [
        m
        for m in table["models"]
        if not models or m["model"] in models or m["model"].split("/")[-1] in models
    ]
    names = [d for d in table["datasets"] if not datasets or d in datasets]
    unknown = sorted(
        set(models or [])
        - {m["model"] for m in entries}
        - {m["model"].split("/")[-1] for m in entries}
    )
    if unknown:
        raise SocmError(f"not in the paper's table: {', '.join(unknown)}")
    online = hub_reachable()
    skipped = []
    data = {}
    for name in names:
        got = _dataset(name, table["datasets"][name], data_dir, online)
        if isinstance(got, str):
            skipped.append({"what": f"dataset {name}", "why": got})
        else:
            data[name] = got
    reachable = []
    for m in entries:
        try:
            if not online:
                resolved = resolve_model(m["model"]) if _local_only(m["model"]) else None
                if resolved is None:
                    raise SocmError("hub unreachable and no local copy")
            else:
                resolve_model(m["model"], trust_remote_code=m["trust_remote_code"])
            reachable.append(m)
        except SocmError as exc:
            skipped.append({"what": f"model {m['model']}", "why": str(exc)})
    rows = []
    for m in reachable:
        for name, (corpus, pairs) in data.items():
            row = {"model": m["model"], "dataset": name, "published": m["avg_socm"][name]}
            for numerics in ("exact", "paper"):
                cfg = replace(
                    base,
                    model=m["model"],
                    numerics=numerics,
                    trust_remote_code=m["trust_remote_code"],
                    out=str(Path(out_dir) / f"{_slug(m['model'])}-{name}-{numerics}"),
                )
                s = run_measure(cfg, corpus=corpus, pairs=pairs)[0]
                row[numerics] = s["avg_socm"]
            row["paper_minus_published"] = row["paper"] - row["published"]
            row["exact_minus_published"] = row["exact"] - row["published"]
            rows.append(row)
    result = {"rows": rows, "skipped": skipped, "hub_reachable": online}
    atomic_write_json(Path(out_dir) / "reproduce.json", result)
    return result


def _local_only(model: str) -> bool:
    """Offline: whether the model resolves without the hub (packaged, mirrored, HF cache)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(model, "config.json"), str):
            return True
    except Exception:
        pass
    from socm.encode import _mirrored_path, _packaged_path

    return (_packaged_path(model) or _mirrored_path(model)) is not None


def format_reproduce(result: dict) -> str:
    """Side-by-side table of ours (exact, paper numerics) vs published, and what was skipped."""
    lines = []
    if result["rows"]:
        lines.append(
            f"{'model':<44} {'dataset':<15} {'exact':>8} {'paper':>8} {'published':>9} "
            f"{'paper-pub':>9}"
        )
        for r in result["rows"]:
            lines.append(
                f"{r['model']:<44} {r['dataset']:<15} {r['exact']:>8.5f} "
                f"{r['paper']:>8.5f} {r['published']:>9.5f} "
                f"{r['paper_minus_published']:>+9.5f}"
            )
    else:
        lines.append("nothing reachable to run")
    if result["skipped"]:
        lines.append(f"skipped ({len(result['skipped'])}):")
        lines += [f"  {s['what']}: {s['why']}" for s in result["skipped"]]
    return "\n".join(lines)
