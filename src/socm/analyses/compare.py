"""``socm compare``: several models side by side on the same texts and pairs.

Runs (or reuses) ``socm measure`` for each model and tabulates avg SOCM, its difference to each
model's backbone, avg d_μ, avg d_Σ, avg normalised spread and the share of texts over the trace
bound (tr Σ > 2). With ``both_poolings`` each model is measured with mean pooling and with its
own pooling (the native-pooling variant), and the two are set against each other.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from socm.errors import SocmError
from socm.files import atomic_write_bytes, atomic_write_json, check_writable_dir
from socm.measure.config import MeasureConfig
from socm.measure.job import run_measure
from socm.measure.rundir import (
    iter_pairs_batches,
    pairs_dataset,
    read_summary,
    run_file,
    slug,
    summary_row,
)

__all__ = [
    "format_markdown",
    "measure_or_reuse",
    "paired_delta",
    "run_compare",
    "run_folder_names",
]

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
    """The run in ``cfg.out`` when its settings match ``cfg``, else a new run; (summary, reused).

    Raises
    ------
    SocmError
        ``cfg.out`` holds a damaged ``summary.json`` (not JSON, a field of the wrong type, a
        NaN average, ...: :func:`~socm.measure.rundir.read_summary`), naming the file, unless
        ``cfg.overwrite``: then the run is measured again.
    """
    f = Path(cfg.out) / "summary.json"
    if f.is_file() and not kw:
        try:
            summary = read_summary(cfg.out)
        except SocmError as exc:
            if not cfg.overwrite:
                raise SocmError(f"{exc}, or pass --overwrite to measure it again") from None
        else:
            if _same_config(summary, cfg):
                return summary, True
    return run_measure(cfg, **kw)[0], False


def run_folder_names(models: list[str]) -> dict[str, str]:
    """A run folder name per model id: its slug (``org__name``), with 8 hex digits of the id's
    SHA-256 appended where two ids share a slug (``models/my model`` and ``models/my-model``),
    also when they differ only in case (one folder on a case-insensitive file system).

    Examples
    --------
    >>> run_folder_names(["org/a", "models/my model", "models/my-model"])["org/a"]
    'org__a'
    >>> len(set(run_folder_names(["models/my model", "models/my-model"]).values()))
    2
    """
    slugs = {m: slug(m, keep_org=True) for m in dict.fromkeys(models)}
    shared = Counter(s.casefold() for s in slugs.values())
    return {
        m: s if shared[s.casefold()] == 1 else f"{s}-{hashlib.sha256(m.encode()).hexdigest()[:8]}"
        for m, s in slugs.items()
    }


def run_compare(
    models: list[str],
    base: MeasureConfig,
    out_dir: Path,
    backbone: str | None = None,
    families: dict[str, list[str]] | None = None,
    both_poolings: bool = False,
) -> list[dict]:
    """Measure every model on the same texts and pairs; write compare.{json,csv,md}.

    ``backbone`` makes every other model's Δ relative to it; ``families`` maps a backbone to
    its fine-tuned models (several backbones in one call). ``both_poolings`` measures every
    model twice, with mean pooling (the paper's SOCM) and with its own pooling (the
    native-pooling variant, ``pooling="model"``), and sets each native row against the same
    model's mean row. Run folders go to ``out_dir/<model-slug>`` (one per model id:
    :func:`run_folder_names`; ``-native-pooling`` added for the variant) and are reused when
    their settings match.

    Raises
    ------
    SocmError
        No models, ``both_poolings`` with a backbone or families, or a run folder that holds
        another model's run.
    """
    check_writable_dir(Path(out_dir), "--out")
    if both_poolings and (backbone or families):
        raise SocmError(
            "--pooling both sets each model's native pooling against its mean pooling: "
            "drop --backbone and --family"
        )
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
    poolings = ("mean", "model") if both_poolings else (base.pooling,)
    keys = [(model, pooling) for model in ordered for pooling in poolings]
    summaries = {}
    folders = run_folder_names(ordered)
    for model, pooling in keys:
        folder = folders[model] + ("-native-pooling" if pooling == "model" else "")
        cfg = replace(base, model=model, pooling=pooling, out=str(Path(out_dir) / folder))
        summary, reused = measure_or_reuse(cfg)
        if summary["model"] != model:  # a run records its model
            raise SocmError(f"{cfg.out} holds a run of {summary['model']}, not {model}")
        summaries[model, pooling] = {**summary, "_reused": reused, "_run": cfg.out}
    records = []
    for model, pooling in keys:
        s = summaries[model, pooling]
        if both_poolings:
            bb = (model, "mean") if pooling == "model" else None
        else:
            name = parent.get(model, model if model in families else None)
            bb = None if name is None else (name, pooling)
        row = summary_row(s, s["_run"])
        delta = None if bb is None else s["avg_socm"] - summaries[bb]["avg_socm"]
        paired = None
        if bb is not None and bb != (model, pooling):
            paired = paired_delta(Path(summaries[bb]["_run"]), Path(s["_run"]))
        records.append(
            {
                "model": model,
                "backbone": None if bb is None else _label(*bb),
                "avg_socm": row["avg_socm"],
                "delta_vs_backbone": delta,
                **{k: row[k] for k in _COLUMNS},
                "avg_socm_ci95": s.get("avg_socm_ci95"),
                "delta_ci95": paired["ci"] if paired else None,
                "delta_outside_noise": paired["outside_noise"] if paired else None,
                "delta_note": paired["note"] if paired else None,
                "pooling": pooling,
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


def _label(model: str, pooling: str = "mean") -> str:
    """A row's name: the model, marked when its d_μ comes from its own pooling."""
    return model if pooling == "mean" else f"{model} (native pooling)"


