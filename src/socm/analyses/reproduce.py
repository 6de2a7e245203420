"""``socm reproduce``: the paper's table on whatever models and datasets are reachable.

Runs the paper's experiment (:func:`socm.inputs.paper_table.load_paper_table`) in both numerics,
next to the published averages; what cannot be reached (offline, no ``datasets`` library, no
local copy) is listed and skipped.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from socm.encode.models import hub_reachable, mirrored_model, packaged_model, resolve_model
from socm.errors import SocmError
from socm.files import atomic_write_json
from socm.inputs.corpus import Corpus, load_corpus, sample
from socm.inputs.paper_table import load_paper_table
from socm.measure.config import MeasureConfig
from socm.measure.job import run_measure
from socm.measure.rundir import slug

__all__ = ["format_reproduce", "run_reproduce"]


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
    """Run the paper's table on the reachable subset of models and datasets.

    Parameters
    ----------
    base : MeasureConfig
        Settings shared by every run (batch size, device, cache); model, numerics and output
        folder are set per run.
    out_dir : Path
        Folder for the run folders and ``reproduce.json``.
    models : list of str, optional
        Models of the paper's table to run (full ids or last path components); None: all.
    datasets : list of str, optional
        Datasets of the paper's table to run; None: all.
    data_dir : Path, optional
        Folder with local copies of the datasets.

    Returns
    -------
    dict
        ``{"rows", "skipped", "hub_reachable"}``: one row per (model, dataset) run, and what
        could not be reached (``{"what", "why"}``).

    Raises
    ------
    SocmError
        A model not in the paper's table, or nothing could be run (no reachable model or no
        reachable dataset): the message lists what was missing.
    """
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
    unknown += sorted(set(datasets or []) - set(table["datasets"]))
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
    if not reachable or not data:
        raise SocmError(f"nothing to run: {_missing(skipped, bool(reachable), bool(data))}")
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
                    out=str(Path(out_dir) / f"{slug(m['model'], keep_org=True)}-{name}-{numerics}"),
                )
                s = run_measure(cfg, corpus=corpus, pairs=pairs)[0]
                row[numerics] = s["avg_socm"]
            row["paper_minus_published"] = row["paper"] - row["published"]
            row["exact_minus_published"] = row["exact"] - row["published"]
            rows.append(row)
    result = {"rows": rows, "skipped": skipped, "hub_reachable": online}
    atomic_write_json(Path(out_dir) / "reproduce.json", result)
    return result


def _missing(skipped: list[dict], have_models: bool, have_data: bool) -> str:
    """What blocked every run, shortened to one line."""
    lacking = [
        s
        for s in skipped
        if (s["what"].startswith("model ") and not have_models)
        or (s["what"].startswith("dataset ") and not have_data)
    ]
    if not lacking:  # nothing was asked for (e.g. an empty selection)
        return "no model or dataset selected"
    reasons = [f"{s['what']}: {' '.join(s['why'].split())}" for s in lacking]
    line = "; ".join(reasons)
    if len(line) > 400:
        by_why: dict[str, list[str]] = {}
        for s in lacking:
            by_why.setdefault(" ".join(s["why"].split()), []).append(s["what"])
        line = "; ".join(
            f"{whats[0]}{f' and {len(whats) - 1} more' if len(whats) > 1 else ''}: {why}"
            for why, whats in by_why.items()
        )
    return line[:600] + ("..." if len(line) > 600 else "")


def _local_only(model: str) -> bool:
    """Offline: whether the model resolves without the hub (packaged, mirrored, HF cache)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(model, "config.json"), str):
            return True
    except Exception:
        pass
    return (packaged_model(model) or mirrored_model(model)) is not None


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
