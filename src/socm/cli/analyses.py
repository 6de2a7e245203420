"""``socm layers``, ``mechanism``, ``correlate`` and ``validate``: commands that explain the
measurement."""

from __future__ import annotations

import argparse
from pathlib import Path

from socm.cli.common import (
    HELP_FORMAT,
    config_from_args,
    corpus_parent,
    encoder_parent,
    finite_float,
    int_range,
    non_negative_int,
    output_parent,
    pairs_parent,
    print_records,
    scores_parent,
)
from socm.errors import SocmError

__all__ = ["add_parsers", "cmd_correlate", "cmd_layers", "cmd_mechanism", "cmd_validate"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Declare the commands of this module."""
    p = sub.add_parser(
        "layers",
        parents=[
            encoder_parent(),
            corpus_parent(),
            pairs_parent(),
            output_parent(
                "run folder for layers.parquet and layers_summary.json "
                "(None: socm-runs/<model>-<corpus>-<n>-<hash>)",
                "print the per-layer summary as JSON",
                overwrite=True,
            ),
        ],
        formatter_class=HELP_FORMAT,
        help="token concentration per layer",
        description="Per text and layer (0 = embedding output): normalized spread and average "
        "within-text cosine; optionally the average SOCM over the pairs at every layer "
        "(--pairs, --max-pairs and --numerics apply to --socm).",
    )
    p.add_argument("--socm", action="store_true", help="also average SOCM over pairs per layer")
    p.set_defaults(func=cmd_layers)

    p = sub.add_parser(
        "mechanism",
        parents=[
            encoder_parent(),
            corpus_parent(),
            output_parent(
                "run folder for mechanism.parquet and mechanism_summary.json "
                "(None: socm-runs/<model>-<corpus>-<n>-<hash>)",
                "print the per-layer summary as JSON",
                overwrite=True,
            ),
        ],
        formatter_class=HELP_FORMAT,
        help="attention contraction: lambda, r, C per layer",
        description="Per text and layer of a BERT-style or MPNet encoder: the attention "
        "contraction lambda (mean over heads), the residual ratio r and the token-wise map's "
        "factor C (Hara et al., ACL 2026, Sec. 5). All tokens the attention sees are used.",
    )
    p.set_defaults(func=cmd_mechanism)

    p = sub.add_parser(
        "correlate",
        parents=[scores_parent(), output_parent("also write the result as JSON to this file")],
        formatter_class=HELP_FORMAT,
        help="collapse vs downstream quality across models (Spearman)",
        description="Spearman correlation between models' average SOCM (and normalized spread) "
        "and a downstream score: your CSV, the paper's MTEB table, STS-B evaluated here or an "
        "MTEB results folder (give exactly one of --scores, --paper-table, --stsb, "
        "--mteb-results).",
    )
    p.add_argument("runs", nargs="*", metavar="RUN_DIR", help="socm measure run folders")
    p.add_argument("--collapse-csv", help="CSV with model, avg_socm[, avg_normalized_spread]")
    p.add_argument("--stsb", help="STS-B sts-test.csv: evaluate each run's model offline")
    p.add_argument(
        "--mteb-results",
        metavar="DIR",
        help="MTEB results folder (<org>__<model>/<revision>/<Task>.json, with or without a "
        "leading results/): each model's main score on the test split, averaged over the "
        "tasks every model has",
    )
    p.add_argument(
        "--mteb-tasks",
        metavar="A,B,...",
        help="comma-separated MTEB tasks to average (None: every task in the results)",
    )
    p.add_argument(
        "--dataset",
        default="wikipedia",
        choices=["wikipedia", "msmarco", "hard_negatives"],
        help="published SOCM column used with --paper-table alone",
    )
    p.set_defaults(func=cmd_correlate)

    p = sub.add_parser(
        "validate",
        parents=[
            output_parent(
                "figure of the label against d_sigma within cosine bins (.png, .svg or .pdf)",
                "print the result as JSON",
            )
        ],
        formatter_class=HELP_FORMAT,
        help="relate a run's pair measures to the pairs' human labels",
        description="For a run scored on labelled pairs (socm sts, socm msmarco, socm measure "
        "--pairs with a numeric label column): Spearman of the label with cosine, d_mu, "
        "d_sigma, SOCM and relative d_sigma; partial Spearman given the cosine (and the two "
        "token counts); AUC for 'label below the threshold' among the pairs closest by "
        "cosine; 95% percentile bootstrap intervals from resampling the pairs.",
    )
    p.add_argument("run", metavar="RUN_DIR", help="run folder scored on labelled pairs")
    p.add_argument(
        "--threshold",
        type=finite_float,
        help="labels below it are the 'different' group of the AUCs (None: the midpoint of "
        "the labels' range)",
    )
    p.add_argument(
        "--bootstrap",
        type=int_range(1, 1_000_000),
        default=1000,
        metavar="B",
        help="bootstrap resamples of the pairs",
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="bootstrap seed")
    p.set_defaults(func=cmd_validate)


def cmd_layers(args: argparse.Namespace) -> int:
    """``socm layers``: returns the exit code."""
    from socm.analyses.layers import format_layer_table, run_layers

    if args.layer is not None:
        raise SocmError("socm layers reports every layer: drop --layer")
    records, out = run_layers(config_from_args(args), per_layer_socm=args.socm)
    return print_records(records, out, format_layer_table, args.json)


def cmd_mechanism(args: argparse.Namespace) -> int:
    """``socm mechanism``: returns the exit code."""
    from socm.analyses.mechanism import format_mechanism_table, run_mechanism

    if args.layer is not None or args.exclude_special_tokens:
        raise SocmError(
            "socm mechanism analyses every layer on all tokens: drop --layer and "
            "--exclude-special-tokens"
        )
    if args.exclude_prompt_tokens or args.exclude_first_token:
        raise SocmError(
            "socm mechanism analyses every layer on all tokens: drop --exclude-prompt-tokens "
            "and --exclude-first-token"
        )
    records, out = run_mechanism(config_from_args(args))
    return print_records(records, out, format_mechanism_table, args.json)


def cmd_correlate(args: argparse.Namespace) -> int:
    """``socm correlate``: returns the exit code."""
    from socm.analyses.correlate import correlate_runs, format_correlation
    from socm.files import atomic_write_json

    result = correlate_runs(
        args.runs,
        collapse_csv=args.collapse_csv,
        scores_csv=args.scores,
        paper_table=args.paper_table,
        stsb=args.stsb,
        mteb_results=args.mteb_results,
        mteb_tasks=_task_list(args.mteb_tasks),
        dataset=args.dataset,
        progress=not args.quiet,
    )
    if args.out:
        atomic_write_json(args.out, result)
    return print_records(result, None, format_correlation, args.json)


def _task_list(text: str | None) -> list[str] | None:
    """``A,B,...`` as a list of task names (None when not given).

    Raises
    ------
    SocmError
        An empty task name.
    """
    if text is None:
        return None
    tasks = [t.strip() for t in text.split(",")]
    if not all(tasks):
        raise SocmError(f"--mteb-tasks: an empty task name in {text!r} (A,B,...)")
    return tasks


def cmd_validate(args: argparse.Namespace) -> int:
    """``socm validate``: returns the exit code."""
    from socm.analyses.validate import format_validation, validate_run
    from socm.output.style import FORMATS

    if args.out and Path(args.out).suffix.lower().lstrip(".") not in FORMATS:
        raise SocmError(f"--out takes a .png, .svg or .pdf file, not {args.out}")
    result = validate_run(
        args.run, threshold=args.threshold, resamples=args.bootstrap, seed=args.seed
    )
    if args.out:
        from socm.output.validation import write_validation_figure

        write_validation_figure(args.run, args.out, threshold=result["threshold"])
    return print_records(result, args.out, format_validation, args.json)
