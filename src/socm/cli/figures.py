"""``socm plot``, ``pair`` and ``report``: commands that draw."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from socm.cli.common import (
    HELP_FORMAT,
    config_from_args,
    encoder_parent,
    pairs_parent,
    positive_int,
    scores_parent,
)
from socm.errors import SocmError, warn

__all__ = ["add_parsers", "cmd_pair", "cmd_plot", "cmd_report"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Declare the commands of this module."""
    p = sub.add_parser(
        "plot",
        parents=[scores_parent()],
        formatter_class=HELP_FORMAT,
        help="draw a figure from run folders",
        description="heatmap: SOCM over the (d_mu, d_sigma) square; scatter: a run's pairs; "
        "layers: per-layer curves of runs with socm layers/mechanism results; correlation: "
        "average SOCM vs downstream score.",
    )
    p.add_argument("kind", choices=["heatmap", "scatter", "layers", "correlation"])
    p.add_argument("runs", nargs="*", metavar="RUN_DIR")
    p.add_argument(
        "--out",
        help="output .png or .svg (None: socm-<kind>.png, or in the run folder for scatter)",
    )
    p.add_argument(
        "--max-points",
        type=positive_int,
        default=20_000,
        help="scatter: pairs drawn at most (random subsample, seed 0)",
    )
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser(
        "pair",
        parents=[encoder_parent(model=False, cache=False), pairs_parent(listed=False)],
        formatter_class=HELP_FORMAT,
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
        help="model (repeat for side-by-side panels; None: the packaged all-MiniLM-L6-v2)",
    )
    p.add_argument("--out", default="socm-pair.png", help="output .png or .svg")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.set_defaults(func=cmd_pair)

    p = sub.add_parser(
        "report",
        parents=[scores_parent()],
        formatter_class=HELP_FORMAT,
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
    p.set_defaults(func=cmd_report)


def _correlation(args: argparse.Namespace, runs: list[str], required: bool) -> dict | None:
    """Correlate runs with --scores or --paper-table (None when neither is given)."""
    from socm.analyses.correlate import correlate_runs

    if not (args.scores or args.paper_table):
        if required:
            raise SocmError("give downstream scores: --scores CSV or --paper-table")
        return None
    return correlate_runs(runs, scores_csv=args.scores, paper_table=args.paper_table)


def cmd_plot(args: argparse.Namespace) -> int:
    """``socm plot``: returns the exit code."""
    from socm.inputs.paper_table import paper_families
    from socm.output import plots

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
        fig = plots.correlation_figure(_correlation(args, runs, required=True), paper_families())
    default = f"{runs[0]}/scatter.png" if kind == "scatter" else f"socm-{kind}.png"
    print(plots.save(fig, args.out or default))
    return 0


def cmd_pair(args: argparse.Namespace) -> int:
    """``socm pair``: returns the exit code."""
    from socm.analyses.pair import explain_pair, pair_numbers
    from socm.output import plots

    base = config_from_args(args, no_cache=True)
    panels = explain_pair(args.text_a, args.text_b, args.model, base)
    path = plots.save(plots.pair_figure(panels), args.out)
    numbers = [pair_numbers(p) for p in panels]
    for p in panels:
        cut = [name for name, t in zip("AB", p["truncated"], strict=True) if t]
        if cut:
            which = "texts A and B were" if len(cut) == 2 else f"text {cut[0]} was"
            warn(
                f"{p['model']}: {which} truncated to {p['max_length']} tokens: only the first "
                f"{p['max_length']} tokens were measured"
            )
    if args.json:
        print(json.dumps({"figure": str(path), "results": numbers}, indent=2))
        return 0
    for n in numbers:
        print(
            f"{n['model']}: d_mu = {n['d_mu']:.5f}, d_sigma = {n['d_sigma']:.5f}, "
            f"SOCM = {n['socm']:.5f}, normalized spread = "
            f"{n['normalized_spread'][0]:.4f} / {n['normalized_spread'][1]:.4f}"
        )
    print(f"figure: {path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``socm report``: returns the exit code."""
    from socm.inputs.paper_table import paper_families
    from socm.output.report import build_report

    corr = _correlation(args, args.runs, required=False)
    path = build_report(
        args.runs,
        Path(args.out),
        backbone=args.backbone,
        correlation=corr,
        families=paper_families(),
    )
    print(path)
    return 0
