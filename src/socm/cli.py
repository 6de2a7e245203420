"""The ``socm`` command line: a thin layer over the Python API.

Each subcommand has an ``add_<name>_parser`` that declares its flags and a ``cmd_<name>``
function that takes the parsed namespace and returns an exit code; tests call these directly.
User errors end with one line on stderr (``socm: error: ...``) and exit code 1, never a
traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from socm.errors import SocmError

__all__ = [
    "build_parser",
    "cmd_compare",
    "cmd_correlate",
    "cmd_layers",
    "cmd_measure",
    "cmd_mechanism",
    "cmd_msmarco",
    "cmd_pair",
    "cmd_plot",
    "cmd_report",
    "cmd_reproduce",
    "main",
]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def add_encoder_options(p: argparse.ArgumentParser, model: bool = True) -> None:
    """Flags shared by every command that encodes texts."""
    from socm.measure import DEFAULT_MODEL

    g = p.add_argument_group("encoder")
    if model:
        g.add_argument(
            "--model",
            default=DEFAULT_MODEL,
            help="Hugging Face model id or local folder (default: %(default)s)",
        )
    g.add_argument("--revision", help="hub revision (branch, tag or commit)")
    g.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow the model's custom code from the hub (explicit opt-in)",
    )
    g.add_argument(
        "--layer",
        type=int,
        default=None,
        help="hidden state: 0 = embedding output, 1..L layers, negative from the end "
        "(default: last hidden state)",
    )
    g.add_argument(
        "--exclude-special-tokens",
        action="store_true",
        help="drop [CLS]/[SEP]-like tokens (default: keep every token, as the paper)",
    )
    g.add_argument("--prefix", default="", help='text prepended to every input, e.g. "query: "')
    g.add_argument(
        "--max-length",
        type=_positive_int,
        help="truncation length in tokens (default: the model's maximum)",
    )
    g.add_argument("--batch-size", type=_positive_int, default=32)
    g.add_argument("--device", help="cuda, mps or cpu (default: cuda, then mps, then cpu)")
    g.add_argument(
        "--cache-dir", help="token-embedding cache (default: $SOCM_CACHE_DIR or ~/.cache/socm)"
    )
    g.add_argument("--no-cache", action="store_true", help="do not read or write the cache")


def add_corpus_options(p: argparse.ArgumentParser) -> None:
    """Flags that choose the texts."""
    g = p.add_argument_group("corpus")
    g.add_argument(
        "--corpus",
        default="wikipedia",
        help="wikipedia (packaged lead sections), wiki1m (the paper's corpus, "
        "downloaded) or a .txt/.jsonl/.csv/.tsv/.parquet file "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--unit",
        choices=["sentence", "paragraph"],
        default="sentence",
        help="text unit of the wikipedia corpus (default: %(default)s)",
    )
    g.add_argument(
        "--text-column", help="text column of a .csv/.tsv/.parquet corpus (default: text)"
    )
    g.add_argument("--id-column", help="id column (default: id if present, else row number)")
    g.add_argument(
        "--n-texts",
        type=_positive_int,
        default=1000,
        help="texts sampled as the paper does: random.seed(S); random.sample(texts, N)"
        " (default: %(default)s)",
    )
    g.add_argument("--seed", type=int, default=0, help="sampling seed (default: %(default)s)")


def add_measure_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "measure",
        help="score pairs of texts for second-order collapse",
        description="Encode a corpus with a Hugging Face encoder and score pairs of texts: "
        "d_mu, d_sigma and SOCM = (1 - d_mu) * d_sigma (Hara et al., ACL 2026).",
    )
    add_encoder_options(p)
    add_corpus_options(p)
    g = p.add_argument_group("pairs and output")
    g.add_argument(
        "--pairs",
        dest="pairs_file",
        help="file with two columns of text ids (only these pairs are scored)",
    )
    g.add_argument(
        "--max-pairs", type=_positive_int, help="score K pairs sampled with the seed instead of all"
    )
    g.add_argument(
        "--numerics",
        choices=["exact", "paper"],
        default="exact",
        help="exact value, or the published code's epsilon-regularised formula "
        "(default: %(default)s)",
    )
    g.add_argument("--out", help="run folder (default: socm-runs/<model>-<corpus>-<n>)")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    g.add_argument("--json", action="store_true", help="print summary.json instead of a table")
    p.set_defaults(func=cmd_measure)


def config_from_args(args: argparse.Namespace):
    """A :class:`~socm.measure.MeasureConfig` from the shared encoder/corpus/pairs flags."""
    from socm.measure import MeasureConfig

    return MeasureConfig(
        model=args.model,
        corpus=args.corpus,
        unit=args.unit,
        text_column=args.text_column,
        id_column=args.id_column,
        n_texts=args.n_texts,
        seed=args.seed,
        pairs_file=getattr(args, "pairs_file", None),
        max_pairs=getattr(args, "max_pairs", None),
        numerics=getattr(args, "numerics", "exact"),
        layer=getattr(args, "layer", None),
        exclude_special_tokens=getattr(args, "exclude_special_tokens", False),
        prefix=args.prefix,
        max_length=args.max_length,
        batch_size=args.batch_size,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
        revision=args.revision,
        cache_dir=args.cache_dir,
        no_cache=args.no_cache,
        out=args.out,
        progress=not args.quiet,
    )


def cmd_measure(args: argparse.Namespace) -> int:
    """Run ``socm measure`` from parsed arguments; returns the exit code."""
    from socm.measure import format_summary, run_measure

    summary, out = run_measure(config_from_args(args))
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print(format_summary(summary, out))
    return 0


def _add_output(p: argparse.ArgumentParser, what: str) -> None:
    g = p.add_argument_group("output")
    g.add_argument("--out", help=f"run folder for {what} (default: socm-runs/<model>-<corpus>-<n>)")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    g.add_argument("--json", action="store_true", help="print the per-layer summary as JSON")


def add_layers_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "layers",
        help="token concentration per layer",
        description="Per text and layer (0 = embedding output): normalized spread and average "
        "within-text cosine; optionally the average SOCM over the pairs at every layer.",
    )
    add_encoder_options(p)
    add_corpus_options(p)
    g = p.add_argument_group("per-layer SOCM")
    g.add_argument("--socm", action="store_true", help="also average SOCM over pairs per layer")
    g.add_argument("--pairs", dest="pairs_file", help="score only these pairs (with --socm)")
    g.add_argument("--max-pairs", type=_positive_int, help="sample K pairs (with --socm)")
    g.add_argument("--numerics", choices=["exact", "paper"], default="exact")
    _add_output(p, "layers.parquet and layers_summary.json")
    p.set_defaults(func=cmd_layers)


def cmd_layers(args: argparse.Namespace) -> int:
    """Run ``socm layers``; returns the exit code."""
    from socm.layers import format_layer_table, run_layers

    if args.layer is not None:
        raise SocmError("socm layers reports every layer: drop --layer")
    records, out = run_layers(config_from_args(args), per_layer_socm=args.socm)
    return _print_records(records, out, format_layer_table, args.json)


def _print_records(records: list[dict], out: Path, fmt, as_json: bool) -> int:
    """Print per-layer records as JSON or as a table followed by the output folder."""
    print(json.dumps(records, indent=2) if as_json else f"{fmt(records)}\noutput: {out}")
    return 0


def add_mechanism_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mechanism",
        help="attention contraction: lambda, r, C per layer",
        description="Per text and layer of a BERT-style or MPNet encoder: the attention "
        "contraction lambda (mean over heads), the residual ratio r and the token-wise map's "
        "factor C (Hara et al., ACL 2026, Sec. 5). All tokens the attention sees are used.",
    )
    add_encoder_options(p)
    add_corpus_options(p)
    _add_output(p, "mechanism.parquet and mechanism_summary.json")
    p.set_defaults(func=cmd_mechanism)


def cmd_mechanism(args: argparse.Namespace) -> int:
    """Run ``socm mechanism``; returns the exit code."""
    from socm.mechanism import format_mechanism_table, run_mechanism

    if args.layer is not None or args.exclude_special_tokens:
        raise SocmError(
            "socm mechanism analyses every layer on all tokens: drop --layer and "
            "--exclude-special-tokens"
        )
    records, out = run_mechanism(config_from_args(args))
    return _print_records(records, out, format_mechanism_table, args.json)


def add_correlate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "correlate",
        help="collapse vs downstream quality across models (Spearman)",
        description="Spearman correlation between models' average SOCM (and normalized spread) "
        "and a downstream score: your CSV, the paper's MTEB table, or STS-B evaluated here.",
    )
    p.add_argument("runs", nargs="*", metavar="RUN_DIR", help="socm measure run folders")
    p.add_argument("--collapse-csv", help="CSV with model, avg_socm[, avg_normalized_spread]")
    src = p.add_argument_group("downstream scores (choose one)")
    src.add_argument("--scores", help="CSV with model, score")
    src.add_argument(
        "--paper-table",
        action="store_true",
        help="the paper's MTEB(eng, v2) scores (and, without runs, its published "
        "average SOCM) for its 12 models",
    )
    src.add_argument("--stsb", help="STS-B sts-test.csv: evaluate each run's model offline")
    p.add_argument(
        "--dataset",
        default="wikipedia",
        choices=["wikipedia", "msmarco", "hard_negatives"],
        help="published SOCM column used with --paper-table alone",
    )
    p.add_argument("--out", help="also write the result as JSON to this file")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_correlate)


def cmd_correlate(args: argparse.Namespace) -> int:
    """Run ``socm correlate``; returns the exit code."""
    from socm import correlate as co
    from socm.io import atomic_write_json

    chosen = [x for x in (args.scores, args.paper_table, args.stsb) if x]
    if len(chosen) != 1:
        raise SocmError("give exactly one score source: --scores CSV, --paper-table or --stsb PATH")
    rows = co.read_run_summaries(args.runs)
    if args.collapse_csv:
        rows += co.read_collapse_csv(args.collapse_csv)
    if args.paper_table:
        paper, scores = co.paper_rows(args.dataset)
        if not rows:
            rows = paper
        source = "MTEB(eng, v2) (paper table)"
    elif args.scores:
        scores, source = co.read_scores_csv(args.scores), f"scores from {args.scores}"
    else:
        if not rows:
            raise SocmError("--stsb needs run folders or --collapse-csv naming the models")
        from socm.measure import MeasureConfig, make_encoder

        scores = {}
        for r in rows:
            cfg = MeasureConfig(
                **{
                    k: v
                    for k, v in r.get("config", {}).items()
                    if k in MeasureConfig.__dataclass_fields__
                }
            )
            cfg.model = r["model"]
            scores[r["model"]] = co.sts_spearman(
                make_encoder(cfg, layer=cfg.layer), args.stsb, progress=not args.quiet
            )
        source = "STS-B Spearman"
    result = co.correlate(rows, scores, source)
    if args.out:
        atomic_write_json(args.out, result)
    print(json.dumps(result, indent=2) if args.json else co.format_correlation(result))
    return 0


def _add_score_sources(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("downstream scores (for the correlation)")
    src.add_argument("--scores", help="CSV with model, score")
    src.add_argument(
        "--paper-table",
        action="store_true",
        help="the paper's MTEB(eng, v2) scores (and, without runs, its published "
        "average SOCM) for its 12 models",
    )


def _correlation(args: argparse.Namespace, runs: list[str], required: bool) -> dict | None:
    """Correlate runs with --scores or --paper-table (None when neither is given)."""
    from socm import correlate as co

    if not (args.scores or args.paper_table):
        if required:
            raise SocmError("give downstream scores: --scores CSV or --paper-table")
        return None
    rows = co.read_run_summaries(runs)
    if args.paper_table:
        paper, scores = co.paper_rows()
        return co.correlate(rows or paper, scores, "MTEB(eng, v2) (paper table)")
    return co.correlate(rows, co.read_scores_csv(args.scores), f"scores from {args.scores}")


def _families() -> dict[str, str]:
    from socm.correlate import load_paper_table

    return {m["model"]: m["backbone"] for m in load_paper_table()["models"]}


def add_plot_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        help="draw a figure from run folders",
        description="heatmap: SOCM over the (d_mu, d_sigma) square; scatter: a run's pairs; "
        "layers: per-layer curves of runs with socm layers/mechanism results; correlation: "
        "average SOCM vs downstream score.",
    )
    p.add_argument("kind", choices=["heatmap", "scatter", "layers", "correlation"])
    p.add_argument("runs", nargs="*", metavar="RUN_DIR")
    p.add_argument(
        "--out",
        help="output .png or .svg (default: socm-<kind>.png, or in the run folder for scatter)",
    )
    p.add_argument(
        "--max-points",
        type=_positive_int,
        default=20_000,
        help="scatter: pairs drawn at most (random subsample, seed 0)",
    )
    _add_score_sources(p)
    p.set_defaults(func=cmd_plot)


def cmd_plot(args: argparse.Namespace) -> int:
    """Run ``socm plot``; returns the exit code."""
    from socm import plots

    kind, runs = args.kind, args.runs
    if kind in ("scatter", "layers") and not runs:
        raise SocmError(f"socm plot {kind} needs at least one RUN_DIR")
    if kind == "scatter" and len(runs) > 1:
        raise SocmError("socm plot scatter draws one run: give one RUN_DIR")
    if kind == "heatmap":
        fig = plots.heatmap()
    elif kind == "scatter":
        fig = plots.scatter(runs[0], max_points=args.max_points)
    elif kind == "layers":
        fig = plots.layers_figure(runs)
    else:
        fig = plots.correlation_figure(_correlation(args, runs, required=True), _families())
    default = f"{runs[0]}/scatter.png" if kind == "scatter" else f"socm-{kind}.png"
    print(plots.save(fig, args.out or default))
    return 0


def add_pair_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pair",
        help="explain one pair of texts: numbers and a 2-D picture",
        description="Project both texts' unit-mean token embeddings to 2-D (truncated SVD fitted "
        "jointly on both texts' tokens and their means): tokens, means (stars) and 75%%-mass "
        "ellipses. Give --model twice to compare two models side by side.",
    )
    p.add_argument("text_a")
    p.add_argument("text_b")
    p.add_argument(
        "--model",
        action="append",
        help="model (repeat for side-by-side panels; default: the packaged all-MiniLM-L6-v2)",
    )
    p.add_argument("--numerics", choices=["exact", "paper"], default="exact")
    p.add_argument("--exclude-special-tokens", action="store_true")
    p.add_argument("--prefix", default="")
    p.add_argument("--device")
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--out", default="socm-pair.png", help="output .png or .svg")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.set_defaults(func=cmd_pair)


def cmd_pair(args: argparse.Namespace) -> int:
    """Run ``socm pair``; returns the exit code."""
    from socm import plots
    from socm.encode import Encoder
    from socm.measure import DEFAULT_MODEL
    from socm.report import pair_panel

    models = args.model or [DEFAULT_MODEL]
    if len(models) > 2:
        raise SocmError("socm pair draws one or two models side by side")
    if not args.text_a.strip() or not args.text_b.strip():
        raise SocmError("both texts must be non-empty")
    panels = []
    for m in models:
        enc = Encoder(
            m,
            cache_dir=None,
            device=args.device,
            prefix=args.prefix,
            exclude_special_tokens=args.exclude_special_tokens,
            trust_remote_code=args.trust_remote_code,
        )
        panels.append(pair_panel(enc, args.text_a, args.text_b, args.numerics))
    path = plots.save(plots.pair_figure(panels), args.out)
    numbers = [
        {
            "model": p["model"],
            "d_mu": p["d_mu"],
            "d_sigma": p["d_sigma"],
            "socm": p["socm"],
            "normalized_spread": p["normalized_spread"],
            "n_tokens": [len(t) for t in p["tokens"]],
        }
        for p in panels
    ]
    if args.json:
        print(json.dumps({"figure": str(path), "results": numbers}, indent=2))
    else:
        for n in numbers:
            print(
                f"{n['model']}: d_mu = {n['d_mu']:.5f}, d_sigma = {n['d_sigma']:.5f}, "
                f"SOCM = {n['socm']:.5f}, normalized spread = "
                f"{n['normalized_spread'][0]:.4f} / {n['normalized_spread'][1]:.4f}"
            )
        print(f"figure: {path}")
    return 0


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="one self-contained HTML report of run folders",
        description="Summary table, figures (embedded), the worst-collapsing pairs, settings "
        "and versions, in one HTML file that opens offline.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", default="socm-report.html", help="output HTML file")
    p.add_argument(
        "--backbone",
        metavar="RUN_DIR",
        help="run whose model is the backbone: the table shows Δ avg SOCM to it",
    )
    _add_score_sources(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """Run ``socm report``; returns the exit code."""
    from socm.report import build_report

    corr = _correlation(args, args.runs, required=False)
    print(
        build_report(
            args.runs,
            Path(args.out),
            backbone=args.backbone,
            correlation=corr,
            families=_families(),
        )
    )
    return 0


def add_compare_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
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
    add_encoder_options(p, model=False)
    add_corpus_options(p)
    g = p.add_argument_group("pairs and output")
    g.add_argument("--pairs", dest="pairs_file", help="file with two columns of text ids")
    g.add_argument("--max-pairs", type=_positive_int)
    g.add_argument("--numerics", choices=["exact", "paper"], default="exact")
    g.add_argument(
        "--out",
        default="socm-runs/compare",
        help="folder for the runs and compare.{md,csv,json} (default: %(default)s)",
    )
    g.add_argument("--quiet", "-q", action="store_true")
    g.add_argument("--json", action="store_true", help="print compare.json")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    """Run ``socm compare``; returns the exit code."""
    from socm.compare import format_markdown, run_compare

    families = {}
    for spec in args.family:
        bb, sep, fts = spec.partition("=")
        if not sep or not bb.strip() or not fts.strip():
            raise SocmError(f"--family takes BACKBONE=FT1,FT2, got {spec!r}")
        families[bb.strip()] = [x.strip() for x in fts.split(",") if x.strip()]
    args.model_list = args.model
    args.model = (args.model or [None])[0]
    cfg = config_from_args(args)
    records = run_compare(
        args.model_list, cfg, Path(args.out), backbone=args.backbone, families=families
    )
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        print(format_markdown(records))
        print(f"output: {args.out}/compare.md, compare.csv, compare.json")
    return 0


def add_reproduce_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="the paper's table on whatever models and datasets are reachable",
        description="Runs the paper's 12 models x 3 datasets where they can be loaded, in exact "
        "and paper numerics, next to the published averages; lists what it skipped.",
    )
    p.add_argument("--models", nargs="+", help="subset of the paper's models (ids or names)")
    p.add_argument("--datasets", nargs="+", choices=["wikipedia", "msmarco", "hard_negatives"])
    p.add_argument(
        "--data-dir",
        type=Path,
        help="local copies: wiki1m_for_simcse.txt, msmarco_corpus.jsonl (the 1,000 "
        "selected passages), msmarco_hard_negatives.tsv (the 50,000 selected "
        "query<TAB>negative rows)",
    )
    p.add_argument("--out", default="socm-runs/reproduce")
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--device")
    p.add_argument("--cache-dir")
    p.add_argument("--quiet", "-q", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Run ``socm reproduce``; returns the exit code."""
    from socm.compare import format_reproduce, run_reproduce
    from socm.measure import MeasureConfig

    base = MeasureConfig(
        batch_size=args.batch_size,
        device=args.device,
        cache_dir=args.cache_dir,
        progress=not args.quiet,
    )
    result = run_reproduce(
        base, Path(args.out), models=args.models, datasets=args.datasets, data_dir=args.data_dir
    )
    print(json.dumps(result, indent=2) if args.json else format_reproduce(result))
    return 0


