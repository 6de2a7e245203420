"""One-file HTML report of measure runs (the last stage).

The report embeds every figure as a PNG data URI and uses plain HTML and CSS (no JavaScript), so
it opens offline and can be sent as one file.
"""

from __future__ import annotations

import base64
import html
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from socm.errors import SocmError
from socm.files import atomic_write_bytes
from socm.measure.rundir import read_summary, run_file, summary_row

__all__ = ["build_report", "run_rows", "worst_pairs"]


def run_rows(runs: list[Path], backbone: Path | None = None) -> list[dict]:
    """One summary row per run, with the difference in average SOCM to the backbone run."""
    rows = []
    base = read_summary(backbone)["avg_socm"] if backbone else None
    for run in runs:
        s = read_summary(run)
        rows.append(
            {
                **summary_row(s, run),
                "delta_vs_backbone": None if base is None else s["avg_socm"] - base,
            }
        )
    return rows


def worst_pairs(run: Path, k: int = 10) -> list[dict]:
    """The ``k`` pairs with the largest SOCM, with both texts."""
    import pyarrow.parquet as pq

    t = pq.read_table(run_file(run, "pairs.parquet")).to_pydict()
    texts_file = run_file(run, "texts.jsonl")
    texts = {}
    for line in texts_file.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        texts[rec["id"]] = rec["text"]
    order = np.argsort(-np.asarray(t["socm"]), kind="stable")[:k]
    return [
        {
            "text1_id": t["text1_id"][i],
            "text2_id": t["text2_id"][i],
            "text1": texts.get(t["text1_id"][i], ""),
            "text2": texts.get(t["text2_id"][i], ""),
            "d_mu": t["d_mu"][i],
            "d_sigma": t["d_sigma"][i],
            "socm": t["socm"][i],
        }
        for i in order
    ]


