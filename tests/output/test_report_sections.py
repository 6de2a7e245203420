"""Report v3 (issue 24): captions that state only the runs' counts, labels that tell runs
apart, paired Δ, the runs beside the paper, shared density scales, the SOCM distribution,
layers with intervals, what drives the average, the mine section and one settings table."""

from __future__ import annotations

import html
import json
import re
import shutil
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest

from output.test_figures import all_text, close
from output.test_report import Page
from socm import output as plots
from socm.analyses.compare import paired_delta
from socm.inputs.paper_table import load_paper_table, paper_differences
from socm.measure.summary import format_summary, pairs_words
from socm.output.candidates import SHORT_TOKENS
from socm.output.data import scan_pairs, shared_limits
from socm.output.overview import overview_rows
from socm.output.report import build_report
from socm.output.style import run_labels


def rows_with(page: Page, attr: str) -> list[dict]:
    return [r for r in page.rows if attr in r["attrs"]]


def edited_copy(run, folder, **changes):
    """A copy of a run folder whose summary.json has ``changes``."""
    shutil.copytree(run, folder)
    s = json.loads((folder / "summary.json").read_text())
    s.update(changes)
    (folder / "summary.json").write_text(json.dumps(s))
    return folder


@pytest.fixture(scope="module")
def sampled_page(sampled_run, tmp_path_factory):
    out = build_report([sampled_run], tmp_path_factory.mktemp("sampled") / "r.html")
    return out.read_text(encoding="utf-8")


def test_a_sampled_run_is_named_sampled_of_its_possible_pairs_everywhere(sampled_run, sampled_page):
    s = json.loads((sampled_run / "summary.json").read_text())
    n = s["n_texts"]
    words = f"{s['n_pairs']:,} sampled of {n * (n - 1) // 2:,} pairs"
    assert s["pairs"] == "sampled" and s["n_pairs"] < n * (n - 1) // 2
    assert pairs_words(s) == words
    printed = format_summary(s, sampled_run)  # the table socm measure prints
    assert words in printed and "q10/q50/q90/q99 (of the sample)" in printed
    fig = plots.scatter(sampled_run)
    assert words in all_text(fig) and f"all {s['n_pairs']:,}" not in all_text(fig)
    close(fig)
    page = Page(sampled_page)
    cells = page.cell_texts()
    assert words in cells  # summary and quantile tables
    largest = float(pq.read_table(sampled_run / "pairs.parquet")["socm"].to_numpy().max())
    assert f"{largest:.4f} (sample max)" in cells
    assert sampled_page.count(words) >= 4  # tables, distribution and density captions
    assert f"all {s['n_pairs']:,} pairs" not in sampled_page


def test_labels_tell_apart_runs_differing_by_policy_layer_prefix_numerics(
    runs, policy_run, tmp_path
):
    s = json.loads((runs[0] / "summary.json").read_text())
    policy = dict(s["token_policy"])
    copies = [
        edited_copy(runs[0], tmp_path / "layer", layer=3),
        edited_copy(runs[0], tmp_path / "prefix", token_policy={**policy, "prefix": "query: "}),
        edited_copy(runs[0], tmp_path / "paper", numerics="paper"),
        edited_copy(runs[0], tmp_path / "seed", seed=7),
    ]
    labels = run_labels([runs[0], policy_run, *copies])
    assert len(set(labels)) == len(labels), labels
    assert "special tokens excluded" in labels[1] and "special" not in labels[0]
    assert "layer 3" in labels[2] and "prefix 'query: '" in labels[3]
    assert "paper numerics" in labels[4] and "numerics" not in labels[0]
    assert "seed 7" in labels[5]


