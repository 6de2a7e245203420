"""The figures of issue 14: colour, ranges, density of every pair, labels, layers, correlation."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import random_tokens

from socm import output as plots
from socm.cli import main
from socm.output.data import Limits, shared_limits
from socm.output.style import place_labels, pyplot, run_label


def all_text(fig) -> str:
    """Every string drawn in a figure (titles, labels, legends, annotations, tick labels)."""
    from matplotlib.text import Text

    return "\n".join(t.get_text() for t in fig.findobj(Text))


def colormaps(fig) -> set[str]:
    """Colour maps of the meshes and coloured points (contour lines have fixed colours)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.contour import ContourSet

    return {
        a.get_cmap().name
        for a in fig.findobj(
            lambda o: (
                isinstance(o, ScalarMappable)
                and not isinstance(o, ContourSet)
                and o.get_array() is not None
            )
        )
    }


def label_boxes(ax, annotations):
    """The labels' text boxes (without any leader line) in display space."""
    from matplotlib.text import Text

    fig = ax.figure
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    return [Text.get_window_extent(a, r) for a in annotations]


def overlapping(boxes) -> list[tuple[int, int]]:
    bad = []
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i], boxes[j]
            if min(a.x1, b.x1) - max(a.x0, b.x0) > 0.5 and min(a.y1, b.y1) - max(a.y0, b.y0) > 0.5:
                bad.append((i, j))
    return bad


def close(fig) -> None:
    pyplot().close(fig)


def test_colour_blind_safe_maps_and_no_colour_words(runs):
    figs = [plots.heatmap(overlay=runs), plots.scatter(runs[0]), plots.texts_figure(runs[0])]
    maps = set().union(*(colormaps(f) for f in figs))
    assert maps and maps <= {"viridis", "magma_r", "magma_r_tail", "cividis", "magma"}, maps
    for f in figs:
        words = all_text(f).lower()
        assert not any(w in words for w in ("green", "red ", "red:", "yellow")), words
        close(f)