def add_msmarco_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "msmarco",
        help="score MS MARCO-style query-passage pairs (relevant vs non-relevant)",
        description="Load collection.tsv, queries.tsv and TREC qrels from a folder; score "
        "(query, relevant passage) and (query, passage judged for another query) pairs.",
    )
    p.add_argument("folder")
    p.add_argument("--qrels", default="qrels.txt", help="qrels file name in the folder")
    p.add_argument("--negatives-per-query", type=_positive_int, default=100)
    p.add_argument("--max-queries", type=_positive_int)
    add_encoder_options(p)
    g = p.add_argument_group("output")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--numerics", choices=["exact", "paper"], default="exact")
    g.add_argument("--out", help="run folder (default: socm-runs/<model>-<folder>-<n>)")
    g.add_argument("--quiet", "-q", action="store_true")
    g.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_msmarco)


def cmd_msmarco(args: argparse.Namespace) -> int:
    """Run ``socm msmarco``; returns the exit code."""
    from socm.measure import format_summary, run_measure
    from socm.msmarco import load_msmarco

    corpus, pairs, labels = load_msmarco(
        args.folder,
        qrels=args.qrels,
        negatives_per_query=args.negatives_per_query,
        max_queries=args.max_queries,
        seed=args.seed,
    )
    args.corpus, args.unit, args.text_column, args.id_column, args.n_texts = (
        args.folder,
        "sentence",
        None,
        None,
        None,
    )
    summary, out = run_measure(config_from_args(args), corpus=corpus, pairs=pairs, labels=labels)
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print(format_summary(summary, out))
        for label, v in summary["by_label"].items():
            print(
                f"{label:>12}: {v['n_pairs']:,} pairs, avg SOCM {v['avg_socm']:.5f}, "
                f"avg d_mu {v['avg_d_mu']:.5f}, avg d_sigma {v['avg_d_sigma']:.5f}"
            )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``socm`` parser with all subcommands."""
    from socm import __version__

    parser = argparse.ArgumentParser(
        prog="socm",
        description="Measure how much information mean pooling destroys in text embeddings "
        "(second-order collapse, Hara et al., ACL 2026).",
    )
    parser.add_argument("--version", action="version", version=f"socm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_measure_parser(sub)
    add_layers_parser(sub)
    add_mechanism_parser(sub)
    add_correlate_parser(sub)
    add_plot_parser(sub)
    add_pair_parser(sub)
    add_report_parser(sub)
    add_compare_parser(sub)
    add_reproduce_parser(sub)
    add_msmarco_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``socm`` console script."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("socm: interrupted (finished batches are cached: rerun to resume)", file=sys.stderr)
        return 130
    except (SocmError, ValueError, FileNotFoundError, PermissionError) as exc:
        if args.debug:
            raise
        msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        print(f"socm: error: {msg}", file=sys.stderr)
        return 1
    except Exception as exc:  # anything unforeseen: still one line, traceback on --debug
        if args.debug:
            raise
        print(
            f"socm: internal error: {exc.__class__.__name__}: {exc} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