def test_delta_to_the_backbone_has_the_paired_interval_of_socm_compare(runs, policy_run, tmp_path):
    out = build_report([runs[0], policy_run, runs[1]], tmp_path / "d.html", backbone=runs[0])
    cells = Page(out.read_text(encoding="utf-8")).cell_texts()
    paired = paired_delta(runs[0], policy_run)
    lo, hi = paired["ci"]
    expected = f"{paired['delta']:+.5f} ± {(hi - lo) / 2:.5f}" + (" *" if not lo <= 0 <= hi else "")
    assert expected in cells
    assert "backbone" in cells  # the backbone's own row
    other = paired_delta(runs[0], runs[1])
    assert other["ci"] is None and other["note"]  # different texts: no paired interval...
    # ...and no Δ at all: its average is not over the backbone's pairs (said under the table)
    text = html.unescape(out.read_text(encoding="utf-8"))
    assert "it measured other numerics than the backbone, so the two averages" in text


def test_runs_beside_the_papers_models_with_what_differs(runs, tmp_path):
    rows = overview_rows(runs)
    assert any(d.startswith("corpus wiki1m_head.txt") for d in rows[0]["differences"])
    assert any(d.startswith("exact numerics") for d in rows[0]["differences"])
    assert not any("numerics" in d for d in rows[1]["differences"])  # runs[1]: paper numerics
    as_paper = edited_copy(
        runs[1], tmp_path / "as-paper", corpus="wiki1m", n_texts=1000, seed=0, pairs="all"
    )
    assert paper_differences(json.loads((as_paper / "summary.json").read_text())) == []
    fig = plots.overview_figure([runs[0], as_paper])
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    models = load_paper_table()["models"]
    assert sum(t.startswith("paper: ") for t in ticks) == len(models) == 12
    ours = [c.lines[0] for c in ax.containers]  # the runs' error bars
    assert len(ours) == 2
    assert ours[0].get_markerfacecolor() == "white"  # measured differently: hollow
    assert ours[1].get_markerfacecolor() != "white"  # as the paper: filled
    assert "≠ paper: corpus" in all_text(fig) and "as in the paper" in all_text(fig)
    close(fig)


def test_densities_share_bins_and_one_colour_scale_with_the_tail_visible(runs):
    from matplotlib.colors import to_rgb

    limits = shared_limits(runs)
    scans = [scan_pairs(r, limits) for r in runs]
    assert limits.bins and all(len(sc.mu_edges) == limits.bins + 1 for sc in scans)
    assert np.array_equal(scans[0].sigma_edges, scans[1].sigma_edges)
    lo = min(1 / sc.n_pairs for sc in scans)
    hi = max(sc.hist.max() / sc.n_pairs for sc in scans)
    figs = [plots.scatter(r, limits=limits, share_range=(lo, hi)) for r in runs]
    for fig in figs:
        ax = next(a for a in fig.axes if a.get_label() == "pairs")
        mesh = next(c for c in ax.collections if c.get_cmap().name == "magma_r_tail")
        assert (mesh.norm.vmin, mesh.norm.vmax) == pytest.approx((lo, hi))  # one scale
        r, g, b = to_rgb(mesh.get_cmap()(0.0))  # the colour of a cell of a single pair
        assert 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.8  # not near-white
        numbers = [t for t in ax.texts if t.get_text().isdigit()]
        assert numbers and all(t.arrow_patch is not None for t in numbers)  # leader lines
        assert all(t.get_fontsize() >= 9 for t in numbers)
        close(fig)


def test_socm_distribution_histogram_cdf_quantiles_and_mean(runs, sampled_run):
    fig = plots.socm_distribution([runs[0], sampled_run])
    hist_ax, cdf_ax = fig.axes[:2]
    s = json.loads((runs[0] / "summary.json").read_text())
    q = s["socm_quantiles"]
    points = {
        (round(float(line.get_xdata()[0]), 9), float(line.get_ydata()[0]))
        for line in cdf_ax.lines
        if len(line.get_xdata()) == 1
    }
    for key in ("0.1", "0.5", "0.9", "0.99"):
        assert (round(q[key], 9), float(key)) in points
    curves = [line for line in cdf_ax.lines if len(line.get_xdata()) > 2]
    assert len(curves) == 2 and all(c.get_ydata()[-1] == pytest.approx(1.0) for c in curves)
    means = [line.get_xdata()[0] for line in hist_ax.lines if len(set(line.get_xdata())) == 1]
    assert s["avg_socm"] in means
    assert pairs_words(json.loads((sampled_run / "summary.json").read_text())) in all_text(fig)
    close(fig)