#: Pairs per bucket of the on-disk join of :func:`paired_delta` (memory: two buckets at a time,
#: 16 bytes per pair each).
JOIN_BUCKET_PAIRS = 2_000_000
#: Bucket files open at once at most (buckets grow beyond JOIN_BUCKET_PAIRS past this).
JOIN_MAX_BUCKETS = 256


def paired_delta(backbone_run: Path, run: Path, level: float = 0.95) -> dict:
    r"""Paired interval for :math:`\Delta` = avg SOCM(run) − avg SOCM(backbone run).

    Both runs scored the same pairs of the same texts, so the per-pair differences
    :math:`h_A - h_B` are one U-statistic (or, for listed pairs, one sample of the list) and
    :func:`socm.core.uncertainty.PairSums.ci` gives its interval: the text-to-text variation
    both models share cancels, which makes it far tighter than two independent intervals.

    The two ``pairs.parquet`` (files, or a cluster run's folders of parts, in any pair order)
    are joined on disk: each is streamed once into hash buckets of about
    :data:`JOIN_BUCKET_PAIRS` pairs (the pair :math:`\{i, j\}` as the key
    :math:`\min(i,j)\,n + \max(i,j)` and its SOCM), and the buckets are matched one at a
    time, so memory grows with the texts and one bucket, never with the pairs.

    Returns
    -------
    dict
        ``delta``, ``ci`` ([lo, hi] or None), ``outside_noise`` (the interval excludes 0),
        ``note`` (why there is no paired interval, when there is none).
    """
    import tempfile

    from socm.core.uncertainty import PairSums

    none = {"delta": None, "ci": None, "outside_noise": None}
    if Path(backbone_run).resolve() == Path(run).resolve():
        raise SocmError(f"{run}: a run cannot be compared with itself (one folder for both)")
    sb = read_summary(run)
    files = [Path(backbone_run) / "pairs.parquet", Path(run) / "pairs.parquet"]
    if not all(f.exists() for f in files):
        return {**none, "note": "a run has no pairs.parquet (--no-pairs-file): no paired interval"}
    with run_file(run, "texts.jsonl").open(encoding="utf-8") as f:  # lines end at \n only:
        ids = [json.loads(x)["id"] for x in f if x.strip()]  # a text may hold U+2028
    index = {t: k for k, t in enumerate(ids)}
    n = len(ids)
    datasets = [pairs_dataset(f) for f in files]
    rows = [d.count_rows() for d in datasets]
    if rows[0] != rows[1]:
        return {**none, "note": "the runs scored different pairs: no paired interval"}
    n_buckets = int(min(JOIN_MAX_BUCKETS, max(1, -(-rows[0] // JOIN_BUCKET_PAIRS))))
    sums = PairSums(n, ("diff",))
    with tempfile.TemporaryDirectory(prefix="socm-compare-") as tmp:
        for side, path in enumerate(files):
            if not _bucket_pairs(path, index, n, n_buckets, Path(tmp), side):
                return {**none, "note": "the runs scored different texts: no paired interval"}
        for k in range(n_buckets):
            (ka, ha), (kb, hb) = (_read_bucket(Path(tmp), side, k) for side in (0, 1))
            if not np.array_equal(ka, kb):
                return {**none, "note": "the runs scored different pairs: no paired interval"}
            if len(ka):
                sums.update(ka // n, ka % n, {"diff": hb - ha})
    if sums.n_pairs == 0:
        return {**none, "note": "no scored pairs: no paired interval"}
    if sb.get("pairs") == "listed":
        ci = sums.sample_ci("diff", int(sb.get("pairs_possible") or rows[0]), level)
    else:
        ci = sums.ci("diff", sb.get("n_population"), sb.get("pairs_possible"), level)
    inside = ci["ci"] is not None and ci["ci"][0] <= 0 <= ci["ci"][1]
    return {
        "delta": ci["estimate"],
        "ci": ci["ci"],
        "outside_noise": None if ci["ci"] is None else not inside,
        "note": ci["reason"],
    }


def _text_index(column: Any, index: dict[str, int]) -> np.ndarray | None:
    """Text positions of a batch's id column (dictionary-encoded or plain); None for an id
    that is not among the texts."""
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):
        try:
            lookup = np.array([index[x] for x in column.dictionary.to_pylist()], dtype=np.int64)
        except KeyError:
            return None
        codes = column.indices.to_numpy(zero_copy_only=False)
        return lookup[codes] if len(lookup) else codes.astype(np.int64)
    try:
        return np.array([index[x] for x in column.to_pylist()], dtype=np.int64)
    except KeyError:
        return None


def _bucket_pairs(
    path: Path, index: dict[str, int], n: int, n_buckets: int, folder: Path, side: int
) -> bool:
    """Stream a run's pairs into ``n_buckets`` files of (key, socm); False on unknown texts."""
    import pyarrow as pa

    handles = [open(folder / f"{side}-{k}.bin", "wb") for k in range(n_buckets)]
    try:
        columns = ["text1_id", "text2_id", "socm"]
        for batch in iter_pairs_batches(path, columns, 1 << 18):
            cols = [batch.column(c) for c in columns[:2]]
            cols = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in cols]
            i, j = (_text_index(c, index) for c in cols)
            if i is None or j is None:
                return False
            key = np.minimum(i, j) * n + np.maximum(i, j)
            value = batch.column("socm").to_numpy(zero_copy_only=False).astype(np.float64)
            bucket = (key.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
            bucket = (bucket % np.uint64(n_buckets)).astype(np.int64)
            for k in np.unique(bucket):
                sel = bucket == k
                rec = np.empty(int(sel.sum()), dtype=[("key", "<i8"), ("socm", "<f8")])
                rec["key"], rec["socm"] = key[sel], value[sel]
                rec.tofile(handles[k])
    finally:
        for h in handles:
            h.close()
    return True


def _read_bucket(folder: Path, side: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A bucket's keys, sorted, and their SOCM values; a pair listed twice keeps its listings
    in file order (stable sort), so the k-th listing of one run meets the k-th of the other."""
    rec = np.fromfile(folder / f"{side}-{k}.bin", dtype=[("key", "<i8"), ("socm", "<f8")])
    order = np.argsort(rec["key"], kind="stable")
    return rec["key"][order], rec["socm"][order]


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
            f"| {_label(r['model'], r.get('pooling', 'mean'))} "
            f"| {pm(r['avg_socm'], r.get('avg_socm_ci95'), '.5f')} | {delta}"
            f" | {r['avg_d_mu']:.5f} | {r['avg_d_sigma']:.5f} | "
            f"{f(r['avg_normalized_spread'], '.4f')} | {r['share_spread_over_2']:.1%} |"
        )
    if any(r.get("pooling") == "model" for r in records):
        lines.append("")
        lines.append(
            "native pooling: d_μ from the model's own pooled embedding, d_Σ from the token "
            "covariances (an extension beyond the paper)"
        )
    if any(r.get("delta_outside_noise") is not None for r in records):
        lines.append("")
        lines.append("\\* the paired interval of Δ excludes 0: the difference is outside the noise")
    return "\n".join(lines)
