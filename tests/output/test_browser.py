"""The report in a real browser: headless Chromium loads it, hovers, and runs nothing else.

One Chromium run: the page's own script simulates the hovers when the address ends in
``#selftest`` and writes what the tooltip showed, how many clamped text cells are cut and
where the contents bar stands after scrolling to the end into attributes of ``<html>``;
``--dump-dom`` prints the resulting DOM, ``--screenshot`` takes a picture and
``--enable-logging=stderr`` prints every console message (script errors, scripts the page's
policy refused). The report holds a run of sampled pairs and a mine run, whose captions the
rendered page must state with the runs' own counts.
Skipped, with the reason shown, where Chromium is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import html
import html.parser
import json
import shutil
import subprocess

import numpy as np
import pyarrow.parquet as pq
import pytest

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium not found: the report's browser test needs it "
    "(apt-get install chromium; .ci/run installs it)",
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]


def chromium(url: str, profile, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, url],
        capture_output=True,
        text=True,
        timeout=90,
    )


class Dom(html.parser.HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.title = ""
        self.text = ""  # the page's visible text, outside scripts and styles
        self._in_title = False
        self._hidden = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_title = tag == "title"
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._in_title = False
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif not self._hidden:
            self.text += data


def console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def browser(tmp_path_factory, evil_run, sampled_run, mine_dir):
    """The report of the :data:`EVIL` run, a run of sampled pairs and the mine folder, opened
    once in Chromium with ``#selftest``: the DOM after the script ran, the console, a
    screenshot."""
    from socm.output.report import build_report

    tmp = tmp_path_factory.mktemp("browser")
    report = build_report([evil_run, sampled_run, mine_dir], tmp / "report.html", pair_views=0)
    png = tmp / "report.png"
    done = chromium(
        report.as_uri() + "#selftest",
        tmp / "profile",
        "--dump-dom",
        f"--screenshot={png}",
        "--window-size=1000,1400",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done, png


def test_report_hovers_in_chromium_and_runs_no_text_as_code(browser, evil_texts):
    done, _ = browser
    assert console(done.stderr) == []  # no script error, no refused (injected) script
    dom = Dom(done.stdout)
    root = next(a for t, a in dom.tags if t == "html")
    assert root.get("data-selftest") == "done", root
    assert root["data-js-errors"] == "0" and root["data-csp-violations"] == "0"
    cell, mark = (
        html.unescape(root["data-selftest-cell"]),
        html.unescape(root["data-selftest-mark"]),
    )
    row, text = html.unescape(root["data-selftest-row"]), html.unescape(root["data-selftest-text"])
    for shown in (cell, mark, row):
        assert "SOCM" in shown and "[<b>t" in shown  # numbers and both ids
        assert sum(e in shown for e in evil_texts) == 2  # both texts, as text
    assert "#1 of the top pairs" in mark and root["data-selftest-row-lit"] == "yes"
    assert "mean SOCM" in text and any(e in text for e in evil_texts)
    # nothing from the texts became markup or ran
    assert "data-pwned" not in root and dom.title == "socm report"
    assert sum(t == "script" for t, _ in dom.tags) == 2
    assert not [
        (t, k) for t, a in dom.tags for k in a if k.startswith("on")
    ]  # no event handler attribute anywhere
    assert not [a for t, a in dom.tags if t == "img" and not a["src"].startswith("data:image/")]


def test_rendered_captions_state_the_runs_own_counts(browser, sampled_run, mine_dir):
    done, _ = browser
    dom = Dom(done.stdout)
    text = " ".join(dom.text.split())
    s = json.loads((sampled_run / "summary.json").read_text())
    n = s["n_texts"]
    sampled = f"{s['n_pairs']:,} sampled of {n * (n - 1) // 2:,} pairs"
    assert s["n_pairs"] < n * (n - 1) // 2
    assert text.count(sampled) >= 3  # summary table, quantiles, density caption (and more)
    assert f"all {s['n_pairs']:,} pairs" not in text
    assert "(sample max)" in text
    m = json.loads((mine_dir / "mine_summary.json").read_text())
    kept = pq.read_metadata(mine_dir / "candidates.parquet").num_rows
    assert m["n_kept"] == kept < m["n_candidates"]
    assert f"kept {kept:,} from {m['n_candidates']:,} scored candidates" in text
    assert f"the share of {m['random_pair_cosines']['n_pairs']:,} random pairs" in text
    ids = {a["id"] for _, a in dom.tags if "id" in a}
    assert {"overview", "summary", "distribution", "drivers", "pairs", "mine-1", "settings"} <= ids
    assert "Your runs beside the paper's models" in text and "What drives the average" in text


def test_contents_bar_stays_on_top_and_long_texts_are_clamped(browser):
    done, _ = browser
    root = next(a for t, a in Dom(done.stdout).tags if t == "html")
    position, top, scrolled = root["data-selftest-nav"].split()
    assert position == "sticky" and top == "0" and int(scrolled) > 2000  # at the page's end
    assert int(root["data-selftest-clamped"]) > 0  # some long text is cut to four lines


def test_report_screenshot_is_not_blank(browser):
    from PIL import Image

    _, png = browser
    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.shape[:2] == (1400, 1000)
    assert img.std() > 20  # not one colour
    packed = (
        (img[..., 0].astype(np.int32) << 16) | (img[..., 1].astype(np.int32) << 8) | img[..., 2]
    )
    assert len(np.unique(packed)) > 200  # text, tables, a figure
    assert (img.mean(axis=2) < 100).mean() > 0.005  # dark ink on the page