def test_layers_d_mu_d_sigma_socm_with_intervals_log_and_missing_runs_named(runs, tmp_path):
    recs = json.loads((runs[0] / "layers_summary.json").read_text())
    for r in recs:  # socm layers --socm records each layer's averages with intervals
        for m in ("socm", "d_mu", "d_sigma"):
            lo, hi = r[f"avg_{m}_ci95"]
            assert lo < r[f"avg_{m}"] < hi
    no_mech = tmp_path / "no-mechanism"
    shutil.copytree(runs[0], no_mech)
    (no_mech / "mechanism.parquet").unlink()
    fig = plots.layers_figure([runs[0], no_mech, runs[1]], log="auto")
    labels = run_labels([runs[0], no_mech, runs[1]])
    titles = {a.get_title().split("\n")[0]: a for a in fig.axes if a.get_title()}
    for name in ("Average SOCM", r"Average $d_\mu$", r"Average $d_\Sigma$"):
        ax = next(a for t, a in titles.items() if t.startswith(name))
        assert ax.collections  # the interval bands
    socm = [r["avg_socm"] for r in recs]
    socm_ax = next(a for t, a in titles.items() if t.startswith("Average SOCM"))
    assert socm_ax.get_yscale() == ("log" if max(socm) / min(socm) > 4 else "linear")
    mech = next(a for t, a in titles.items() if t.startswith(r"$\lambda$"))
    assert "not measured: " + labels[1] in mech.get_title().replace("\n", " ")
    assert labels[2] in fig._suptitle.get_text().replace("\n", " ")  # no per-layer results
    close(fig)
    linear = plots.layers_figure([runs[0]], log=False)
    assert all(a.get_yscale() == "linear" for a in linear.axes)
    close(linear)


def test_spread_socm_relation_stated_with_the_measured_r(runs, tmp_path):
    out = build_report([runs[0]], tmp_path / "r.html")
    body = out.read_text(encoding="utf-8")
    texts = [json.loads(x) for x in (runs[0] / "texts.jsonl").read_text().splitlines()]
    x = np.array([t["normalized_spread"] for t in texts])
    y = np.array([t["mean_socm"] for t in texts])
    r = float(np.corrcoef(x, y)[0, 1])
    assert f"r = {r:.2f} over {len(texts)} texts" in body
    assert "What drives the average" in body
    fig = plots.spread_socm_figure([runs[0]])
    assert f"r = {r:.2f}" in all_text(fig)
    line = next(
        ln for ln in fig.axes[0].lines if len(ln.get_xdata()) == 2 and ln.get_xdata()[0] != 2
    )
    slope = np.diff(line.get_ydata())[0] / np.diff(line.get_xdata())[0]
    assert slope == pytest.approx(np.polyfit(x, y, 1)[0])
    close(fig)


@pytest.fixture(scope="module")
def mine_page(wiki_mine, tmp_path_factory):
    out = build_report([wiki_mine], tmp_path_factory.mktemp("mine") / "m.html", pair_views=3)
    return out.read_text(encoding="utf-8")


