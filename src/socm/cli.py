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

from socm.errors import SocmError

__all__ = [
    "build_parser",
    "cmd_correlate",
    "cmd_layers",
    "cmd_measure",
    "cmd_mechanism",
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


def add_encoder_options(p: argparse.ArgumentParser) -> None:
    """Flags shared by every command that encodes texts."""
    from socm.measure import DEFAULT_MODEL

    g = p.add_argument_group("encoder")
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
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        print(format_layer_table(records))
        print(f"output: {out}")
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
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        print(format_mechanism_table(records))
        print(f"output: {out}")
    return 0


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
