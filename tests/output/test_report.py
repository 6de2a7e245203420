"""The HTML report: sections, tables, intervals, mine runs, and texts that stay text."""

from __future__ import annotations

import base64
import hashlib
import html
import html.parser
import json
import re
import shutil

import pyarrow.parquet as pq
import pytest
from conftest import MODEL

from socm.cli import main
from socm.output.interactive import SCRIPT, script_json
from socm.output.report import build_report


class Page(html.parser.HTMLParser):
    """Tags, attributes, table rows and script contents of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.rows: list[dict] = []
        self.scripts: list[tuple[dict, str]] = []
        self.ids: set[str] = set()
        self._script: dict | None = None
        self._row: dict | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "script":
            self._script = a
            self.scripts.append((a, ""))
        if tag == "tr":
            self._row = {"attrs": a, "cells": []}
            self.rows.append(self._row)
        if tag in ("td", "th") and self._row is not None:
            self._cell = []
            self._row["cells"].append(self._cell)

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None
        if tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data):
        if self._script is not None:
            a, text = self.scripts[-1]
            self.scripts[-1] = (a, text + data)
        elif self._cell is not None:
            self._cell.append(data)

    def cell_texts(self) -> list[str]:
        return ["".join(c).strip() for r in self.rows for c in r["cells"]]


@pytest.fixture(scope="module")
def page(full_report):
    return Page(full_report.read_text(encoding="utf-8"))


def test_sections_and_table_of_contents(page, full_report):
    text = full_report.read_text(encoding="utf-8")
    anchors = re.findall(r"<a href='#([^']+)'>", text)
    assert anchors[:7] == [
        "overview",
        "summary",
        "distribution",
        "drivers",
        "read",
        "pairs",
        "top-pairs",
    ]
    assert {"texts", "layers", "correlation", "mine-1", "settings"} <= set(anchors)
    assert set(anchors) <= page.ids  # every entry leads somewhere
    assert "@media print" in text  # printable


def test_top_pairs_at_most_two_per_text_and_hover_keys(page):
    data = json.loads(next(s for a, s in page.scripts if a.get("type") == "application/json"))
    pair_rows = [r for r in page.rows if "data-pair" in r["attrs"]]
    per_run: dict[str, dict[str, int]] = {}
    for r in pair_rows:
        run, idx = map(int, r["attrs"]["data-pair"].split(":"))
        p = data["runs"][run]["pairs"][idx]
        texts = data["runs"][run]["texts"]
        seen = per_run.setdefault(str(run), {})
        for t in (p[0], p[1]):
            seen[texts[t][0]] = seen.get(texts[t][0], 0) + 1
        # the row shows the pair the hover shows
        cells = ["".join(c).strip() for c in r["cells"]]
        assert texts[p[0]][1].strip() in cells and texts[p[1]][1].strip() in cells
    assert len(per_run) == 4  # three measure runs and the mine run
    assert all(max(v.values()) <= 2 for v in per_run.values())  # measure runs and mine run
    text_rows = [r for r in page.rows if "data-text" in r["attrs"]]
    assert len(text_rows) >= 14 + 10 + 8  # every text of these small runs


def test_summary_quantiles_share_over_1_and_intervals(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs[0], run)
    s = json.loads((run / "summary.json").read_text())
    s["avg_socm_ci95"] = [s["avg_socm"] - 0.0087, s["avg_socm"] + 0.0087]
    s["avg_d_mu_ci95"] = None
    s["ci_level"], s["ci_method"] = 0.95, "jackknife over texts"
    (run / "summary.json").write_text(json.dumps(s))
    out = build_report([run], tmp_path / "ci.html")
    page = Page(out.read_text(encoding="utf-8"))
    cells = page.cell_texts()
    assert f"{s['avg_socm']:.5f} ± 0.00870" in cells
    body = out.read_text(encoding="utf-8")
    assert f"avg SOCM {s['avg_socm']:.4f} ± 0.0087 (95% CI)" in body
    assert "jackknife over texts" in body
    q = s["socm_quantiles"]
    assert all(f"{q[k]:.4f}" in cells for k in ("0.1", "0.5", "0.9", "0.99"))
    n = s["n_d_sigma_over_1"]
    assert f"{n:,} ({n / s['n_pairs']:.1%})" in cells
    for key in ("avg_socm_ci95", "avg_d_mu_ci95", "avg_d_sigma_ci95", "ci_level", "ci_method"):
        s.pop(key, None)
    (run / "summary.json").write_text(json.dumps(s))
    body = build_report([run], tmp_path / "no-ci.html").read_text(encoding="utf-8")
    assert "CI)" not in body and "± 0.0" not in body


def test_texts_are_escaped_everywhere(full_report, page, evil_texts):
    text = full_report.read_text(encoding="utf-8")
    for evil in evil_texts:
        if "<" in evil:
            assert evil not in text  # never raw, anywhere (cells, titles, JSON)
    assert len(re.findall(r"</script", text, flags=re.I)) == 2  # the two we wrote
    assert sum(tag == "script" for tag, _ in page.tags) == 2
    assert all(
        not name.startswith("on") for _, attrs in page.tags for name in attrs
    )  # no event handler attribute came through
    assert all(a["src"].startswith("data:image/png;base64,") for t, a in page.tags if t == "img")
    # the texts round-trip through the JSON block and the cells, unchanged
    data = json.loads(next(s for a, s in page.scripts if a.get("type") == "application/json"))
    shown = {t[1] for run in data["runs"] for t in run["texts"]}
    assert {e.strip() for e in evil_texts} <= shown  # as the corpus reader keeps them
    cells = set(page.cell_texts())
    assert {e.strip() for e in evil_texts} <= cells
    assert "<b>t0</b>&" in {t[0] for run in data["runs"] for t in run["texts"]}  # ids too


def test_script_json_and_content_security_policy(full_report, page):
    nasty = {"a": "</script><!--<script>", "b": "\u2028\u2029", "c": float("nan"), "d": "&<>"}
    out = script_json(nasty)
    assert "<" not in out and ">" not in out and "&" not in out
    assert "\u2028" not in out and "\u2029" not in out
    assert json.loads(out) == {"a": nasty["a"], "b": nasty["b"], "c": None, "d": "&<>"}
    meta = next(a for t, a in page.tags if t == "meta" and "http-equiv" in a)
    policy = meta["content"]
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy
    code = next(s for a, s in page.scripts if not a.get("type"))
    assert code == SCRIPT and "innerHTML" not in SCRIPT


def test_mine_section(page, full_report, mine_dir):
    text = full_report.read_text(encoding="utf-8")
    assert "Near pairs whose tokens differ most" in text and "relative d<sub>Σ</sub>" in text
    assert "onfus" not in text  # no pair is called confused: the evidence does not support it
    cells = page.cell_texts()
    cand = pq.read_table(mine_dir / "candidates.parquet").to_pylist()
    seen: dict[str, int] = {}
    shown = []
    for p in sorted(cand, key=lambda p: p["rank"]):  # each text in at most 2 rows
        if max(seen.get(p["text1_id"], 0), seen.get(p["text2_id"], 0)) < 2:
            for t in (p["text1_id"], p["text2_id"]):
                seen[t] = seen.get(t, 0) + 1
            shown.append(p)
    assert shown
    for p in shown:  # with its numbers
        assert f"{p['socm']:.4f}" in cells and f"{p['relative_d_sigma']:.4f}" in cells
        assert any(c.startswith(f"{p['cosine']:.4f}") for c in cells)
    for p in cand:
        if p not in shown:  # passed over for the cap, and counted as such
            assert f"{p['relative_d_sigma']:.4f}" not in cells
            assert "kept pairs passed over for that cap" in text
    assert html.escape("<b>t0</b>&") in text and any("<b>t" in c for c in cells)


def test_report_of_a_mine_folder_alone_and_paper_table_never_fails(
    mine_dir, runs, tmp_path, capsys
):
    out = tmp_path / "mine.html"
    assert main(["report", str(mine_dir), "--pair-views", "1", "--out", str(out)]) == 0
    body = out.read_text(encoding="utf-8")
    assert "Near pairs whose tokens differ most" in body
    assert "alt='pair 1 token by token'" in body and "pair 2 token by token" not in body
    out = tmp_path / "paper.html"
    assert main(["report", str(runs[0]), "--paper-table", "--out", str(out)]) == 0
    body = out.read_text(encoding="utf-8")
    assert "Collapse and downstream quality" in body
    assert f"no score for {MODEL}" in body
    csv = tmp_path / "scores.csv"
    csv.write_text("model,score\nsomeone/else,0.5\n")
    out = tmp_path / "scores.html"
    assert main(["report", str(runs[0]), "--scores", str(csv), "--out", str(out)]) == 0
    assert "No correlation figure" in out.read_text(encoding="utf-8")
    capsys.readouterr()
