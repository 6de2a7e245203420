"""The report's interactivity: hover a pair density or a table row to see both texts.

No library and no server: each interactive figure is the matplotlib PNG with an SVG laid over
its data area (:func:`overlay_figure`), whose transparent cells and markers carry only numbers
(``data-pair="run:pair"``); the texts travel once, as JSON in a ``<script
type="application/json">`` block (:func:`script_json`), and a few lines of JavaScript
(:data:`SCRIPT`) fill a tooltip with ``textContent`` — never ``innerHTML`` — so a text is always
shown as text. The page's Content-Security-Policy (:func:`csp`) lets only that one script run
(by its SHA-256), as a second line of defence.

Opening the report with ``#selftest`` makes the script hover the first cell, the first marked
pair, a top-pairs row and a per-text row itself, and write what the tooltip showed into
``data-selftest-*`` attributes of ``<html>``, which a headless browser's ``--dump-dom`` prints
(the browser test), with the number of clamped text cells whose text is cut and where the
contents bar stands (its CSS position, its top and the page's scroll) after scrolling to the
end; ``#hover`` shows the first marked pair's tooltip once the page has loaded
(for screenshots: use a window tall enough to show it).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from typing import Any

__all__ = ["SCRIPT", "TOOLTIP_CSS", "csp", "overlay_figure", "script_json", "script_tag"]


def _clean(obj: Any) -> Any:
    """NaN and infinities as None (JSON has neither), recursively; numpy scalars as floats."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return obj
    try:
        x = float(obj)
    except (TypeError, ValueError):
        return str(obj)
    return x if math.isfinite(x) else None


def script_json(obj: Any) -> str:
    r"""JSON that is safe inside a ``<script>`` element, whatever strings it holds.

    ``<``, ``>`` and ``&`` become ``\u003c``, ``\u003e``, ``\u0026`` (so no ``</script>`` or
    ``<!--`` can end or change the element) and U+2028/U+2029 become escapes; NaN becomes null.

    Parameters
    ----------
    obj : Any
        JSON-able data (dicts, lists, strings, numbers).

    Returns
    -------
    str
        The JSON text.

    Examples
    --------
    >>> script_json({"t": "</script><b>&"})
    '{"t": "\\u003c/script\\u003e\\u003cb\\u003e\\u0026"}'
    """
    text = json.dumps(_clean(obj), ensure_ascii=False, allow_nan=False)
    for a, b in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(a, b)
    return text


def script_tag() -> str:
    """The page's one executable ``<script>`` element (:data:`SCRIPT`)."""
    return f"<script>{SCRIPT}</script>"


def csp() -> str:
    """The report's Content-Security-Policy: data-URI images, inline styles, and only
    :data:`SCRIPT` (by hash) may run; nothing is fetched."""
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode()
    return (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )


def overlay_figure(
    png: bytes,
    box: tuple[float, float, float, float],
    run: int,
    xmax: float,
    ymax: float,
    cells: list[tuple[float, float, float, float, int]],
    markers: list[tuple[float, float, int, str]],
    alt: str,
    caption: str,
) -> str:
    """A figure whose data area hovers: the PNG and an SVG overlay, in a ``<figure>``.

    Parameters
    ----------
    png : bytes
        The figure as PNG.
    box : (left, top, width, height)
        The data area as fractions of the image (:func:`socm.output.style.axes_box`).
    run : int
        The run's index in the page's JSON.
    xmax, ymax : float
        The data area's upper limits (both axes start at 0).
    cells : list of (x0, y0, x1, y1, pair)
        Hover cells in data coordinates and the index of the pair each shows.
    markers : list of (x, y, pair, title)
        Marked pairs (hover circles) with a plain-text ``<title>`` for readers without script.
    alt : str
        The image's alternative text (plain text).
    caption : str
        The caption (HTML, already escaped by the caller).

    Returns
    -------
    str
        HTML.
    """
    esc = html.escape

    def sx(x: float) -> float:
        return round(1000 * min(max(x / xmax, 0.0), 1.0), 1)

    def sy(y: float) -> float:
        return round(1000 * (1 - min(max(y / ymax, 0.0), 1.0)), 1)

    left, top, width, height = (f"{100 * v:.3f}%" for v in box)
    parts = [
        "<figure class='hover'><div class='plotwrap'>",
        f"<img alt='{esc(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>",
        f"<svg class='overlay' data-run='{run}' viewBox='0 0 1000 1000' "
        f"preserveAspectRatio='none' style='left:{left};top:{top};width:{width};"
        f"height:{height}' aria-hidden='true'>",
    ]
    for x0, y0, x1, y1, pair in cells:
        parts.append(
            f"<rect class='cell' data-pair='{run}:{pair}' x='{sx(x0)}' y='{sy(y1)}' "
            f"width='{round(sx(x1) - sx(x0), 1)}' height='{round(sy(y0) - sy(y1), 1)}'/>"
        )
    for x, y, pair, title in markers:
        parts.append(
            f"<ellipse class='mark' data-pair='{run}:{pair}' cx='{sx(x)}' cy='{sy(y)}' "
            f"rx='16' ry='16'><title>{esc(title)}</title></ellipse>"
        )
    parts.append(
        "<ellipse class='hl' cx='-100' cy='-100' rx='22' ry='22' "
        "vector-effect='non-scaling-stroke'/></svg></div>"
    )
    parts.append(f"<figcaption>{caption}</figcaption></figure>")
    return "".join(parts)