def test_heatmap_covers_the_data_with_cosine_axis_and_rasterised_grid(runs, tmp_path):
    d_sigma_max = max(pq.read_table(r / "pairs.parquet")["d_sigma"].to_numpy().max() for r in runs)
    fig = plots.heatmap(overlay=runs)
    ax = fig.axes[0]
    assert ax.get_ylim()[1] >= max(1.5, d_sigma_max)
    assert any("cosine" in c.get_xlabel() for c in ax.child_axes)  # the secondary axis
    text = all_text(fig)
    assert "SOCM 0.5" in text and run_label(runs[0]) in text  # contours, overlay legend
    svg, pdf = tmp_path / "h.svg", tmp_path / "h.pdf"
    plots.save(fig, svg)
    assert svg.stat().st_size < 600_000 and "<image" in svg.read_text()  # grid as one image
    plots.save(plots.heatmap(), pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    with pytest.raises(Exception, match=r"\.png, \.svg or \.pdf"):
        plots.save(plots.heatmap(), tmp_path / "h.jpg")


def test_scatter_counts_every_pair_marks_top_pairs_and_overlays_runs(runs):
    fig = plots.scatter(runs[0], top_k=5)
    ax = next(a for a in fig.axes if a.get_label() == "pairs")
    mesh = next(c for c in ax.collections if c.get_cmap().name == "magma_r_tail")
    n = pq.read_metadata(runs[0] / "pairs.parquet").num_rows
    shares = np.asarray(mesh.get_array())
    assert shares.sum() == pytest.approx(1.0)  # shares of a 2-D histogram of all pairs
    assert shares[shares > 0].min() == pytest.approx(1 / n)  # a cell of one pair is drawn
    assert f"all {n:,} pairs" in all_text(fig)
    numbers = [t.get_text() for t in ax.texts if t.get_text().isdigit()]
    assert sorted(numbers, key=int) == ["1", "2", "3", "4", "5"]
    assert any(abs(line.get_ydata()[0] - 1.0) < 1e-12 for line in ax.lines)  # d_sigma = 1
    close(fig)
    both = plots.scatter(runs)
    ax = next(a for a in both.axes if a.get_label() == "pairs")
    lim = shared_limits(runs)
    assert ax.get_xlim() == pytest.approx((0, lim.d_mu)) and ax.get_ylim()[1] == lim.d_sigma
    text = all_text(both)
    assert all(run_label(r) in text for r in runs)
    close(both)


def test_texts_figure_single_and_overlaid(runs):
    fig = plots.texts_figure(runs[0])
    text = all_text(fig)
    assert "Texts ranked by normalised spread" in text and "mean SOCM" in text
    assert any(abs(line.get_xdata()[0] - 2.0) < 1e-12 for line in fig.axes[2].lines)  # at 2
    close(fig)
    fig = plots.texts_figure(runs)
    assert all(run_label(r) in all_text(fig) for r in runs)
    close(fig)


def test_layers_socm_spread_bound_labels_relative_depth(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs[0], run)
    recs = json.loads((run / "layers_summary.json").read_text())
    for r in recs:
        r["avg_socm"] = 0.5 + 0.1 * r["layer"]
    (run / "layers_summary.json").write_text(json.dumps(recs))
    fig = plots.layers_figure([run])
    text = all_text(fig)
    assert "Average SOCM over pairs" in text
    assert "H: a layer's input tokens" in text and "Y = H + attention output" in text
    assert "(all tokens) on " in text  # model + token policy + corpus
    panels = [a for a in fig.axes if a.get_visible() and a.get_title()]
    assert len({a.get_xlim() for a in panels}) == 1  # aligned x-axes
    assert all(a.get_ylabel() and a.get_xlabel() for a in panels)
    spread = next(a for a in panels if "spread" in a.get_title())
    assert any(abs(line.get_ydata()[0] - 2.0) < 1e-12 for line in spread.lines)
    close(fig)
    rel = plots.layers_figure([run], relative=True)
    panels = [a for a in rel.axes if a.get_visible() and a.get_title()]
    assert panels[0].get_xlim()[1] == pytest.approx(1.03)
    assert "relative depth" in panels[0].get_xlabel()
    close(rel)


def test_correlation_one_run_paper_table_labels_apart_arrows_note(runs, tmp_path, capsys):
    out = tmp_path / "c.png"
    assert main(["plot", "correlation", str(runs[0]), "--paper-table", "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000
    assert "no score for sentence-transformers/all-MiniLM-L6-v2" in capsys.readouterr().err
    from socm.output.data import correlation_view

    view = correlation_view([runs[0]], paper_table=True)
    assert view["measured"][0]["score"] is None and view["result"]["n_models"] == 12
    fig = plots.correlation_figure(view["result"], _families(), measured=view["measured"])
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_text() and not t.get_text().isdigit()]
    names = {t.get_text() for t in labels}
    assert {"all-mpnet-base-v2", "e5-small-v2"} <= names
    assert not overlapping(label_boxes(ax, labels))
    arrows = [t for t in ax.texts if t.get_text() == "" and t.arrow_patch is not None]
    assert len(arrows) == 8  # 12 models, 4 of them backbones
    text = all_text(fig)
    assert "±0.005" in text and "measured here" in text and "exact" in text
    close(fig)
    # scored runs: a CSV that scores one run's model
    csv = tmp_path / "scores.csv"
    csv.write_text("model,score\nsentence-transformers/all-MiniLM-L6-v2,0.56\n")
    assert main(["plot", "correlation", str(runs[0]), "--scores", str(csv), "--out", str(out)]) == 0
    capsys.readouterr()


def _families():
    from socm.inputs.paper_table import paper_families

    return paper_families()


def test_place_labels_never_overlap(rng):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4, 3))
    xs, ys = rng.normal(size=16) * 0.05, rng.normal(size=16) * 0.05  # a crowded cloud
    ax.scatter(xs, ys)
    ax.set_xlim(-0.3, 0.3)
    ax.set_ylim(-0.3, 0.3)
    anns = place_labels(ax, xs, ys, [f"token{k}" for k in range(16)])
    assert not overlapping(label_boxes(ax, anns))
    close(fig)


