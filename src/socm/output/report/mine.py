"""The report's section of a ``socm mine`` folder: what was searched, kept and shown.

One section per mine folder (:func:`mine_sections`): a caption that states the run's own counts
(texts searched and left out, candidate pairs scored, pairs kept, pairs shown), what the cosine
percentiles are measured against (random pairs of the corpus), the candidates figure
(:func:`socm.output.candidates.candidates_figure`), the first :data:`MINE_ROWS` kept pairs with
each text in at most :data:`MAX_PER_TEXT` rows (short texts flagged), the first pairs drawn
token by token (:func:`socm.output.pair_figure`, the model loaded once per folder), and the
texts whose neighbours differ most from them.
"""

from __future__ import annotations

import html
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from socm.errors import SocmError
from socm.output.candidates import SHORT_TOKENS, candidates_figure
from socm.output.data import mine_data
from socm.output.report.context import (
    MAX_PER_TEXT,
    MINE_ROWS,
    TEXT_ROWS,
    ReportContext,
    Section,
)
from socm.output.report.page import PageData, fmt, png, text_cell

__all__ = ["mine_caption", "mine_sections", "pair_views"]

esc = html.escape

#: What the list does and does not show: the evidence of ``socm validate`` on STS-B.
EVIDENCE = (
    "Relative d<sub>Σ</sub> = BW² / (tr Σ₁ + tr Σ₂) ∈ [0, 1]. Tested against human similarity "
    "on STS-B, no shape score marked the pairs humans rate less similar beyond what the cosine "
    "says: these are pairs mean pooling puts close although their token distributions differ, "
    "not pairs shown to be different to a reader."
)


def mine_caption(data: dict) -> str:
    """What a mine folder searched, scored, kept and what the report shows of it (plain text,
    only counts the folder records).

    Parameters
    ----------
    data : dict
        :func:`socm.output.data.mine_data` of the folder.

    Returns
    -------
    str
        E.g. ``"1,874 texts searched (108 fragments of fewer than 5 tokens and 18 repeated
        texts left out); each text's 10 nearest by cosine (exact search) gave 12,904 scored
        candidate pairs; kept 100 from 12,904 scored candidates, ranked by relative_d_sigma.
        Shown: 25 of the 100 kept pairs, best first, each text in at most 2 rows (3 kept pairs
        passed over for that cap)."``

    Examples
    --------
    >>> print(mine_caption({"summary": {"n_texts": 50, "neighbors": 3, "n_candidates": 90,
    ...     "rank_by": "socm"}, "n_kept": 10, "pairs": [{}] * 4, "n_skipped": 0}))
    ... # doctest: +NORMALIZE_WHITESPACE
    50 texts searched; each text's 3 nearest by cosine gave 90 scored candidate pairs; kept
    10 from 90 scored candidates, ranked by socm. Shown: 4 of the 10 kept pairs, best first,
    each text in at most 2 rows.
    """
    s = data["summary"]
    words = []
    if s.get("n_texts") is not None:
        left = []
        if s.get("n_fragments_excluded"):
            left.append(
                f"{int(s['n_fragments_excluded']):,} fragments of fewer than "
                f"{s.get('min_tokens', '?')} tokens"
            )
        if s.get("n_duplicates_excluded"):
            left.append(f"{int(s['n_duplicates_excluded']):,} repeated texts")
        words.append(
            f"{int(s['n_texts']):,} texts searched"
            + (f" ({' and '.join(left)} left out)" if left else "")
        )
    scored = s.get("n_candidates")
    if s.get("neighbors") is not None and scored is not None:
        method = s.get("search_method")
        words.append(
            f"each text's {s['neighbors']} nearest by cosine"
            + (f" ({method} search)" if method else "")
            + f" gave {int(scored):,} scored candidate pairs"
        )
    kept = f"kept {data['n_kept']:,}"
    kept += f" from {int(scored):,} scored candidates" if scored is not None else " pairs"
    if s.get("rank_by"):
        kept += f", ranked by {s['rank_by']}"
    if s.get("max_per_text"):
        kept += f", at most {s['max_per_text']} per text"
    words.append(kept)
    shown = (
        f"Shown: {len(data['pairs']):,} of the {data['n_kept']:,} kept pairs, best first, each "
        f"text in at most {MAX_PER_TEXT} rows"
    )
    if data.get("n_skipped"):
        shown += f" ({data['n_skipped']:,} kept pairs passed over for that cap)"
    return "; ".join(words) + ". " + shown + "."


def _cosine_words(s: dict) -> str:
    """What the cosine percentiles are measured against (HTML)."""
    ref = s.get("random_pair_cosines") or {}
    q = ref.get("quantiles") or {}
    if not ref.get("n_pairs"):
        return "This run recorded no random-pair cosines, so its cosines have no percentile."
    parts = [
        f"{name} {fmt(q.get(key), '.3f')}"
        for key, name in (("0.5", "median"), ("0.99", "99th percentile"), ("0.999", "99.9th"))
        if q.get(key) is not None
    ]
    return (
        f"Under each cosine: the share of {int(ref['n_pairs']):,} random pairs of the corpus "
        f"with a lower cosine ({', '.join(parts)}), so a cosine that looks low can still be "
        "among the nearest pairs of the corpus. Ranks a/b: where text 2 stands among text 1's "
        "nearest texts and text 1 among text 2's (-: not among them)."
    )