def test_mine_section_capped_per_text_percentiles_short_texts_figure_and_pair_views(
    wiki_mine, mine_page
):
    s = json.loads((wiki_mine / "mine_summary.json").read_text())
    cand = pq.read_table(wiki_mine / "candidates.parquet").to_pylist()
    texts = {t["id"]: t for t in pq.read_table(wiki_mine / "texts.parquet").to_pylist()}
    assert len(cand) == s["n_kept"] < s["n_candidates"]
    assert f"kept {len(cand):,} from {s['n_candidates']:,} scored candidates" in mine_page
    assert f"the share of {s['random_pair_cosines']['n_pairs']:,} random pairs" in mine_page
    page = Page(mine_page)
    data = json.loads(next(t for a, t in page.scripts if a.get("type") == "application/json"))
    rows = rows_with(page, "data-pair")
    seen: Counter = Counter()
    uncapped: Counter = Counter()
    for p in cand:
        uncapped.update([p["text1_id"], p["text2_id"]])
    assert max(uncapped.values()) > 2  # the cap matters for this run
    by_pair = {(p["text1_id"], p["text2_id"]): p for p in cand}
    flagged, order = 0, []
    for r in rows:
        run, idx = map(int, r["attrs"]["data-pair"].split(":"))
        pair = data["runs"][run]["pairs"][idx]
        ids = [data["runs"][run]["texts"][pair[k]][0] for k in (0, 1)]
        seen.update(ids)
        p = by_pair[tuple(ids)]
        order.append(tuple(ids))
        cells = ["".join(c).strip() for c in r["cells"]]
        assert any(c.startswith(f"{p['cosine']:.4f}") and f"> {p['cosine_percentile']:.2f}%" in c
                   for c in cells)  # fmt: skip
        for side, tid in zip((1, 2), ids, strict=True):
            short = texts[tid]["n_tokens"] < SHORT_TOKENS
            cell = cells[side]
            assert cell.startswith(f"short: {texts[tid]['n_tokens']} tokens") == short
            flagged += short
    capped, count = [], Counter()  # the kept pairs best first, each text in at most 2 rows
    for p in sorted(cand, key=lambda p: p["rank"]):
        if count[p["text1_id"]] < 2 and count[p["text2_id"]] < 2 and len(capped) < 25:
            count.update([p["text1_id"], p["text2_id"]])
            capped.append(p["rank"])
    shown = [by_pair[key]["rank"] for key in order]
    assert shown == capped and max(seen.values()) <= 2
    assert flagged > 0
    imgs = [a["alt"] for t, a in page.tags if t == "img"]
    assert any(alt.startswith("kept pairs of") for alt in imgs)
    assert [alt for alt in imgs if alt.endswith("token by token")] == [
        f"pair {k} token by token" for k in (1, 2, 3)
    ]


def test_mine_report_without_pair_views_loads_no_model(wiki_mine, tmp_path, monkeypatch):
    import socm.measure.config as config

    def refuse(*a, **k):
        raise AssertionError("no model is loaded without pair views")

    monkeypatch.setattr(config, "make_encoder", refuse)
    body = build_report([wiki_mine], tmp_path / "m.html", pair_views=0).read_text()
    assert "token by token" not in body and "kept" in body


@pytest.fixture(scope="module")
def page(full_report):
    return Page(full_report.read_text(encoding="utf-8"))


def test_one_settings_table_runs_as_columns_differences_highlighted(page):
    table_start = page.rows.index(
        next(r for r in page.rows if r["cells"] and "".join(r["cells"][0]) == "setting")
    )
    header = ["".join(c) for c in page.rows[table_start]["cells"]]
    assert len(header) == 1 + 4  # setting, then one column per folder of the report
    settings = {}
    for r in page.rows[table_start + 1 :]:
        cells = ["".join(c).strip() for c in r["cells"]]
        if len(cells) != len(header):
            break
        settings[cells[0]] = (r["attrs"].get("class") == "diff", cells[1:])
    assert settings["numerics"][0]  # exact, paper: highlighted
    assert not settings["model"][0] and not settings["timings.total_s"][0]
    assert "token_policy.special_tokens" in settings  # flattened, never raw JSON
    assert not [v for _, vals in settings.values() for v in vals if v[:1] in "{["]
    assert "neighbors" in settings and not settings["neighbors"][0]  # only the mine run has it


def test_long_texts_clamped_and_a_sticky_contents_bar(full_report):
    text = full_report.read_text(encoding="utf-8")
    cells = re.findall(r"<td class='txt'>(.*?)</td>", text)
    assert cells and all("<div class='clamp'>" in c for c in cells)
    assert "nav.toc{position:sticky;top:0" in text