def _png(fig) -> str:
    from socm.output.plots import figure_bytes

    return "data:image/png;base64," + base64.b64encode(figure_bytes(fig, dpi=110)).decode()


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;border-bottom:1px solid #ddd;
padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.l,th.l{text-align:left}
.pairs td{text-align:left;max-width:420px}.num{text-align:right;white-space:nowrap}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.88em;color:#555}.muted{color:#666;font-size:.9em}
code{background:#f4f4f4;padding:0 .2em}
"""


def _fmt(x, spec: str = ".5f") -> str:
    return "—" if x is None else format(x, spec)


def _check_out(out: Path) -> None:
    """Refuse an output path the report cannot be written to, before any work.

    Refused: an existing folder, a path under an existing file, a folder (the nearest existing
    one above ``out``) that cannot be written to.
    """
    if out.is_dir():
        raise SocmError(f"--out {out} is a folder: give a file name such as {out / 'report.html'}")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise SocmError(f"--out {out}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SocmError(f"--out {out}: cannot write in {parent} (permission denied)")


def build_report(
    runs: list[Path],
    out: Path,
    backbone: Path | None = None,
    correlation: dict | None = None,
    families: dict[str, str] | None = None,
) -> Path:
    """Write a self-contained HTML report of ``runs`` to ``out``.

    Contents: a summary table (Δ vs ``backbone`` when given), the SOCM heatmap, each run's
    scatter plot, per-layer curves when runs have ``socm layers``/``mechanism`` results, the
    correlation figure when ``correlation`` (a :func:`socm.analyses.correlate.correlate` result) is
    given, the 10 worst-collapsing pairs of each run with both texts, settings and versions.

    An ``out`` that is an existing folder, lies under a file or in a folder that cannot be
    written to is refused (:class:`SocmError`) before any work.
    """
    from socm.output import plots

    _check_out(Path(out))
    runs = [Path(r) for r in runs]
    if not runs:
        raise SocmError("socm report needs at least one run folder")
    rows = run_rows(runs, backbone)
    esc = html.escape
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>socm report</title><style>{CSS}</style></head><body>",
        "<h1>Second-order collapse report</h1>",
        "<p class='muted'>SOCM = (1 − d<sub>μ</sub>) · d<sub>Σ</sub>: large when two texts' "
        "mean-pooled embeddings agree (small d<sub>μ</sub>) while their token "
        "distributions differ in shape (large Bures–Wasserstein d<sub>Σ</sub>), i.e. "
        "information mean pooling destroys (Hara et al., ACL 2026). Generated "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.</p>",
        "<h2>Summary</h2><table><tr><th class='l'>model</th><th class='l'>corpus</th>"
        "<th>texts</th><th>pairs</th><th>avg SOCM</th><th>Δ vs backbone</th>"
        "<th>avg d<sub>μ</sub></th><th>avg d<sub>Σ</sub></th><th>avg spread</th>"
        "<th>texts with spread &gt; 2</th><th>numerics</th></tr>",
    ]
    for r in rows:
        delta = "—" if r["delta_vs_backbone"] is None else f"{r['delta_vs_backbone']:+.5f}"
        parts.append(
            f"<tr><td class='l'>{esc(r['model'])}</td><td class='l'>{esc(r['corpus'])}</td>"
            f"<td>{r['n_texts']:,}</td><td>{r['n_pairs']:,}</td><td>{r['avg_socm']:.5f}</td>"
            f"<td>{delta}</td><td>{r['avg_d_mu']:.5f}</td><td>{r['avg_d_sigma']:.5f}</td>"
            f"<td>{_fmt(r['avg_normalized_spread'], '.4f')}</td>"
            f"<td>{r['share_spread_over_2']:.1%}</td><td>{esc(r['numerics'])}</td></tr>"
        )
    parts.append("</table>")
    if backbone:
        parts.append(f"<p class='muted'>Backbone: {esc(str(backbone))}.</p>")
    parts.append("<h2>How to read SOCM</h2>")
    parts.append(
        f"<figure><img alt='SOCM heatmap' src='{_png(plots.heatmap())}'>"
        "<figcaption>SOCM over the (d<sub>μ</sub>, d<sub>Σ</sub>) unit square: the "
        "top-left corner is collapse.</figcaption></figure>"
    )
    parts.append("<h2>Pairs in the (d<sub>μ</sub>, d<sub>Σ</sub>) plane</h2>")
    for run, r in zip(runs, rows, strict=True):
        parts.append(
            f"<figure><img alt='scatter {esc(r['model'])}' "
            f"src='{_png(plots.scatter(run))}'><figcaption>{esc(r['model'])} on "
            f"{esc(r['corpus'])}: each point a pair, colour = SOCM; subsampled to "
            "20,000 pairs (seed 0) when larger.</figcaption></figure>"
        )
    layered = [
        run
        for run in runs
        if (run / "layers.parquet").is_file() or (run / "mechanism.parquet").is_file()
    ]
    if layered:
        parts.append("<h2>Layer by layer</h2>")
        parts.append(
            f"<figure><img alt='layers' src='{_png(plots.layers_figure(layered))}'>"
            "<figcaption>Median over texts with interquartile band.</figcaption>"
            "</figure>"
        )
    if correlation:
        parts.append("<h2>Collapse and downstream quality</h2>")
        fig = plots.correlation_figure(correlation, families)
        parts.append(f"<figure><img alt='correlation' src='{_png(fig)}'></figure>")
    parts.append("<h2>Worst-collapsing pairs</h2>")
    for run, r in zip(runs, rows, strict=True):
        parts.append(
            f"<h3>{esc(r['model'])} — top 10 by SOCM</h3><table class='pairs'>"
            "<tr><th>#</th><th class='l'>text 1</th><th class='l'>text 2</th>"
            "<th>d<sub>μ</sub></th><th>d<sub>Σ</sub></th><th>SOCM</th></tr>"
        )
        for k, p in enumerate(worst_pairs(run), 1):
            parts.append(
                f"<tr><td class='num'>{k}</td><td>{esc(p['text1'])}</td>"
                f"<td>{esc(p['text2'])}</td><td class='num'>{p['d_mu']:.4f}</td>"
                f"<td class='num'>{p['d_sigma']:.4f}</td>"
                f"<td class='num'>{p['socm']:.4f}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h2>Settings and versions</h2>")
    for run in runs:
        s = read_summary(run)
        settings = {
            k: s.get(k)
            for k in (
                "model",
                "revision",
                "corpus",
                "unit",
                "n_texts",
                "n_pairs",
                "pairs",
                "seed",
                "numerics",
                "layer",
                "token_policy",
                "timings",
                "device",
                "created",
            )
        }
        parts.append(f"<h3>{esc(str(run))}</h3><table>")
        for k, v in {
            **settings,
            **{f"version {p}": ver for p, ver in s.get("versions", {}).items()},
        }.items():
            val = json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else str(v)
            parts.append(
                f"<tr><th class='l'>{esc(k)}</th><td class='l'><code>{esc(val)}</code></td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    out = Path(out)
    atomic_write_bytes(out, "\n".join(parts).encode("utf-8"))
    return out