def _ranks(p: dict) -> str:
    """``3/1``: where text 2 stands among text 1's nearest texts and text 1 among text 2's
    (``-``: not among them; empty for a mine folder written before these were recorded)."""
    r1, r2 = p.get("neighbor_rank_1"), p.get("neighbor_rank_2")
    if "neighbor_rank_1" not in p or (r1 is None and r2 is None and "cosine_percentile" not in p):
        return ""
    return "/".join("-" if not r else str(int(r)) for r in (r1, r2))


def _flags(n_tokens: Any) -> list[str]:
    """``short: 7 tokens`` for a text of fewer than :data:`SHORT_TOKENS` tokens."""
    try:
        n = int(n_tokens)
    except (TypeError, ValueError):
        return []
    return [f"short: {n} tokens"] if n < SHORT_TOKENS else []


def _cosine_cell(p: dict) -> str:
    pct = p.get("cosine_percentile")
    below = "" if pct is None else f"<br><span class='muted'>&gt; {pct:.2f}%</span>"
    return f"<td class='num'>{fmt(p.get('cosine'), '.4f')}{below}</td>"


def _pairs_table(data: dict, page: PageData, k: int) -> list[str]:
    """A mine folder's shown pairs: both texts (short ones flagged) and every number."""
    body = [
        "<div class='scroll'><table class='pairs'><tr><th title='row (the run&#39;s rank, "
        "when another)'>#</th><th class='l'>text 1</th><th class='l'>text 2</th>"
        "<th class='l'>ids</th><th>tokens</th><th>spread tr Σ</th><th>cosine</th>"
        "<th>ranks</th><th>d<sub>Σ</sub></th><th>relative d<sub>Σ</sub></th>"
        "<th>SOCM</th></tr>"
    ]
    for n, p in enumerate(data["pairs"], 1):
        rank = p.get("rank")
        pidx = page.pair(k, p, f"#{n}, rank {rank if rank is not None else n} of the kept pairs")
        other = "" if rank in (None, n) else f"<br><span class='muted'>rank {esc(str(rank))}</span>"
        body.append(
            f"<tr data-pair='{k}:{pidx}'><td class='num'>{n}{other}</td>"
            + text_cell(str(p.get("text1") or ""), _flags(p.get("n_tokens1")))
            + text_cell(str(p.get("text2") or ""), _flags(p.get("n_tokens2")))
            + f"<td class='id'>{esc(str(p['text1_id']))}<br>{esc(str(p['text2_id']))}</td>"
            f"<td class='num'>{fmt(p.get('n_tokens1'), '.0f')} / "
            f"{fmt(p.get('n_tokens2'), '.0f')}</td>"
            f"<td class='num'>{fmt(p.get('spread1'), '.3f')} / {fmt(p.get('spread2'), '.3f')}"
            f"</td>{_cosine_cell(p)}<td class='num'>{_ranks(p)}</td>"
            f"<td class='num'>{fmt(p.get('d_sigma'), '.4f')}</td>"
            f"<td class='num'>{fmt(p.get('relative_d_sigma'), '.4f')}</td>"
            f"<td class='num'>{fmt(p.get('socm'), '.4f')}</td></tr>"
        )
    body.append("</table></div>")
    return body


def _by_relative_d_sigma(t: dict) -> float:
    """Sort key: the larger a text's neighbours' mean relative d_Σ, the earlier (unknown:
    last)."""
    v = t.get("neighbor_mean_relative_d_sigma")
    try:
        return -float(v) if v is not None and math.isfinite(float(v)) else math.inf
    except (TypeError, ValueError):
        return math.inf


def _texts_table(data: dict, page: PageData, k: int) -> list[str]:
    """A mine folder's :data:`TEXT_ROWS` texts with the largest mean relative d_Σ to their
    neighbours."""
    ranked = sorted(data["texts"], key=_by_relative_d_sigma)[:TEXT_ROWS]
    body = [
        f"<h3>{len(ranked)} of {len(data['texts']):,} texts, by mean relative "
        "d<sub>Σ</sub> to their neighbours</h3><table class='pairs'><tr><th>#</th>"
        "<th class='l'>id</th><th class='l'>text</th><th>tokens</th><th>spread tr Σ</th>"
        "<th>neighbours' mean cosine</th><th>neighbours' mean relative d<sub>Σ</sub></th>"
        "</tr>"
    ]
    for n, t in enumerate(ranked, 1):
        tid = str(t.get("id"))
        tidx = page.text(k, tid)
        body.append(
            f"<tr data-text='{k}:{tidx}'><td class='num'>{n}</td>"
            f"<td class='id'>{esc(tid)}</td>"
            + text_cell(str(t.get("text") or ""), _flags(t.get("n_tokens")))
            + f"<td class='num'>{fmt(t.get('n_tokens'), '.0f')}</td>"
            f"<td class='num'>{fmt(t.get('normalized_spread'), '.3f')}</td>"
            f"<td class='num'>{fmt(t.get('neighbor_mean_cosine'), '.4f')}</td>"
            f"<td class='num'>{fmt(t.get('neighbor_mean_relative_d_sigma'), '.4f')}</td></tr>"
        )
    body.append("</table>")
    return body


