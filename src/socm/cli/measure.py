"""``socm measure``, ``msmarco``, ``sts``, ``compare`` and ``reproduce``: commands that score
pairs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from socm.cli.common import (
    BATCH_MAX,
    HELP_FORMAT,
    backend_parent,
    config_from_args,
    corpus_parent,
    encoder_parent,
    int_range,
    output_parent,
    pairs_parent,
    positive_int,
    print_records,
    statistics_parent,
)
from socm.errors import SocmError

__all__ = [
    "add_parsers",
    "cmd_compare",
    "cmd_measure",
    "cmd_msmarco",
    "cmd_reproduce",
    "cmd_sts",
]

RUN_OUT = "run folder (None: socm-runs/<model>-<corpus>-<n>-<settings hash>)"


def _pooling_flag(p: argparse.ArgumentParser, both: bool = False) -> None:
    """``--pooling``: what d_mu is computed from."""
    text = (
        "d_mu from the mean-pooled embedding (the paper's SOCM), or from the model's own "
        "pooled embedding (its last token, CLS, ...: the native-pooling variant, an extension "
        "beyond the paper; d_sigma stays the token covariances')"
    )
    if both:
        text += "; both: every model with mean and with native pooling, native against mean"
    p.add_argument(
        "--pooling",
        choices=["mean", "model", "both"] if both else ["mean", "model"],
        default="mean",
        help=text,
    )


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Declare the commands of this module."""
    p = sub.add_parser(
        "measure",
        parents=[
            encoder_parent(),
            corpus_parent(),
            pairs_parent(),
            output_parent(RUN_OUT, "print summary.json instead of a table", overwrite=True),
            backend_parent(),
            statistics_parent(),
        ],
        formatter_class=HELP_FORMAT,
        help="score pairs of texts for second-order collapse",
        description="Encode a corpus with a Hugging Face encoder and score pairs of texts: "
        "d_mu, d_sigma and SOCM = (1 - d_mu) * d_sigma (Hara et al., ACL 2026).",
    )
    p.add_argument(
        "--no-pairs-file",
        action="store_true",
        help="write no pairs.parquet (only the summary and per-text means matter)",
    )
    _pooling_flag(p)
    p.set_defaults(func=cmd_measure)

    p = sub.add_parser(
        "msmarco",
        parents=[
            encoder_parent(),
            pairs_parent(listed=False, seed=True),
            output_parent(
                "run folder (None: socm-runs/<model>-<folder>-<n>-<hash>)", overwrite=True
            ),
        ],
        formatter_class=HELP_FORMAT,
        help="score MS MARCO-style query-passage pairs (relevant vs non-relevant)",
        description="Load collection.tsv, queries.tsv and TREC qrels from a folder; score "
        "(query, relevant passage) and (query, passage judged for another query) pairs.",
    )
    p.add_argument("folder", help="folder with collection.tsv, queries.tsv and the qrels file")
    p.add_argument("--qrels", default="qrels.txt", help="qrels file name in the folder")
    p.add_argument(
        "--negatives-per-query",
        type=positive_int,
        default=100,
        help="at most this many non-relevant pairs per query, sampled with the seed",
    )
    p.add_argument(
        "--max-queries",
        type=positive_int,
        help="the first this many judged queries, in file order (None: all)",
    )
    _pooling_flag(p)
    p.set_defaults(func=cmd_msmarco)

    p = sub.add_parser(
        "sts",
        parents=[
            encoder_parent(),
            pairs_parent(listed=False),
            output_parent("run folder (None: socm-runs/<model>-<file>-<n>-<hash>)", overwrite=True),
        ],
        formatter_class=HELP_FORMAT,
        help="score STS-Benchmark pairs, labelled with their human similarity (0-5)",
        description="Load an STS-Benchmark file (original format: tab-separated, no quoting) "
        "and score each listed sentence pair; the gold score is the pair's label, so "
        "'socm validate RUN' can relate the measures to it.",
    )
    p.add_argument("file", help="sts-train.csv, sts-dev.csv or sts-test.csv")
    p.add_argument("--first", type=positive_int, help="use only the file's first N pairs")
    _pooling_flag(p)
    p.set_defaults(func=cmd_sts)

    p = sub.add_parser(
        "compare",
        parents=[
            encoder_parent(model=False),
            corpus_parent(),
            pairs_parent(),
            output_parent(
                "folder for the runs and compare.{md,csv,json}",
                "print compare.json",
                out_default="socm-runs/compare",
                overwrite=True,
            ),
        ],
        formatter_class=HELP_FORMAT,
        help="measure several models on the same texts and tabulate them",
        description="Run (or reuse) socm measure for each model on the same texts and pairs; "
        "table of avg SOCM, delta vs backbone, avg d_mu, avg d_sigma, avg normalized spread, "
        "share over the trace bound (Markdown, CSV, JSON).",
    )
    p.add_argument("--model", action="append", default=[], help="model (repeatable)")
    p.add_argument("--backbone", help="model the others are compared with")
    p.add_argument(
        "--family",
        action="append",
        default=[],
        metavar="BACKBONE=FT1,FT2",
        help="a backbone and its fine-tuned models (repeatable)",
    )
    _pooling_flag(p, both=True)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "reproduce",
        parents=[
            output_parent(
                "folder for the runs and reproduce.json", out_default="socm-runs/reproduce"
            )
        ],
        formatter_class=HELP_FORMAT,
        help="the paper's table on whatever models and datasets are reachable",
        description="Runs the paper's 12 models x 3 datasets where they can be loaded, in exact "
        "and paper numerics, next to the published averages; lists what it skipped.",
    )
    p.add_argument("--models", nargs="+", help="subset of the paper's models (ids or names)")
    p.add_argument(
        "--datasets",
        nargs="+",
        choices=["wikipedia", "msmarco", "hard_negatives"],
        help="subset of the paper's datasets (None: all three)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        help="local copies: wiki1m_for_simcse.txt, msmarco_corpus.jsonl (the 1,000 selected "
        "passages), msmarco_hard_negatives.tsv (the 50,000 selected query<TAB>negative rows)",
    )
    p.add_argument(
        "--batch-size",
        type=int_range(1, BATCH_MAX),
        default=32,
        help="texts per forward pass of the model",
    )
    p.add_argument("--device", help="cuda, mps or cpu (None: cuda, then mps, then cpu)")
    p.add_argument(
        "--cache-dir", help="token-embedding cache (None: $SOCM_CACHE_DIR or ~/.cache/socm)"
    )
    p.set_defaults(func=cmd_reproduce)


def _print_run(summary: dict, out: Path, as_json: bool) -> None:
    from socm.measure.summary import format_summary

    if as_json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print(format_summary(summary, out))


def cmd_measure(args: argparse.Namespace) -> int:
    """``socm measure``: returns the exit code."""
    from socm.measure.job import run_measure

    summary, out = run_measure(config_from_args(args))
    _print_run(summary, out, args.json)
    return 0


def cmd_msmarco(args: argparse.Namespace) -> int:
    """``socm msmarco``: returns the exit code."""
    from socm.inputs.msmarco import load_msmarco
    from socm.measure.job import run_measure

    corpus, pairs, labels = load_msmarco(
        args.folder,
        qrels=args.qrels,
        negatives_per_query=args.negatives_per_query,
        max_queries=args.max_queries,
        seed=args.seed,
    )
    options = {"qrels": args.qrels, "negatives_per_query": args.negatives_per_query}
    options["max_queries"] = args.max_queries  # recorded: they choose the pairs
    cfg = config_from_args(args, corpus=args.folder, n_texts=None, extra={"msmarco": options})
    summary, out = run_measure(cfg, corpus=corpus, pairs=pairs, labels=labels)
    _print_run(summary, out, args.json)
    if not args.json:
        for label, v in summary["by_label"].items():
            print(
                f"{label:>12}: {v['n_pairs']:,} pairs, avg SOCM {v['avg_socm']:.5f}, "
                f"avg d_mu {v['avg_d_mu']:.5f}, avg d_sigma {v['avg_d_sigma']:.5f}"
            )
    return 0


def cmd_sts(args: argparse.Namespace) -> int:
    """``socm sts``: returns the exit code."""
    from socm.inputs.sts import load_sts
    from socm.measure.job import run_measure

    corpus, pairs, labels = load_sts(args.file, first=args.first)
    cfg = config_from_args(
        args, corpus=args.file, n_texts=None, extra={"sts": {"first": args.first}}
    )
    summary, out = run_measure(cfg, corpus=corpus, pairs=pairs, labels=labels)
    _print_run(summary, out, args.json)
    if not args.json:
        print(
            f"{len(labels):,} labelled pairs; to relate the measures to them: socm validate {out}"
        )
    return 0


def _families(specs: list[str]) -> dict[str, list[str]]:
    families = {}
    for spec in specs:
        bb, sep, fts = spec.partition("=")
        if not sep or not bb.strip() or not fts.strip():
            raise SocmError(f"--family takes BACKBONE=FT1,FT2, got {spec!r}")
        families[bb.strip()] = [x.strip() for x in fts.split(",") if x.strip()]
    return families


def cmd_compare(args: argparse.Namespace) -> int:
    """``socm compare``: returns the exit code."""
    from socm.analyses.compare import format_markdown, run_compare

    families = _families(args.family)
    both = args.pooling == "both"
    cfg = config_from_args(
        args, model=(args.model or [None])[0], pooling="mean" if both else args.pooling
    )
    records = run_compare(
        args.model,
        cfg,
        Path(args.out),
        backbone=args.backbone,
        families=families,
        both_poolings=both,
    )
    out = f"{args.out}/compare.md, compare.csv, compare.json"
    return print_records(records, out, format_markdown, args.json)


def cmd_reproduce(args: argparse.Namespace) -> int:
    """``socm reproduce``: returns the exit code."""
    from socm.analyses.reproduce import format_reproduce, run_reproduce
    from socm.measure.config import MeasureConfig

    base = MeasureConfig(
        batch_size=args.batch_size,
        device=args.device,
        cache_dir=args.cache_dir,
        progress=not args.quiet,
    )
    result = run_reproduce(
        base, Path(args.out), models=args.models, datasets=args.datasets, data_dir=args.data_dir
    )
    return print_records(result, None, format_reproduce, args.json)
