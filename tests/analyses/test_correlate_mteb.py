"""socm correlate --mteb-results: result folders written by the mteb package itself, read
back by socm and checked against mteb's own reading of them."""

from __future__ import annotations

import json

import pytest
from scipy.stats import spearmanr

from socm.cli import main
from socm.errors import SocmError
from socm.inputs.mteb_results import read_mteb_results

mteb = pytest.importorskip("mteb")
from mteb.cache import ResultCache  # noqa: E402
from mteb.results import TaskResult  # noqa: E402


def refused(argv, capsys, *fragments):
    """The CLI refuses ``argv``: exit 1, one stderr line naming every fragment."""
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("socm: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def summary_run(folder, model: str, avg_socm: float) -> str:
    """A run folder holding only what correlate reads of a summary.json."""
    folder.mkdir(parents=True)
    summary = {"model": model, "corpus": "wiki", "n_texts": 10, "n_pairs": 45,
               "numerics": "exact", "avg_socm": avg_socm, "avg_d_mu": 0.5, "avg_d_sigma": 0.5,
               "avg_normalized_spread": 1.0}  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))
    return str(folder)


#: model -> (average SOCM of its run, {task: {split: {subset: main_score}}}, revision)
MODELS = {
    "org/m-a": (
        0.40,
        {
            "STSBenchmark": {"test": {"default": 0.80}},
            "STS22": {"test": {"en": 0.60, "de": 0.50}},
            "SciFact": {"test": {"default": 0.61}},
            "Banking77Classification": {"test": {"default": 0.70}},
        },
    ),
    "org/m-b": (
        0.30,
        {
            "STSBenchmark": {"test": {"default": 0.82}},
            "STS22": {"test": {"en": 0.65, "de": 0.52}},
            "SciFact": {"test": {"default": 0.64}},
            "Banking77Classification": {"test": {"default": 0.72}},
        },
    ),
    "other/m-c": (
        0.20,
        {
            "STSBenchmark": {"test": {"default": 0.85}},
            "STS22": {"test": {"en": 0.66, "de": 0.58}},
            "SciFact": {"test": {"default": 0.70}},
        },
    ),
    "x/m-d": (
        0.25,
        {
            "STSBenchmark": {"test": {"default": 0.79}},
            "STS22": {"test": {"en": 0.70, "de": 0.61}},
            "SciFact": {"test": {"default": 0.69}},
            "MSMARCO": {"dev": {"default": 0.40}},  # no test split
        },
    ),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """An MTEB cache folder (``<cache>/results/<org>__<model>/<revision>/<Task>.json``)
    written through mteb's TaskResult and ResultCache."""
    cache = tmp_path_factory.mktemp("mteb-cache")
    store = ResultCache(cache_path=cache)
    for model, (_, tasks) in MODELS.items():
        for task_name, scores in tasks.items():
            task = mteb.get_task(task_name)
            flat = {
                split: {subset: {"main_score": v} for subset, v in subsets.items()}
                for split, subsets in scores.items()
            }
            result = TaskResult.from_task_results(task, flat, evaluation_time=1.0)
            store.save_to_cache(result, model_name=model, model_revision="rev1")
    # an older result of one task under no revision: the named revision wins
    old = TaskResult.from_task_results(
        mteb.get_task("STSBenchmark"), {"test": {"default": {"main_score": 0.1}}}, 1.0
    )
    store.save_to_cache(old, model_name="org/m-a", model_revision="no_revision_available")
    return cache


def mteb_score(cache, model: str, task: str) -> float:
    """The mean main score on the test split, as mteb reads its own file."""
    path = cache / "results" / model.replace("/", "__") / "rev1" / f"{task}.json"
    return TaskResult.from_disk(path).get_score(splits=["test"])


def runs(tmp_path) -> list[str]:
    return [summary_run(tmp_path / m.split("/")[1], m, socm) for m, (socm, _) in MODELS.items()]


def test_reader_agrees_with_mteb(results):
    models = {m.model: m for m in read_mteb_results(results)}
    assert sorted(models) == sorted(MODELS)
    for name, (_, tasks) in MODELS.items():
        for task, splits in tasks.items():
            if "test" in splits:
                assert models[name].scores[task] == pytest.approx(
                    mteb_score(results, name, task), abs=1e-12
                )
    assert models["org/m-a"].revisions["STSBenchmark"] == "rev1"
    assert models["x/m-d"].no_split == ["MSMARCO"]
    assert models["org/m-a"].scores["STS22"] == pytest.approx(0.55)  # mean over subsets
    # the folder itself, without the leading results/
    again = {m.model: m.scores for m in read_mteb_results(results / "results")}
    assert again == {name: m.scores for name, m in models.items()}


def test_correlate_with_mteb_results(results, tmp_path, capsys):
    folders = runs(tmp_path)
    out = tmp_path / "corr.json"
    argv = ["correlate", *folders, "--mteb-results", str(results), "--json", "--out", str(out)]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    common = ["STS22", "STSBenchmark", "SciFact"]  # Banking77 and MSMARCO: not every model
    assert res["mteb"]["tasks"] == common
    assert res["mteb"]["left_out"] == {
        "Banking77Classification": ["other/m-c", "x/m-d"],
        "MSMARCO": ["org/m-a", "org/m-b", "other/m-c", "x/m-d"],
    }
    expected = {m: sum(mteb_score(results, m, t) for t in common) / 3 for m in MODELS}
    rho = spearmanr([v[0] for v in MODELS.values()], [expected[m] for m in MODELS])
    assert res["socm"]["spearman_rho"] == pytest.approx(rho.statistic, abs=1e-12)
    assert res["socm"]["p_value"] == pytest.approx(rho.pvalue, abs=1e-12)
    for row in res["table"]:
        assert row["score"] == pytest.approx(expected[row["model"]], abs=1e-12)
    assert json.loads(out.read_text())["n_models"] == 4
    # the printed table names the tasks used and those left out
    assert main(["correlate", *folders, "--mteb-results", str(results)]) == 0
    text = capsys.readouterr().out
    assert "MTEB tasks averaged: STS22, STSBenchmark, SciFact" in text
    assert "left out Banking77Classification: no test-split results for other/m-c, x/m-d" in text


def test_chosen_tasks_and_errors(results, tmp_path, capsys):
    folders = runs(tmp_path)
    argv = ["correlate", *folders, "--mteb-results", str(results), "--json"]
    assert main([*argv, "--mteb-tasks", "SciFact,Banking77Classification"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["mteb"]["tasks"] == ["SciFact"]
    assert res["mteb"]["left_out"] == {"Banking77Classification": ["other/m-c", "x/m-d"]}
    refused([*argv, "--mteb-tasks", "NoSuchTask"], capsys, "no results for the task(s) NoSuchTask")
    refused([*argv, "--mteb-tasks", "SciFact,"], capsys, "--mteb-tasks", "empty task name")
    refused([*argv, "--mteb-tasks", "MSMARCO"], capsys, "no task has test-split results")
    refused(["correlate", *folders, "--mteb-tasks", "SciFact", "--paper-table"], capsys,
            "--mteb-tasks")  # fmt: skip
    refused([*argv, "--paper-table"], capsys, "exactly one score source", "--mteb-results")
    refused(["correlate", "--mteb-results", str(results)], capsys, "needs run folders")
    refused(["correlate", *folders, "--mteb-results", str(tmp_path / "none")], capsys,
            "MTEB results folder not found")  # fmt: skip


def test_result_files_as_documented(tmp_path):
    """Files in the documented schema, current and before mteb 1.11, and bad ones."""
    rev = tmp_path / "results" / "org__legacy" / "no_revision_available"
    rev.mkdir(parents=True)
    (rev / "STS22.json").write_text(
        json.dumps(
            {
                "mteb_version": "1.1.0",
                "mteb_dataset_name": "STS22",
                "test": {"en": {"main_score": 0.5}, "de": {"main_score": 0.7}},
            }
        )
    )
    (rev / "STSBenchmark.json").write_text(
        json.dumps({"test": {"main_score": 0.8, "cos_sim": {"spearman": 0.8}}})
    )
    (rev / "model_meta.json").write_text(json.dumps({"name": "Org/Legacy-Model"}))
    (model,) = read_mteb_results(tmp_path)
    assert model.model == "Org/Legacy-Model"
    assert model.scores == {"STS22": pytest.approx(0.6), "STSBenchmark": 0.8}
    (rev / "Bad.json").write_text(json.dumps({"task_name": "Bad", "scores": {"test": [{}]}}))
    with pytest.raises(SocmError, match=r"Bad.json: a test subset's main_score is None"):
        read_mteb_results(tmp_path)
    (rev / "Bad.json").write_text("{not json")
    with pytest.raises(SocmError, match="Bad.json: not an MTEB result file"):
        read_mteb_results(tmp_path)
    (rev / "Bad.json").unlink()
    twin = tmp_path / "results" / "org__legacy" / "other_rev"
    twin.mkdir()
    (twin / "STS22.json").write_text(
        json.dumps({"task_name": "STS22", "scores": {"test": [{"main_score": 0.1}]}})
    )
    assert read_mteb_results(tmp_path)[0].revisions["STS22"] == "other_rev"  # named revision
    third = tmp_path / "results" / "org__legacy" / "third_rev"
    third.mkdir()
    (third / "STS22.json").write_text((twin / "STS22.json").read_text())
    with pytest.raises(
        SocmError, match="STS22 has results under the revisions other_rev, third_rev"
    ):
        read_mteb_results(tmp_path)
    with pytest.raises(SocmError, match="no MTEB result files"):
        read_mteb_results(tmp_path / "results" / "org__legacy" / "other_rev")