def pair_views(summary: dict, pairs: list[dict], k: int) -> tuple[list[Any], str | None]:
    """The first ``k`` pairs drawn token by token (:func:`socm.output.pair_figure`), with the
    mine run's model and token policy (the model is loaded once).

    Parameters
    ----------
    summary : dict
        The mine run's ``mine_summary.json`` (``config`` when present, else ``model``).
    pairs : list of dict
        Pairs with ``text1`` and ``text2``, best first.
    k : int
        Pairs to draw.

    Returns
    -------
    (list of Figure, str or None)
        The figures, and why there are none (e.g. the model cannot be loaded offline).
    """
    from socm.analyses.pair import pair_panel
    from socm.measure.config import MeasureConfig, make_encoder
    from socm.output.pair import pair_figure

    chosen = [p for p in pairs if p.get("text1") and p.get("text2")][:k]
    if not chosen:
        return [], None
    config = summary.get("config") if isinstance(summary.get("config"), dict) else {}
    try:
        cfg = MeasureConfig.from_dict(config or {"model": summary.get("model")})
        cfg = replace(cfg, no_cache=True, device=None, progress=False)
        encoder = make_encoder(cfg)
        panels = [pair_panel(encoder, p["text1"], p["text2"], cfg.numerics) for p in chosen]
    except (SocmError, OSError, ValueError, RuntimeError, ImportError) as exc:
        return [], f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return [pair_figure([panel], label_k=6) for panel in panels], None


def _pair_views(ctx: ReportContext, data: dict) -> list[str]:
    """The pair views of a mine folder's first pairs, or why there are none."""
    if ctx.pair_views <= 0 or not data["pairs"]:
        return []
    figs, why = pair_views(data["summary"], data["pairs"], ctx.pair_views)
    if why:
        return [f"<p class='note'>No pair views: the model could not be loaded ({esc(why)}).</p>"]
    body = [
        f"<h3>The first {len(figs)} pairs, token by token</h3><p class='muted'>Both texts' "
        "unit-mean tokens in the plane of a truncated SVD fitted on both (the share of the "
        "squared norm it holds is stated), their means as stars and 75%-mass ellipses; below, "
        "each text's covariance eigenvalues, whose difference in shape d<sub>Σ</sub> measures."
        " Numbers as in the table above (encoded again with the run's model and token "
        "policy).</p><div class='grid'>"
    ]
    for n, fig in enumerate(figs, 1):
        body.append(
            f"<figure><img alt='pair {n} token by token' src='{png(fig)}'>"
            f"<figcaption>#{n}</figcaption></figure>"
        )
    body.append("</div>")
    return body


def _mine_section(ctx: ReportContext, run: Path, m: int) -> Section:
    """The section of one ``socm mine`` folder."""
    label = ctx.labels[run]
    data = mine_data(run, MINE_ROWS, MAX_PER_TEXT)
    s = data["summary"]
    texts = {str(t.get("id")): t for t in data["texts"] if t.get("id") is not None}
    k = ctx.page.add_run(label, texts)
    n_short = sum(
        bool(_flags(p.get("n_tokens1")) or _flags(p.get("n_tokens2"))) for p in data["pairs"]
    )
    fig = candidates_figure(run, numbered=min(3, len(data["pairs"])), max_per_text=MAX_PER_TEXT)
    body = [
        f"<p>{esc(label)}: {esc(mine_caption(data))}</p>",
        f"<p class='muted'>{esc(_cosine_words(s))} Texts of fewer than {SHORT_TOKENS} tokens "
        f"are flagged short (headings, names, fragments): {n_short} of the "
        f"{len(data['pairs'])} pairs shown hold one. {EVIDENCE}</p>",
        f"<figure><img alt='kept pairs of {esc(label)}' src='{png(fig)}'><figcaption>Left: "
        "each kept pair's cosine against its ranking score, coloured by SOCM, over every "
        "searched text's mean across its scored candidates (grey); vertical lines: cosines "
        "of random pairs of the corpus. Right: the same score against the shorter text's "
        "tokens. Circled 1–3: the first pairs of the table below.</figcaption></figure>",
    ]
    body += _pairs_table(data, ctx.page, k)
    body += _pair_views(ctx, data)
    if data["texts"]:
        body += _texts_table(data, ctx.page, k)
    return Section(
        f"mine-{m + 1}",
        f"Near pairs whose tokens differ most: {esc(label)}",
        body,
        f"Mined pairs{f' {m + 1}' if len(ctx.mines) > 1 else ''}",
    )


def mine_sections(ctx: ReportContext) -> list[Section]:
    """One section per ``socm mine`` folder."""
    return [_mine_section(ctx, r, m) for m, r in enumerate(ctx.mines)]
