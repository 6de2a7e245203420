"""The report's page: its frame, the data its script reads and how numbers are written.

:func:`page_html` wraps the sections' HTML in the page: the Content-Security-Policy (only the
page's one script may run, :func:`socm.output.interactive.csp`), the style sheet
(:data:`CSS` and the tooltip's), the title and introduction, the table of contents and, at
the end, the JSON block the script reads (:class:`PageData`, embedded with
:func:`socm.output.interactive.script_json`) and the script itself. Corpus texts never enter
the HTML unescaped: the sections escape them with ``html.escape``, the JSON block with
``script_json``, and the script shows them with ``textContent`` only.

The helpers write numbers (:func:`fmt`, :func:`ci_words`), embed figures (:func:`png`),
shorten texts for plain-text titles (:func:`short`), clamp long texts in cells
(:func:`text_cell`) and lay out the settings of every run as one table, runs as columns and
the rows where runs differ highlighted (:func:`settings_table`, :func:`flatten`).
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from socm.output.interactive import TOOLTIP_CSS, csp, script_json, script_tag
from socm.output.style import figure_bytes

__all__ = [
    "CSS",
    "PageData",
    "ci",
    "ci_words",
    "flatten",
    "fmt",
    "page_html",
    "png",
    "settings_table",
    "short",
    "text_cell",
]

CSS = """
html{scroll-padding-top:4.2em}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1180px;
margin:0 auto 2em;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin:.8em 0 .2em}h2{font-size:1.25em;border-bottom:1px solid #ddd;
padding-bottom:.2em;margin-top:1.8em}h3{font-size:1.05em;margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.3em .55em;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.l,th.l{text-align:left}
table.pairs td.txt{text-align:left;min-width:12em;max-width:28em;overflow-wrap:anywhere}
div.scroll{overflow-x:auto;max-width:100%}
td.id,span.id{font-family:ui-monospace,monospace;font-size:.85em;color:#555;text-align:left;
overflow-wrap:anywhere;min-width:7em;max-width:14em}
div.clamp{display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:4;overflow:hidden}
.num{text-align:right;white-space:nowrap}.wrap{white-space:normal;display:block;
max-width:13em;margin-left:auto}td ul{margin:0;padding-left:1.1em}
table.summary td.run{min-width:13em}table.summary td.pairs{max-width:9em}
.flag{display:inline-block;font-size:.78em;background:#fde7d6;color:#7a3300;border-radius:3px;
padding:0 .35em;margin-right:.3em;white-space:nowrap}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#444;max-width:62em}.muted{color:#555;font-size:.92em}
code{background:#f4f4f4;padding:0 .2em}
nav.toc{position:sticky;top:0;z-index:20;background:#f7f7f7;border-bottom:1px solid #ddd;
padding:.35em .2em;margin:0 -1em;padding-left:1em;padding-right:1em}
nav.toc b{font-size:.85em;margin-right:.6em}
nav.toc ol{display:inline;margin:0;padding:0;list-style:none;font-size:.85em;
counter-reset:toc}
nav.toc li{display:inline-block;margin:.1em .9em .1em 0;counter-increment:toc}
nav.toc li::before{content:counter(toc) ". ";color:#777}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:1em}
.note{background:#fff8e6;border-left:3px solid #e69f00;padding:.3em .7em}
table.settings td,table.settings th{text-align:left;max-width:22em;overflow-wrap:anywhere}
table.settings tr.diff td,table.settings tr.diff th{background:#fff1c9}
@media print{
body{max-width:none;margin:0;font-size:10pt}
nav.toc{display:none}
h2{break-after:avoid}h3{break-after:avoid}
figure,tr{break-inside:avoid}
div.clamp{display:block;-webkit-line-clamp:none;overflow:visible}
table{font-size:8.5pt}
.grid{display:block}
a{color:inherit;text-decoration:none}
}
"""
"""The report's style sheet: a contents bar that stays at the top while the page scrolls, long
texts clamped to four lines in cells (the whole text: hover the row), settings rows where runs
differ highlighted; printing hides the contents bar, unclamps texts and keeps figures whole."""


def fmt(x: Any, spec: str = ".5f") -> str:
    """A number written with ``spec``; ``—`` for None, NaN, infinities and non-numbers.

    Examples
    --------
    >>> fmt(0.123456), fmt(None), fmt(float("nan")), fmt(3, ".0f")
    ('0.12346', '—', '—', '3')
    """
    if x is None:
        return "—"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "—"
    return "—" if not math.isfinite(v) else format(v, spec)


def png(fig: Any) -> str:
    """A figure as a PNG data URI (110 dpi; the figure is closed)."""
    return "data:image/png;base64," + base64.b64encode(figure_bytes(fig, dpi=110)).decode()


def ci(summary: dict, key: str) -> tuple[float, float] | None:
    """``<key>_ci95`` of a summary as (low, high), None when absent or not two numbers.

    Examples
    --------
    >>> ci({"avg_socm_ci95": [0.4, 0.5]}, "avg_socm"), ci({}, "avg_socm")
    ((0.4, 0.5), None)
    """
    pair = summary.get(f"{key}_ci95")
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        return None
    try:
        lo, hi = float(pair[0]), float(pair[1])
    except (TypeError, ValueError):
        return None
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


def ci_words(summary: dict, key: str, label: str, spec: str = ".4f") -> str:
    """``avg SOCM 0.4499 ± 0.0087 (95% CI)``, or the value alone without an interval.

    Examples
    --------
    >>> ci_words({"avg_socm": 0.45, "avg_socm_ci95": [0.44, 0.46]}, "avg_socm", "avg SOCM")
    'avg SOCM 0.4500 ± 0.0100 (95% CI)'
    """
    value = summary.get(key)
    interval = ci(summary, key)
    if interval is None:
        return f"{label} {fmt(value, spec)}"
    level = summary.get("ci_level") or 0.95
    return (
        f"{label} {fmt(value, spec)} ± {fmt((interval[1] - interval[0]) / 2, spec)} "
        f"({float(level):.0%} CI)"
    )


def short(text: str, n: int = 160) -> str:
    """A text on one line, cut to ``n`` characters (``…`` marks a cut).

    Examples
    --------
    >>> short("a  b\\n c"), short("abcdef", 4)
    ('a b c', 'abc…')
    """
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def text_cell(text: str, flags: Sequence[str] = ()) -> str:
    """A table cell holding a text, escaped, clamped to four lines, after optional flags.

    Parameters
    ----------
    text : str
        The text (plain text: escaped here).
    flags : sequence of str
        Short plain-text marks shown before the text (e.g. ``short: 7 tokens``).

    Returns
    -------
    str
        ``<td class='txt'>...</td>``.

    Examples
    --------
    >>> print(text_cell("<b>x</b>", ["short: 3 tokens"]))  # doctest: +NORMALIZE_WHITESPACE
    <td class='txt'><span class='flag'>short: 3 tokens</span><div
    class='clamp'>&lt;b&gt;x&lt;/b&gt;</div></td>
    """
    marks = "".join(f"<span class='flag'>{html.escape(f)}</span>" for f in flags)
    return f"<td class='txt'>{marks}<div class='clamp'>{html.escape(str(text))}</div></td>"


def flatten(data: dict, prefix: str = "") -> dict[str, str]:
    """Nested settings as one level of ``key.sub`` → text (lists joined by commas, None as
    ``—``), so that no setting is shown as raw JSON.

    Examples
    --------
    >>> flatten({"a": {"b": 1, "c": [1, 2]}, "d": None, "e": True, "f": ""})
    {'a.b': '1', 'a.c': '1, 2', 'd': '—', 'e': 'True', 'f': '(empty)'}
    """
    out: dict[str, str] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + ".") if v else {key: "—"})
        elif isinstance(v, list | tuple):
            out[key] = ", ".join(
                json.dumps(x, ensure_ascii=False) if isinstance(x, dict | list) else str(x)
                for x in v
            )
        elif v is None:
            out[key] = "—"
        elif v == "":
            out[key] = "(empty)"
        else:
            out[key] = str(v)
    return out


def settings_table(
    columns: dict[str, dict], not_settings: Sequence[str] = ("timings.", "created")
) -> list[str]:
    """One table of settings: a row per setting, a column per run, the rows where the runs'
    values differ highlighted (class ``diff``); every key, label and value escaped.

    A row is highlighted when the runs that have the setting hold more than one value (a
    setting only some runs have, such as a mine run's ``neighbors``, is not a difference).

    Parameters
    ----------
    columns : dict
        Run label (plain text) → its settings (nested dicts are flattened, :func:`flatten`).
    not_settings : sequence of str
        Keys (or key prefixes ending in ``.``) that record what happened rather than what was
        asked, never highlighted.

    Returns
    -------
    list of str
        HTML pieces.
    """
    esc = html.escape
    flat = {label: flatten(d) for label, d in columns.items()}
    keys = list(dict.fromkeys(k for d in flat.values() for k in d))
    parts = [
        "<div class='scroll'><table class='settings'><tr><th>setting</th>"
        + "".join(f"<th>{esc(label)}</th>" for label in flat)
        + "</tr>"
    ]
    for k in keys:
        values = [d.get(k, "—") for d in flat.values()]
        held = {d[k] for d in flat.values() if k in d}
        record = any(k == n or (n.endswith(".") and k.startswith(n)) for n in not_settings)
        differ = len(held) > 1 and not record
        row = "<tr class='diff'>" if differ else "<tr>"
        parts.append(
            f"{row}<th>{esc(k)}</th>" + "".join(f"<td>{esc(v)}</td>" for v in values) + "</tr>"
        )
    parts.append("</table></div>")
    return parts


class PageData:
    """The JSON the page's script reads: per run, its texts and pairs, by index.

    A table row or a hover cell carries only ``run:index``; the texts travel once, here.
    Texts are added when a pair or a row first needs them, so the JSON holds only the texts
    the page shows.
    """

    def __init__(self) -> None:
        self.runs: list[dict] = []
        self._text_index: list[dict[str, int]] = []
        self._texts: list[dict[str, dict]] = []

    def add_run(self, label: str, texts: dict[str, dict]) -> int:
        """Register a run and its texts (id → record); returns the run's index."""
        self.runs.append({"label": label, "texts": [], "pairs": []})
        self._text_index.append({})
        self._texts.append(texts)
        return len(self.runs) - 1

    def text(self, run: int, tid: str) -> int:
        """The index of text ``tid`` in run ``run``'s JSON (added on first use)."""
        index = self._text_index[run]
        if tid not in index:
            t = self._texts[run].get(tid, {})
            index[tid] = len(self.runs[run]["texts"])
            self.runs[run]["texts"].append(
                [
                    tid,
                    t.get("text") or "",
                    t.get("n_tokens"),
                    t.get("normalized_spread"),
                    t.get("mean_socm"),
                ]
            )
        return index[tid]

    def pair(self, run: int, p: dict, note: str = "") -> int:
        """Add a pair (ids and numbers) to run ``run``'s JSON; returns its index."""
        pairs = self.runs[run]["pairs"]
        pairs.append(
            [
                self.text(run, str(p["text1_id"])),
                self.text(run, str(p["text2_id"])),
                p.get("d_mu"),
                p.get("d_sigma"),
                p.get("socm"),
                note,
            ]
        )
        return len(pairs) - 1


def page_html(
    labels: Sequence[str],
    toc: Sequence[tuple[str, str]],
    body: Sequence[str],
    data: PageData,
) -> str:
    """The whole page around the sections' HTML.

    Parameters
    ----------
    labels : sequence of str
        The runs' labels (plain text: escaped here), named in the introduction.
    toc : sequence of (anchor, title)
        The table of contents (titles are HTML, already escaped).
    body : sequence of str
        The sections' HTML pieces, in order.
    data : PageData
        What the script reads (embedded with :func:`socm.output.interactive.script_json`).

    Returns
    -------
    str
        The HTML document.
    """
    esc = html.escape
    nav = (
        "<nav class='toc' aria-label='contents'><b>Contents</b><ol>"
        + "".join(f"<li><a href='#{a}'>{t}</a></li>" for a, t in toc)
        + "</ol></nav>"
    )
    head = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{csp()}\">"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>socm report</title><style>{CSS}{TOOLTIP_CSS}</style></head><body>"
    )
    intro = (
        "<h1>Second-order collapse report</h1><p class='muted'>SOCM = (1 − d<sub>μ</sub>) · "
        "d<sub>Σ</sub>: large when two texts' "
        "mean-pooled embeddings agree (small d<sub>μ</sub>) while their token "
        "distributions differ in shape (large Bures–Wasserstein d<sub>Σ</sub>), i.e. "
        "information mean pooling destroys (Hara et al., ACL 2026). Runs: "
        + ", ".join(esc(label) for label in labels)
        + ". Generated "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.</p>"
    )
    tail = (
        f"<script type='application/json' id='socm-data'>{script_json({'runs': data.runs})}"
        f"</script>{script_tag()}</body></html>"
    )
    return "\n".join([head, nav, intro, *body, tail])
