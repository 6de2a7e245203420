"""``socm plot``, ``pair`` and ``report``: commands that draw."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from socm.analyses.pair import DEFINING
from socm.cli.common import (
    HELP_FORMAT,
    config_from_args,
    encoder_parent,
    non_negative_int,
    pairs_parent,
    positive_int,
    scores_parent,
)
from socm.errors import SocmError, warn
from socm.measure.config import MeasureConfig
from socm.measure.rundir import read_mine_summary, read_summary

__all__ = ["FromMine", "add_parsers", "cmd_pair", "cmd_plot", "cmd_report"]

#: socm pair's flags that a followed run's record decides (None on the parser: not given):
#: every setting that defines a run's numbers but the model, which socm pair takes as --model.
_FOLLOWED = tuple(k for k in DEFINING if k != "model")


class FromMine(argparse.Action):
    """``--from-mine RUN_DIR RANK``: the run folder and the rank, a whole number from 1 to
    :data:`~socm.cli.common.INT_MAX`, checked by the parser."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        run_dir, rank = values
        try:
            number = positive_int(rank)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentError(self, f"RANK: {exc}") from None
        setattr(namespace, self.dest, (run_dir, number))


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Declare the commands of this module."""
    p = sub.add_parser(
        "plot",
        parents=[scores_parent()],
        formatter_class=HELP_FORMAT,
        help="draw a figure from run folders",
        description="heatmap: SOCM over (d_mu, d_sigma), with the pairs of any RUN_DIR given "
        "on top; scatter: the density of every pair of one or more runs; texts: per-text "
        "spread, length and mean SOCM; layers: per-layer curves of runs with socm "
        "layers/mechanism results; correlation: average SOCM vs downstream score (with "
        "--paper-table: next to the paper's 12 models); overview: each run's average SOCM "
        "with its interval beside the paper's 12 models; distribution: the SOCM histogram "
        "and CDF with quantiles and mean; candidates: a socm mine run's kept pairs. Figures "
        "of several runs share their axes, bins and colour limits.",
    )
    p.add_argument(
        "kind",
        choices=[
            "heatmap",
            "scatter",
            "texts",
            "layers",
            "correlation",
            "overview",
            "distribution",
            "candidates",
        ],
        help="heatmap: SOCM over (d_mu, d_sigma); scatter: every pair as a density; texts: "
        "per text; layers: per layer; correlation: against a downstream score; overview: "
        "beside the paper's models; distribution: SOCM histogram and CDF; candidates: a mine "
        "run's kept pairs",
    )
    p.add_argument(
        "runs",
        nargs="*",
        metavar="RUN_DIR",
        help="run folders (heatmap and correlation: optional; others: at least one)",
    )
    p.add_argument(
        "--out",
        help="output .png, .svg or .pdf (None: socm-<kind>.png, or in the run folder for "
        "scatter of one run)",
    )
    p.add_argument(
        "--max-points",
        type=positive_int,
        default=None,
        help="ignored, kept for old scripts: the scatter now shows every pair as a density",
    )
    p.add_argument(
        "--relative-depth",
        action="store_true",
        help="layers: x = layer / L, so that models of different depths compare",
    )
    p.add_argument(
        "--log-y",
        choices=["off", "on", "auto"],
        default="off",
        help="layers: logarithmic y-axes (auto: for panels whose values span more than a factor 4)",
    )
    p.add_argument(
        "--top-k",
        type=non_negative_int,
        default=10,
        help="scatter of one run: number the K highest-SOCM pairs (at most 2 per text)",
    )
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser(
        "pair",
        parents=[encoder_parent(model=False), pairs_parent(listed=False)],
        formatter_class=HELP_FORMAT,
        help="explain one pair of texts: numbers and a 2-D picture",
        description="Project both texts' unit-mean token embeddings to 2-D (truncated SVD fitted "
        "jointly on both texts' tokens and their means): tokens, means (stars) and 75%%-mass "
        "ellipses. Give --model twice to compare two models side by side.",
    )
    p.add_argument("text_a", nargs="?", help="first text (or give --from-mine)")
    p.add_argument("text_b", nargs="?", help="second text")
    p.add_argument(
        "--from-mine",
        nargs=2,
        action=FromMine,
        metavar=("RUN_DIR", "RANK"),
        help="the two texts of the pair at RANK (1 = first) of a socm mine run, explained with "
        "the run's model, token policy (prompt included), layer, forward dtype and numerics (a "
        "flag that contradicts them is refused)",
    )
    p.add_argument(
        "--model",
        action="append",
        help="model (repeat for side-by-side panels; None: the packaged all-MiniLM-L6-v2)",
    )
    p.add_argument("--out", default="socm-pair.png", help="output .png, .svg or .pdf")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument(
        "--run",
        metavar="RUN_DIR",
        help="a measure run of the same model: show the pair's SOCM percentile among its pairs",
    )
    p.add_argument(
        "--label-tokens",
        type=positive_int,
        default=8,
        metavar="K",
        help="label the K tokens of each text farthest from its mean",
    )
    # not given: the defaults, or with --from-mine the run's settings (a given one must agree)
    p.set_defaults(func=cmd_pair, **dict.fromkeys(_FOLLOWED))

    p = sub.add_parser(
        "report",
        parents=[scores_parent()],
        formatter_class=HELP_FORMAT,
        help="one self-contained HTML report of run folders",
        description="Summary with confidence intervals and quantiles, figures on shared axes, "
        "an interactive pair density (hover: both texts, ids, numbers), the top pairs (at most "
        "2 per text), per-text tables, per-layer and correlation figures, settings and "
        "versions, in one self-contained HTML file that opens offline. A socm mine folder "
        "shows its listed pairs.",
    )
    p.add_argument(
        "runs", nargs="+", metavar="RUN_DIR", help="socm measure and socm mine run folders"
    )
    p.add_argument("--out", default="socm-report.html", help="output HTML file")
    p.add_argument(
        "--backbone",
        metavar="RUN_DIR",
        help="run whose model is the backbone: the table shows Δ avg SOCM to it with a paired "
        "interval",
    )
    p.add_argument(
        "--pair-views",
        type=non_negative_int,
        default=3,
        metavar="K",
        help="draw the first K pairs of each socm mine folder token by token (loads its "
        "model; 0: none)",
    )
    p.set_defaults(func=cmd_report)


def _correlation(args: argparse.Namespace, runs: list[str], required: bool) -> dict | None:
    """What the correlation figure draws, from --scores or --paper-table (None when neither
    is given and not ``required``)."""
    from socm.output import correlation_view

    if not (args.scores or args.paper_table):
        if required:
            raise SocmError("give downstream scores: --scores CSV or --paper-table")
        return None
    return correlation_view(runs, scores_csv=args.scores, paper_table=args.paper_table)


def cmd_plot(args: argparse.Namespace) -> int:
    """``socm plot``: returns the exit code."""
    from socm.inputs.paper_table import paper_families
    from socm.output import correlation_figure, heatmap, layers_figure, save, scatter, texts_figure

    kind, runs = args.kind, args.runs
    if kind in ("scatter", "layers", "texts", "overview", "distribution") and not runs:
        raise SocmError(f"socm plot {kind} needs at least one RUN_DIR")
    if kind == "candidates" and len(runs) != 1:
        raise SocmError("socm plot candidates needs one socm mine RUN_DIR")
    if args.max_points is not None:
        warn("--max-points is ignored: the scatter shows every pair as a density")
    if kind == "heatmap":
        fig = heatmap(overlay=runs or None)
    elif kind == "scatter":
        fig = scatter(runs, top_k=args.top_k)
    elif kind == "texts":
        fig = texts_figure(runs)
    elif kind == "layers":
        log = {"off": False, "on": True, "auto": "auto"}[args.log_y]
        fig = layers_figure(runs, relative=args.relative_depth, log=log)
    elif kind == "overview":
        from socm.output.overview import overview_figure

        fig = overview_figure(runs)
    elif kind == "distribution":
        from socm.output.distribution import socm_distribution

        fig = socm_distribution(runs)
    elif kind == "candidates":
        from socm.output.candidates import candidates_figure

        fig = candidates_figure(runs[0])
    else:
        view = _correlation(args, runs, required=True)
        fig = correlation_figure(
            view["result"],
            paper_families(),
            measured=view["measured"],
            measured_result=view["measured_result"],
            score_source=view["score_source"],
        )
        for note in view["notes"]:
            warn(note)
    default = (
        f"{runs[0]}/scatter.png" if kind == "scatter" and len(runs) == 1 else f"socm-{kind}.png"
    )
    print(save(fig, args.out or default))
    return 0


def cmd_pair(args: argparse.Namespace) -> int:
    """``socm pair``: returns the exit code."""
    from socm.analyses.pair import check_revision, explain_pair, pair_numbers
    from socm.output import pair_figure, save

    given = {k: getattr(args, k) for k in _FOLLOWED if getattr(args, k) is not None}
    followed = _follow_mine(args, given) if args.from_mine else None
    if followed is None:
        if not (args.text_a and args.text_b):
            raise SocmError("give two texts, or --from-mine RUN_DIR RANK")
        settings = {k: getattr(MeasureConfig(), k) for k in _FOLLOWED}
        settings.update(given)
        cache_dtype = "float32"
    else:
        settings, cache_dtype = followed
    for name, value in settings.items():
        setattr(args, name, value)
    base = config_from_args(args)
    if args.run:
        read_summary(args.run)  # a bad --run fails before any model is loaded
    panels = explain_pair(args.text_a, args.text_b, args.model, base, cache_dtype=cache_dtype)
    if args.from_mine:
        check_revision(panels[0], read_mine_summary(args.from_mine[0]), "the mine run")
    percentiles = _percentiles(args.run, panels) if args.run else None
    path = save(pair_figure(panels, label_k=args.label_tokens, percentiles=percentiles), args.out)
    numbers = [pair_numbers(p) for p in panels]
    for n, pct in zip(numbers, percentiles or [None] * len(numbers), strict=True):
        if pct:
            n["run_percentile"] = pct
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
            + (
                f", SOCM percentile in {args.run}: {n['run_percentile']['percentile']:.1f}"
                if "run_percentile" in n
                else ""
            )
        )
    print(f"figure: {path}")
    return 0


def _follow_mine(args: argparse.Namespace, given: dict) -> tuple[dict, str]:
    """With ``--from-mine RUN RANK``: the pair's texts (into ``args``), and the settings and
    storage precision the run measured them with; ``--model`` must name the run's model
    first (a second one adds a panel with the run's token policy)."""
    from socm.analyses.mine import pair_texts
    from socm.analyses.pair import follow_run

    if args.text_a or args.text_b:
        raise SocmError("give two texts or --from-mine RUN_DIR RANK, not both")
    run_dir, rank = args.from_mine  # the parser checked RANK
    record = read_mine_summary(run_dir)
    settings = follow_run(record, f"the mine run {run_dir}", given)
    model = settings.pop("model")
    if args.model and args.model[0] != model:
        raise SocmError(
            f"--model {args.model[0]} contradicts the mine run {run_dir}, which was measured "
            f"with {model}: drop it, or name {model} first and the other model second"
        )
    args.model = args.model or [model]
    args.text_a, args.text_b, _ = pair_texts(run_dir, rank)
    return settings, settings.pop("cache_dtype")


def _percentiles(run: str, panels: list[dict]) -> list[dict | None]:
    """Per panel, the pair's SOCM percentile among ``run``'s pairs when the pair was measured
    as the run measured its pairs (model and its revision, layer, token policy, numerics);
    otherwise none, with a warning saying what differs."""
    from socm.analyses.pair import differences
    from socm.output import run_label, socm_percentile

    s = read_summary(run)
    out: list[dict | None] = []
    for p in panels:
        differ = differences(p, s)
        if differ:
            warn(
                f"--run {run} was measured with {', '.join(differ)}: no percentile for "
                f"{p['model']} (it would compare numbers of other settings)"
            )
            out.append(None)
            continue
        pct = socm_percentile(run, p["socm"])
        out.append({**pct, "run": str(run), "label": run_label(run)})
    return out


def cmd_report(args: argparse.Namespace) -> int:
    """``socm report``: returns the exit code."""
    from socm.inputs.paper_table import paper_families
    from socm.output import build_report

    path = build_report(
        args.runs,
        Path(args.out),
        backbone=args.backbone,
        families=paper_families(),
        scores_csv=args.scores,
        paper_table=args.paper_table,
        pair_views=args.pair_views,
    )
    print(path)
    return 0
