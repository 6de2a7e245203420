"""socm measure with --long-texts window: documents measured whole (texts.jsonl's windows, the
summary's counts, the statistics over every token), the settings of truncate-mode runs
unchanged, refusals where one model input per text is needed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import MODEL, SHARED_DATA, run_config

from socm.analyses.mechanism import run_mechanism
from socm.cli import main
from socm.core.stats import token_stats
from socm.encode import Encoder
from socm.errors import SocmError
from socm.measure import run_measure
from socm.measure.summary import format_summary
from socm.measure.writer import run_identity, settings_hash


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Two documents of 2,000+ tokens joined from the offline Wikipedia sample's paragraphs,
    and three sentences, as a JSONL corpus."""
    path = SHARED_DATA / "wiki1m" / "wiki1m_head.txt"
    if not path.is_file():
        pytest.skip(f"shared data not found at {path}")
    lines = [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]
    texts = [" ".join(lines[0:110]), " ".join(lines[200:340]), *lines[400:403]]
    out = tmp_path_factory.mktemp("docs") / "docs.jsonl"
    out.write_text(
        "".join(json.dumps({"id": f"d{k}", "text": t}) + "\n" for k, t in enumerate(texts)),
        encoding="utf-8",
    )
    return out


def read_texts(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "texts.jsonl").read_text().splitlines()]


def test_documents_are_measured_whole(corpus, tmp_path):
    base = run_config(corpus, tmp_path, n_texts="all")
    cut, cut_dir = run_measure(replace(base, out=str(tmp_path / "cut")))
    whole, whole_dir = run_measure(replace(base, out=str(tmp_path / "whole"), long_texts="window"))
    enc = Encoder(MODEL, device="cpu", cache_dir=None)
    texts = [r["text"] for r in read_texts(whole_dir)]
    full = [len(enc.tokenizer(t)["input_ids"]) for t in texts]
    assert full[0] > 2000 and full[1] > 2000
    rows = read_texts(whole_dir)
    assert [r["n_tokens"] for r in rows] == full  # every token, once
    assert [r["n_windows"] for r in rows][2:] == [1, 1, 1]
    assert min(r["n_windows"] for r in rows[:2]) >= 5
    assert not any(r["truncated"] for r in rows)
    assert "n_windows" not in read_texts(cut_dir)[0]
    assert [r["n_tokens"] for r in read_texts(cut_dir)][:2] == [512, 512]
    assert (whole["n_truncated"], cut["n_truncated"]) == (0, 2)
    assert whole["n_windowed"] == 2 and whole["max_windows"] == max(r["n_windows"] for r in rows)
    assert whole["token_policy"]["long_texts"] == "window"
    assert "long_texts" not in cut["token_policy"] and "n_windowed" not in cut
    assert "texts in windows" in format_summary(whole, whole_dir)
    # the statistics are those of the whole token matrix: its spread from the encoder's output
    win = Encoder(MODEL, device="cpu", cache_dir=None, long_texts="window").encode(texts)
    want = [token_stats(e.astype(np.float64)).trace for e in win.embeddings]
    np.testing.assert_allclose([r["normalized_spread"] for r in rows], want, rtol=1e-6)
    # short texts do not change; documents do
    same = [a["normalized_spread"] for a in read_texts(cut_dir)]
    np.testing.assert_allclose(same[2:], want[2:], rtol=1e-6)
    assert min(abs(same[k] - want[k]) for k in (0, 1)) > 1e-4


def test_truncate_mode_keeps_earlier_settings_and_window_mode_has_its_own(corpus, tmp_path):
    base = run_config(corpus, tmp_path, n_texts="all")
    assert "long_texts" not in base.result_key() and "long_texts" not in run_identity(base)
    window = replace(base, long_texts="window")
    assert run_identity(window)["long_texts"] == "window"
    assert settings_hash(window) != settings_hash(base)


def test_refusals(corpus, tmp_path, capsys):
    base = run_config(corpus, tmp_path, n_texts="all", long_texts="window")
    with pytest.raises(SocmError, match="drop --long-texts"):
        run_mechanism(replace(base, out=str(tmp_path / "mech")))
    code = main(["measure", "--corpus", str(corpus), "--long-texts", "slide", "--quiet"])
    assert code == 2
    assert "--long-texts" in capsys.readouterr().err