TOOLTIP_CSS = """
.plotwrap{position:relative;display:inline-block;max-width:100%}
.plotwrap img{display:block;max-width:100%;height:auto}
svg.overlay{position:absolute}
svg.overlay .cell{fill:#000;fill-opacity:0;cursor:crosshair}
svg.overlay .cell:hover{fill-opacity:.12}
svg.overlay .mark{fill:#000;fill-opacity:0;cursor:pointer}
svg.overlay .hl{fill:none;stroke:#d55e00;stroke-width:3px;visibility:hidden}
svg.overlay.lit .hl{visibility:visible}
#socm-tip{position:fixed;z-index:10;max-width:min(560px,90vw);background:#fffff4;
border:1px solid #888;border-radius:4px;padding:.5em .7em;font-size:.84em;line-height:1.35;
box-shadow:0 2px 8px rgba(0,0,0,.25);pointer-events:none;display:none;white-space:pre-wrap}
#socm-tip b{display:block;margin-bottom:.25em}
#socm-tip .tid{color:#555;font-family:ui-monospace,monospace;font-size:.95em}
#socm-tip p{margin:.35em 0 0}
tr[data-pair]:hover,tr[data-text]:hover{background:#eef5fb}
@media print{#socm-tip,svg.overlay{display:none!important}}
"""

