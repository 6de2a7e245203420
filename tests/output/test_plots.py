"""Figures and the HTML report from small real runs of the packaged model."""

from __future__ import annotations

import html.parser
import json

import numpy as np
import pytest
from conftest import MODEL

from socm import output as plots
from socm.cli import main
from socm.errors import SocmError
from socm.output.report import build_report, worst_pairs


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_heatmap_corners_golden():
    dmu, dsig, val = plots.socm_grid(11)
    corner = {(0, 0): 0.0, (0, -1): 0.0, (-1, 0): 1.0, (-1, -1): 0.0}  # [d_sigma row, d_mu col]
    for (r, c), expected in corner.items():
        assert val[r, c] == expected
    assert dmu[0, -1] == 1.0 and dsig[-1, 0] == 1.0
    assert val[5, 5] == pytest.approx(0.25)  # (1 - 0.5) * 0.5


def test_figure_commands_write_pngs(runs, tmp_path, capsys):
    r0 = str(runs[0])
    cases = [
        (["plot", "heatmap", "--out", str(tmp_path / "h.png")], "h.png"),
        (["plot", "scatter", r0, "--out", str(tmp_path / "s.png")], "s.png"),
        (["plot", "layers", r0, "--out", str(tmp_path / "l.png")], "l.png"),
        (["plot", "correlation", "--paper-table", "--out", str(tmp_path / "c.png")], "c.png"),
    ]
    sizes = {}
    for argv, name in cases:
        assert main(argv) == 0, argv
        sizes[name] = png_size(tmp_path / name)
    assert sizes["h.png"][0] > 600 and sizes["h.png"][1] > 500
    assert sizes["s.png"][0] > 700 and sizes["l.png"][0] > 1000  # 5 panels, 3 per row
    assert sizes["c.png"][0] > 700
    assert main(["plot", "heatmap", "--out", str(tmp_path / "h.svg")]) == 0
    assert (tmp_path / "h.svg").read_text().lstrip().startswith("<?xml")
    capsys.readouterr()


def test_pair_command(tmp_path, capsys):
    out = tmp_path / "p.png"
    assert (
        main(
            [
                "pair",
                "The bank raised rates.",
                "We sat on the river bank.",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)["results"][0]
    assert res["model"] == MODEL and 0 <= res["socm"] <= max(1, res["d_sigma"])
    assert res["n_tokens"] == [7, 9]
    w, h = png_size(out)
    assert w > 500 and h > 400


def test_report_contains_every_runs_numbers(runs, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", *map(str, runs), "--backbone", str(runs[1]), "--out", str(out)]) == 0
    capsys.readouterr()
    text = out.read_text(encoding="utf-8")

    class Cells(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.cells, self.imgs, self.scripts, self._in = [], [], 0, False

        def handle_starttag(self, tag, attrs):
            self._in = self._in or tag in ("td", "th")  # text in a cell's inner elements too
            if tag == "img":
                self.imgs.append(dict(attrs)["src"])
            self.scripts += tag == "script"

        def handle_endtag(self, tag):
            if tag in ("td", "th"):
                self._in = False

        def handle_data(self, data):
            if self._in:
                self.cells.append(data.strip())

    parser = Cells()
    parser.feed(text)
    for run in runs:
        s = json.loads((run / "summary.json").read_text())
        assert any(c.startswith(f"{s['avg_socm']:.5f} ± ") for c in parser.cells)
        for value in (
            f"{s['avg_d_mu']:.5f}",
            f"{s['avg_d_sigma']:.5f}",
            f"{s['share_spread_over_2']:.1%}",
        ):
            assert value in parser.cells
        top = worst_pairs(run, 1)[0]
        assert f"{top['socm']:.4f}" in parser.cells and top["text1"] in parser.cells
    assert "backbone" in parser.cells  # the backbone's own row
    # issue 14 made the report interactive: one JSON data block and one script (was: none)
    assert parser.scripts == 2 and len(parser.imgs) >= 4  # heatmap, 2 scatters, layers
    assert all(src.startswith("data:image/png;base64,") for src in parser.imgs)
    assert "version torch" in parser.cells


def test_missing_or_incomplete_runs(tmp_path, runs):
    with pytest.raises(SocmError, match="run folder not found"):
        plots.scatter(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "summary.json").write_text((runs[0] / "summary.json").read_text())
    with pytest.raises(SocmError, match="missing pairs.parquet"):
        plots.scatter(tmp_path / "half")
    with pytest.raises(SocmError, match="missing summary.json"):
        build_report([tmp_path], tmp_path / "r.html")
    with pytest.raises(SocmError, match="missing layers.parquet"):
        plots.layers_figure([tmp_path / "half"])
    assert np.isfinite(plots.ELLIPSE_K) and plots.ELLIPSE_K == pytest.approx(1.6651, abs=1e-4)


def test_report_out_is_checked_before_any_work(tmp_path, capsys, monkeypatch):
    """--out a folder, under a file, or in an unwritable folder: one line, before reading runs."""
    missing_run = str(tmp_path / "no-such-run")  # never read: the --out check comes first
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for out, message in [
        (tmp_path, f"--out {tmp_path} is a folder: give a file name such as "),
        (a_file / "report.html", f"{a_file} is a file, not a folder"),
        (a_file / "sub" / "report.html", f"{a_file} is a file, not a folder"),
    ]:
        code = main(["report", missing_run, "--out", str(out)])
        captured = capsys.readouterr()
        assert code == 1 and captured.out == "" and captured.err.count("\n") == 1
        assert captured.err.startswith("socm: error: --out ") and message in captured.err
    monkeypatch.setattr("socm.output.report.os.access", lambda path, mode: False)
    with pytest.raises(SocmError, match="cannot write in .*permission denied"):
        build_report([missing_run], tmp_path / "new" / "report.html")
    assert not (tmp_path / "new").exists()
