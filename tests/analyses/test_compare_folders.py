"""Two models never share a run folder in socm compare (issue 23, class 4)."""

from __future__ import annotations

import json

import pytest
from conftest import tiny_model

from socm.analyses.compare import paired_delta, run_folder_names
from socm.cli import main
from socm.errors import SocmError


def test_folder_names_are_unique_per_model_id():
    names = run_folder_names(["models/my model", "models/my-model", "org/a", "Org/A", "org/b"])
    assert len(set(names.values())) == 5
    assert len({n.casefold() for n in names.values()}) == 5  # case-insensitive file systems
    assert names["org/b"] == "org__b"  # no collision: the plain slug, as before
    assert names["models/my model"].startswith("models__my-model-")


def test_compare_keeps_colliding_models_apart(wiki_head, tmp_path, capsys):
    a = tiny_model(tmp_path / "models" / "my model", seed=0)
    b = tiny_model(tmp_path / "models" / "my-model", seed=1)
    args = ["compare", "--model", str(a), "--model", str(b), "--backbone", str(a)]
    args += ["--corpus", str(wiki_head), "--n-texts", "8", "--out", str(tmp_path / "cmp")]
    args += ["--cache-dir", str(tmp_path / "c"), "--quiet", "--device", "cpu", "--json"]
    for extra in ([], ["--overwrite"]):
        assert main([*args, *extra]) == 0
        records = json.loads(capsys.readouterr().out)
        runs = [r["run"] for r in records]
        assert len(set(runs)) == 2
        for r, model in zip(runs, (a, b), strict=True):
            summary = json.loads((tmp_path / r / "summary.json").read_text())
            assert summary["model"] == str(model)
        ft = records[1]
        assert ft["delta_vs_backbone"] != 0 and ft["delta_ci95"][1] > ft["delta_ci95"][0]
    with pytest.raises(SocmError, match="compared with itself"):
        paired_delta(tmp_path / runs[0], tmp_path / runs[0])
