"""socm reproduce offline: what runs, what is skipped, and a refusal when nothing can run."""

from __future__ import annotations

import json

import pytest
from conftest import MODEL, run_config

from socm.analyses.reproduce import run_reproduce
from socm.cli import main
from socm.encode.models import packaged_model
from socm.errors import SocmError


def base(wiki_head, tmp_path, **kw):
    return run_config(wiki_head, tmp_path, **{"n_texts": 8, **kw})


def test_reproduce_offline_refuses_when_nothing_can_run(wiki_head, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "wiki1m_for_simcse.txt").symlink_to(wiki_head)
    # the dataset is found, but no model of the paper's table resolves offline
    with pytest.raises(SocmError, match="nothing to run") as exc:
        run_reproduce(base(wiki_head, tmp_path), tmp_path / "rep", data_dir=data)
    msg = str(exc.value)
    assert "\n" not in msg and "model google-bert/bert-base-uncased and 11 more" in msg
    assert "hub unreachable and no local copy" in msg and "dataset" not in msg
    assert not (tmp_path / "rep" / "reproduce.json").exists()
    code = main(
        [
            "reproduce",
            "--models",
            "gte-base",
            "--datasets",
            "wikipedia",
            "--out",
            str(tmp_path / "rep"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("socm: error: nothing to run: ")
    assert "model thenlper/gte-base: " in err and "dataset wikipedia: needs" in err
    with pytest.raises(SocmError, match="not in the paper's table: nope"):
        run_reproduce(base(wiki_head, tmp_path), tmp_path / "rep", models=["nope"])
    with pytest.raises(SocmError, match="not in the paper's table: wiki"):
        run_reproduce(base(wiki_head, tmp_path), tmp_path / "rep", datasets=["wiki"])


def test_reproduce_runs_what_it_can_and_lists_the_rest(tmp_path, capsys, monkeypatch):
    # stand-in weights for gte-base: the packaged model, mirrored under the paper's id
    cache = tmp_path / "socm-cache"
    (cache / "models" / "thenlper").mkdir(parents=True)
    (cache / "models" / "thenlper" / "gte-base").symlink_to(packaged_model(MODEL).path)
    monkeypatch.setenv("SOCM_CACHE_DIR", str(cache))
    data = tmp_path / "data"
    data.mkdir()
    (data / "msmarco_hard_negatives.tsv").write_text(
        "what is a cat\ta dog is an animal\nhow tall is everest\tthe alps are in europe\n"
        "who wrote hamlet\tmacbeth is a play\n",
        encoding="utf-8",
    )
    code = main(
        [
            "reproduce",
            "--models",
            "gte-base",
            "--datasets",
            "wikipedia",
            "hard_negatives",
            "--data-dir",
            str(data),
            "--out",
            str(tmp_path / "rep"),
            "--device",
            "cpu",
            "--quiet",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "thenlper/gte-base" in out and "hard_negatives" in out
    assert "skipped (1):" in out and "dataset wikipedia: needs" in out
    saved = json.loads((tmp_path / "rep" / "reproduce.json").read_text())
    assert [(r["model"], r["dataset"]) for r in saved["rows"]] == [
        ("thenlper/gte-base", "hard_negatives")
    ]
