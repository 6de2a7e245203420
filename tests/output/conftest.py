"""Run folders shared by the output tests: small real runs of the packaged model, a run of
texts that hold HTML and script, and a hand-made ``socm mine`` folder."""

from __future__ import annotations

import json

import pytest
from conftest import MODEL, run_config

from socm.analyses.layers import run_layers
from socm.analyses.mechanism import run_mechanism
from socm.measure import run_measure

#: Texts that would run script if a report used them as markup.
EVIL = [
    "</script><script>document.documentElement.setAttribute('data-pwned','1')</script>",
    "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','2')\">",
    "<!-- a comment opener and a CDATA <![CDATA[ and &amp; entities &lt;b&gt;",
    "\u2028 line separators \u2029 and quotes ' \" ` in a text",
    "<svg onload=\"document.title='pwned'\"><title>x</title></svg> plain words after it",
    '{"json": "</script>"} and a <style>body{display:none}</style> block',
    "An <i>ordinary</i> sentence about rivers, banks and interest rates in the spring of 1793.",
    "Another sentence: the museum opens at nine <br> and closes at five & sometimes later.",
]


@pytest.fixture(scope="session")
def evil_texts() -> list[str]:
    """:data:`EVIL`."""
    return list(EVIL)


@pytest.fixture(scope="session")
def runs(tmp_path_factory, shared_data):
    """Two measure runs (14 texts exact, 10 texts paper); the first with layers and mechanism."""
    base = tmp_path_factory.mktemp("runs")
    corpus = shared_data / "wiki1m" / "wiki1m_head.txt"
    out = []
    for k, (n, numerics) in enumerate([(14, "exact"), (10, "paper")]):
        cfg = run_config(
            corpus,
            base,
            model=MODEL,
            n_texts=n,
            seed=k,
            out=str(base / f"r{k}"),
            numerics=numerics,
        )
        run_measure(cfg)
        out.append(base / f"r{k}")
    cfg = run_config(corpus, base, model=MODEL, n_texts=14, seed=0, out=str(out[0]))
    run_layers(cfg)
    run_mechanism(cfg)
    return out


@pytest.fixture(scope="session")
def evil_run(tmp_path_factory):
    """A measure run of :data:`EVIL` (ids hold markup too)."""
    base = tmp_path_factory.mktemp("evil")
    corpus = base / "evil.jsonl"
    with corpus.open("w", encoding="utf-8") as f:
        for k, text in enumerate(EVIL):
            f.write(json.dumps({"id": f"<b>t{k}</b>&", "text": text}) + "\n")
    run_measure(run_config(corpus, base, model=MODEL, n_texts="all", out=str(base / "run")))
    return base / "run"


def write_mine(folder, texts: list[str]) -> None:
    """A ``socm mine`` folder as documented: candidates.parquet, texts.parquet,
    mine_summary.json (numbers made up, consistent in form)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"m{k}<i>" for k in range(len(texts))]
    pairs = [(0, 1), (2, 3), (4, 5), (1, 6), (0, 7)]
    rows = {
        "text1_id": [ids[a] for a, _ in pairs],
        "text2_id": [ids[b] for _, b in pairs],
        "cosine": [0.91, 0.88, 0.85, 0.83, 0.80],
        "d_mu": [0.045, 0.06, 0.075, 0.085, 0.10],
        "d_sigma": [1.2, 1.05, 0.9, 0.7, 0.6],
        "socm": [1.146, 0.987, 0.8325, 0.6405, 0.54],
        "relative_d_sigma": [0.61, 0.55, 0.5, 0.42, 0.4],
        "rank": [1, 2, 3, 4, 5],
    }
    pq.write_table(pa.table(rows), folder / "candidates.parquet")
    pq.write_table(
        pa.table(
            {
                "id": ids,
                "text": texts,
                "n_tokens": [10 + k for k in range(len(texts))],
                "normalized_spread": [1.5 + 0.1 * k for k in range(len(texts))],
                "neighbor_mean_cosine": [0.7 + 0.01 * k for k in range(len(texts))],
                "neighbor_mean_relative_d_sigma": [0.3 + 0.02 * k for k in range(len(texts))],
            }
        ),
        folder / "texts.parquet",
    )
    (folder / "mine_summary.json").write_text(
        json.dumps(
            {
                "model": MODEL,
                "corpus": "evil.jsonl",
                "n_texts": len(texts),
                "neighbors": 3,
                "rank_by": "socm",
                "n_candidates": 17,
            }
        ),
        encoding="utf-8",
    )


@pytest.fixture(scope="session")
def mine_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mine") / "mined"
    write_mine(folder, EVIL)
    return folder


@pytest.fixture(scope="session")
def full_report(tmp_path_factory, runs, evil_run, mine_dir):
    """One report of every kind of folder: two runs (one with layers), the run of
    :data:`EVIL` texts and the mine folder; correlation next to the paper's table."""
    from socm.inputs.paper_table import paper_families
    from socm.output.report import build_report

    out = tmp_path_factory.mktemp("report") / "report.html"
    build_report(
        [runs[0], runs[1], evil_run, mine_dir],
        out,
        backbone=runs[1],
        families=paper_families(),
        paper_table=True,
    )
    return out