# The one executable script of the page. It reads the JSON block, fills the tooltip with
# textContent only, and supports #selftest (see the module docstring).
SCRIPT = r"""
(function () {
  "use strict";
  var root = document.documentElement, errors = 0, csp = 0;
  window.addEventListener("error", function () {
    errors += 1; root.setAttribute("data-js-errors", String(errors));
  });
  document.addEventListener("securitypolicyviolation", function () {
    csp += 1; root.setAttribute("data-csp-violations", String(csp));
  });
  root.setAttribute("data-js-errors", "0");
  root.setAttribute("data-csp-violations", "0");
  var data = {runs: []};
  try {
    data = JSON.parse(document.getElementById("socm-data").textContent);
  } catch (e) {
    errors += 1; root.setAttribute("data-js-errors", String(errors));
  }
  var tip = document.createElement("div");
  tip.id = "socm-tip";
  tip.setAttribute("role", "tooltip");
  document.body.appendChild(tip);
  Array.prototype.forEach.call(document.querySelectorAll("svg.overlay title"), function (t) {
    t.parentNode.setAttribute("aria-label", t.textContent);
    t.parentNode.removeChild(t);
  });
  function fmt(x, d) { return (x === null || x === undefined) ? "\u2014" : x.toFixed(d); }
  function add(tag, text, cls) {
    var el = document.createElement(tag);
    el.textContent = text;
    if (cls) { el.className = cls; }
    tip.appendChild(el);
    return el;
  }
  function textLine(run, k) {
    var t = run.texts[k];
    if (!t) { return; }
    var p = add("p", "");
    var head = document.createElement("span");
    head.className = "tid";
    head.textContent = "[" + t[0] + "] " + t[2] + " tokens, spread " + fmt(t[3], 3) +
      (t[4] === null ? "" : ", mean SOCM " + fmt(t[4], 4)) + "\n";
    p.appendChild(head);
    p.appendChild(document.createTextNode(t[1]));
  }
  function showPair(key) {
    var parts = key.split(":"), run = data.runs[+parts[0]];
    if (!run) { return false; }
    var q = run.pairs[+parts[1]];
    if (!q) { return false; }
    tip.textContent = "";
    add("b", "SOCM " + fmt(q[4], 4) + "   d\u03bc " + fmt(q[2], 4) + "   d\u03a3 " +
      fmt(q[3], 4) + "   cosine " + fmt(1 - 2 * q[2], 3));
    if (q[5]) { add("span", q[5], "tid"); }
    textLine(run, q[0]);
    textLine(run, q[1]);
    return true;
  }
  function showText(key) {
    var parts = key.split(":"), run = data.runs[+parts[0]];
    if (!run || !run.texts[+parts[1]]) { return false; }
    var t = run.texts[+parts[1]];
    tip.textContent = "";
    add("b", "mean SOCM " + fmt(t[4], 4) + "   spread " + fmt(t[3], 3) + "   " + t[2] +
      " tokens");
    textLine(run, +parts[1]);
    return true;
  }
  function place(x, y) {
    tip.style.display = "block";
    var w = tip.offsetWidth, h = tip.offsetHeight;
    var left = x + 14, top = y + 14;
    if (left + w > window.innerWidth - 4) { left = Math.max(4, x - w - 14); }
    if (top + h > window.innerHeight - 4) { top = Math.max(4, y - h - 14); }
    tip.style.left = left + "px";
    tip.style.top = top + "px";
  }
  function highlight(key) {
    Array.prototype.forEach.call(document.querySelectorAll("svg.overlay.lit"), function (s) {
      s.classList.remove("lit");
    });
    if (!key) { return; }
    var mark = document.querySelector("svg.overlay .mark[data-pair='" + key + "']") ||
      document.querySelector("svg.overlay .cell[data-pair='" + key + "']");
    if (!mark) { return; }
    var svg = mark.ownerSVGElement, hl = svg.querySelector(".hl");
    var cx = mark.getAttribute("cx"), cy = mark.getAttribute("cy");
    if (cx === null) {
      cx = +mark.getAttribute("x") + mark.getAttribute("width") / 2;
      cy = +mark.getAttribute("y") + mark.getAttribute("height") / 2;
    }
    hl.setAttribute("cx", cx);
    hl.setAttribute("cy", cy);
    svg.classList.add("lit");
  }
  function hide() { tip.style.display = "none"; highlight(null); }
  function over(ev) {
    var el = ev.target.closest ? ev.target.closest("[data-pair],[data-text]") : null;
    if (!el) { return; }
    var ok = el.hasAttribute("data-pair") ? showPair(el.getAttribute("data-pair")) :
      showText(el.getAttribute("data-text"));
    if (!ok) { return; }
    if (el.tagName === "TR" && el.hasAttribute("data-pair")) {
      highlight(el.getAttribute("data-pair"));
    }
    place(ev.clientX, ev.clientY);
  }
  document.addEventListener("mouseover", over);
  document.addEventListener("mousemove", function (ev) {
    if (tip.style.display === "block") { place(ev.clientX, ev.clientY); }
  });
  document.addEventListener("mouseout", function (ev) {
    var el = ev.target.closest ? ev.target.closest("[data-pair],[data-text]") : null;
    var to = ev.relatedTarget && ev.relatedTarget.closest ?
      ev.relatedTarget.closest("[data-pair],[data-text]") : null;
    if (el && el !== to) { hide(); }
  });
  window.addEventListener("scroll", hide, {passive: true});
  if (location.hash === "#selftest") {
    var probe = function (sel, name) {
      var el = document.querySelector(sel);
      if (!el) { root.setAttribute("data-selftest-" + name, "missing"); return; }
      var r = el.getBoundingClientRect();
      el.dispatchEvent(new MouseEvent("mouseover", {bubbles: true,
        clientX: r.left + r.width / 2, clientY: r.top + r.height / 2}));
      var shown = tip.style.display === "block" ? tip.textContent : "";
      root.setAttribute("data-selftest-" + name, shown || "empty");
      var lit = document.querySelector("svg.overlay.lit");
      root.setAttribute("data-selftest-" + name + "-lit", lit ? "yes" : "no");
      hide();
    };
    probe("svg.overlay .cell", "cell");
    probe("svg.overlay .mark", "mark");
    probe("tr[data-pair]", "row");
    probe("tr[data-text]", "text");
    var clamps = document.querySelectorAll("div.clamp"), cut = 0;
    Array.prototype.forEach.call(clamps, function (c) {
      if (c.scrollHeight > c.clientHeight + 1) { cut += 1; }
    });
    root.setAttribute("data-selftest-clamped", String(cut));
    var nav = document.querySelector("nav.toc");
    if (nav) {
      window.scrollTo(0, document.documentElement.scrollHeight);
      root.setAttribute("data-selftest-nav", getComputedStyle(nav).position + " " +
        Math.round(nav.getBoundingClientRect().top) + " " + Math.round(window.scrollY));
      window.scrollTo(0, 0);
    } else {
      root.setAttribute("data-selftest-nav", "missing");
    }
    root.setAttribute("data-selftest", "done");
  }
  if (location.hash === "#hover") {
    window.removeEventListener("scroll", hide);
    window.addEventListener("load", function () {
      var el = document.querySelector("svg.overlay .mark");
      if (!el) { return; }
      var r = el.getBoundingClientRect();
      el.dispatchEvent(new MouseEvent("mouseover", {bubbles: true,
        clientX: r.left + r.width / 2, clientY: r.top + r.height / 2}));
    });
  }
}());
"""