def test_pair_figure_labels_k_tokens_apart_spectra_percentile(rng):
    panels = []
    for _ in range(2):
        a, b = random_tokens(rng, 40, 24, rank=6), random_tokens(rng, 25, 24, rank=12)
        units = [t / np.linalg.norm(t.mean(0)) for t in (a, b)]
        panels.append(
            {
                "model": "org/model",
                "texts": ("text a " * 30, "text b"),
                "tokens": units,
                "labels": [[f"a{k}" for k in range(40)], [f"b{k}" for k in range(25)]],
                "d_mu": 0.1,
                "d_sigma": 0.6,
                "socm": 0.54,
                "normalized_spread": [float(plots.covariance_eigenvalues(u).sum()) for u in units],
            }
        )
    pct = {"percentile": 97.5, "n_pairs": 91, "label": "model on corpus"}
    fig = plots.pair_figure(panels, label_k=5, percentiles=[pct, None])
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_text()[:1] in "ab" and t.get_text()[1:].isdigit()]
    assert len(labels) == 10  # 5 per text
    assert not overlapping(label_boxes(ax, labels))
    text = all_text(fig)
    assert "97.5% of the 91 pairs" in text and "squared norm" in text
    assert f"tr Σ = {panels[0]['normalized_spread'][0]:.3f}" in text
    spectra = fig.axes[2]  # row 2 of a 2 x 2 grid
    assert spectra.get_yscale() == "log" and len(spectra.lines) == 2
    assert spectra.lines[0].get_ydata().sum() == pytest.approx(
        panels[0]["normalized_spread"][0]
    )  # eigenvalues sum to the spread
    close(fig)


def test_covariance_eigenvalues_sum_to_the_spread(rng):
    import socm

    x = random_tokens(rng, 17, 32)
    unit = x / np.linalg.norm(x.mean(0))
    assert plots.covariance_eigenvalues(unit).sum() == pytest.approx(
        socm.normalized_spread(x), rel=1e-9
    )


def test_limits_round_up():
    assert Limits.of(1.0, 3.62, 2.5) == Limits(1.0, 3.7, 2.5)


def test_plot_commands_new_kinds_flags_and_formats(runs, tmp_path, capsys):
    r0, r1 = map(str, runs)
    cases = [
        ["plot", "texts", r0, "--out", str(tmp_path / "t.png")],
        ["plot", "scatter", r0, r1, "--out", str(tmp_path / "s2.png")],
        ["plot", "heatmap", r0, r1, "--out", str(tmp_path / "h.pdf")],
        ["plot", "layers", r0, "--relative-depth", "--out", str(tmp_path / "l.svg")],
        [
            "plot",
            "scatter",
            r0,
            "--max-points",
            "500",
            "--top-k",
            "3",
            "--out",
            str(tmp_path / "s.png"),
        ],
    ]
    for argv in cases:
        assert main(argv) == 0, argv
    captured = capsys.readouterr()
    assert "--max-points is ignored" in captured.err
    assert (tmp_path / "h.pdf").read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "l.svg").stat().st_size < 2_000_000
    assert main(["plot", "heatmap", "--out", str(tmp_path / "h.gif")]) == 1
    assert ".png, .svg or .pdf" in capsys.readouterr().err


def test_pair_command_percentile_within_a_run(runs, tmp_path, capsys):
    out = tmp_path / "p.png"
    argv = ["pair", "The bank raised rates.", "We sat on the river bank.", "--out", str(out)]
    assert main([*argv, "--run", str(runs[0]), "--label-tokens", "3", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["results"][0]
    pct = res["run_percentile"]
    assert 0 <= pct["percentile"] <= 100 and pct["n_pairs"] == 91
    assert main([*argv, "--run", str(tmp_path / "missing")]) == 1  # before any model loads
    assert "run folder not found" in capsys.readouterr().err
