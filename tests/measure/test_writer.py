"""Run folders: unique default names, one run per folder, all or nothing, paths checked first."""

from __future__ import annotations

import json
import os

import pytest
from conftest import run_config

import socm.measure.job as job
import socm.measure.select as select
from socm.cli import main
from socm.errors import SocmError
from socm.measure import MeasureConfig, default_run_dir, run_measure
from socm.measure.writer import MANIFEST, RunWriter, settings_hash


def test_default_names_are_unique_per_configuration():
    base = MeasureConfig(corpus="c.txt")
    names = {
        default_run_dir(cfg, "c.txt", 10)
        for cfg in (
            base,
            MeasureConfig(corpus="c.txt", seed=1),
            MeasureConfig(corpus="c.txt", numerics="paper"),
            MeasureConfig(corpus="c.txt", layer=3),
            MeasureConfig(corpus="c.txt", exclude_special_tokens=True),
            MeasureConfig(corpus="c.txt", pairs_file="p.tsv"),
        )
    }
    assert len(names) == 6
    # execution-only settings do not change the name: a rerun reuses its folder
    fast = MeasureConfig(corpus="c.txt", batch_size=64, device="cpu", cache_dir="/x", out="o")
    assert settings_hash(fast) == settings_hash(base)
    assert default_run_dir(base, "c.txt", 10).name.startswith("all-MiniLM-L6-v2-c-10-")


def test_one_run_per_folder(wiki_head, tmp_path):
    cfg = run_config(wiki_head, tmp_path, n_texts=6)
    _, out = run_measure(cfg)
    run_measure(cfg)  # a rerun of the same settings replaces its own files
    with pytest.raises(SocmError, match="holds a measure run with other settings.*--overwrite"):
        run_measure(run_config(wiki_head, tmp_path, n_texts=6, numerics="paper"))
    with pytest.raises(SocmError, match="holds a run of .* with other texts"):
        run_measure(run_config(wiki_head, tmp_path, n_texts=6, seed=3))
    # other texts with --overwrite: stale files of the old run (layers.*) do not survive
    from socm.analyses.layers import run_layers

    run_layers(run_config(wiki_head, tmp_path, n_texts=6))  # same texts: joins the folder
    assert (out / "layers.parquet").exists()
    manifest = json.loads((out / MANIFEST).read_text())
    assert set(manifest["commands"]) == {"measure", "layers"}
    run_measure(run_config(wiki_head, tmp_path, n_texts=6, seed=3, overwrite=True))
    assert not (out / "layers.parquet").exists() and (out / "pairs.parquet").exists()
    assert json.loads((out / "summary.json").read_text())["seed"] == 3


def test_a_foreign_folder_is_refused_and_user_files_are_kept(wiki_head, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "pairs.parquet").write_text("an older run without a manifest")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SocmError, match=r"holds files of another run \(pairs.parquet\)"):
        run_measure(run_config(wiki_head, tmp_path, n_texts=4))
    run_measure(run_config(wiki_head, tmp_path, n_texts=4, overwrite=True))
    assert (out / "notes.txt").read_text() == "mine"


def test_a_failing_run_leaves_the_folder_untouched(wiki_head, tmp_path, monkeypatch):
    cfg = run_config(wiki_head, tmp_path, n_texts=5)
    _, out = run_measure(cfg)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(job, "atomic_write_jsonl", boom)  # fails after pairs.parquet is written
    with pytest.raises(RuntimeError):
        run_measure(cfg)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".run.")]  # no leftovers


@pytest.mark.parametrize("what", ["out_is_file", "out_under_file", "cache_is_file"])
def test_bad_paths_are_refused_before_the_model_loads(
    wiki_head, tmp_path, monkeypatch, capsys, what
):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    out, cache = tmp_path / "run", tmp_path / "cache"
    if what == "out_is_file":
        out = blocker
    elif what == "out_under_file":
        out = blocker / "run"
    else:
        cache = blocker
    if what != "cache_is_file":
        monkeypatch.setattr(select, "make_encoder", lambda *a, **k: pytest.fail("model loaded"))
    code = main(
        [
            "measure",
            "--corpus",
            str(wiki_head),
            "--n-texts",
            "4",
            "--out",
            str(out),
            "--cache-dir",
            str(cache),
            "--quiet",
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and err.startswith("socm: error: ")
    assert "is a file" in err


def test_unwritable_folder(tmp_path, monkeypatch):
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if str(p) == str(tmp_path) else real(p, m))
    with pytest.raises(SocmError, match="no permission to write"):
        RunWriter(tmp_path / "run", "measure", MeasureConfig())
