"""socm report --backbone gives a Δ only between runs of the same texts and pairs (issue 23,
rough edges): runs of another corpus, other texts or numerics get none, with a warning."""

from __future__ import annotations

import pytest
from conftest import MODEL, run_config

from socm.errors import SocmWarning
from socm.measure import run_measure
from socm.output.report.sections import run_rows


def test_a_delta_only_over_the_same_pairs(runs, shared_data, tmp_path):
    corpus = shared_data / "wiki1m" / "wiki1m_head.txt"
    layer = run_config(corpus, tmp_path, model=MODEL, n_texts=14, seed=0, layer=3)
    _, same = run_measure(layer)  # the texts and pairs of runs[0], another layer
    with pytest.warns(SocmWarning, match="no Δ vs the backbone for .*r1: it measured other"):
        rows = run_rows([runs[0], runs[1], same], runs[0])
    assert rows[0]["delta_vs_backbone"] == 0.0 and rows[0]["delta_note"] == "the backbone"
    assert rows[1]["delta_vs_backbone"] is None and rows[1]["delta_note"] == "other numerics"
    assert rows[2]["delta_vs_backbone"] == pytest.approx(rows[2]["avg_socm"] - rows[0]["avg_socm"])
