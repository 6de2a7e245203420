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

__all__ = ["build_parser", "cmd_measure", "main"]


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


def cmd_measure(args: argparse.Namespace) -> int:
    """Run ``socm measure`` from parsed arguments; returns the exit code."""
    from socm.measure import MeasureConfig, format_summary, run_measure

    cfg = MeasureConfig(
        model=args.model,
        corpus=args.corpus,
        unit=args.unit,
        text_column=args.text_column,
        id_column=args.id_column,
        n_texts=args.n_texts,
        seed=args.seed,
        pairs_file=args.pairs_file,
        max_pairs=args.max_pairs,
        numerics=args.numerics,
        layer=args.layer,
        exclude_special_tokens=args.exclude_special_tokens,
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
    summary, out = run_measure(cfg)
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print(format_summary(summary, out))
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
