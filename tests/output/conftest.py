"""Run folders shared by the output tests: small real runs of the packaged model (all pairs,
sampled pairs, another token policy on the same texts), a run of texts that hold HTML and
script, and real ``socm mine`` runs (of those texts, and of Wikipedia sentences)."""

from __future__ import annotations

import json

import pytest
from conftest import MODEL, run_config

from socm.analyses.layers import run_layers
from socm.analyses.mechanism import run_mechanism
from socm.analyses.mine import run_mine
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
    """Two measure runs (14 texts exact, 10 texts paper); the first with layers (SOCM per
    layer too) and mechanism."""
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
    run_layers(cfg, per_layer_socm=True)
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


@pytest.fixture(scope="session")
def sampled_run(tmp_path_factory, shared_data):
    """A run of 200 pairs sampled from the 435 pairs of 30 Wikipedia sentences."""
    base = tmp_path_factory.mktemp("sampled")
    corpus = shared_data / "wiki1m" / "wiki1m_head.txt"
    cfg = run_config(
        corpus, base, model=MODEL, n_texts=30, seed=3, max_pairs=200, out=str(base / "run")
    )
    run_measure(cfg)
    return base / "run"


@pytest.fixture(scope="session")
def policy_run(tmp_path_factory, runs, shared_data):
    """The texts and pairs of ``runs[0]`` measured without special tokens (a paired Δ)."""
    base = tmp_path_factory.mktemp("policy")
    corpus = shared_data / "wiki1m" / "wiki1m_head.txt"
    cfg = run_config(
        corpus,
        base,
        model=MODEL,
        n_texts=14,
        seed=0,
        exclude_special_tokens=True,
        out=str(base / "run"),
    )
    run_measure(cfg)
    return base / "run"


@pytest.fixture(scope="session")
def mine_dir(tmp_path_factory):
    """A real ``socm mine`` run of :data:`EVIL` (ids hold markup): each text's 3 nearest,
    4 pairs kept of the scored candidates."""
    base = tmp_path_factory.mktemp("mine")
    corpus = base / "evil.jsonl"
    with corpus.open("w", encoding="utf-8") as f:
        for k, text in enumerate(EVIL):
            f.write(json.dumps({"id": f"<b>t{k}</b>&", "text": text}) + "\n")
    cfg = run_config(corpus, base, model=MODEL, n_texts="all", out=str(base / "mined"))
    run_mine(cfg, neighbors=3, top_k=4)
    return base / "mined"


@pytest.fixture(scope="session")
def wiki_mine(tmp_path_factory, shared_data):
    """A real ``socm mine`` run of 80 Wikipedia sentences (fragments left out, short texts
    among those kept): each text's 3 nearest, 30 pairs kept."""
    base = tmp_path_factory.mktemp("wikimine")
    corpus = shared_data / "wiki1m" / "wiki1m_head.txt"
    cfg = run_config(corpus, base, model=MODEL, n_texts=80, seed=0, out=str(base / "mined"))
    run_mine(cfg, neighbors=3, top_k=30)
    return base / "mined"


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
