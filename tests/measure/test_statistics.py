"""Runs beyond the memory budget keep their statistics on disk, with the same results."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_config

from socm.analyses.mine import read_mine_run, run_mine
from socm.cli import main
from socm.errors import SocmError
from socm.measure import run_measure
from socm.measure.rundir import pairs_dataset


def pairs_of(run) -> dict:
    return pairs_dataset(run / "pairs.parquet").to_table().to_pydict()


def test_measure_beyond_the_budget_equals_in_memory(wiki_head, tmp_path):
    kw = {"n_texts": 40, "cache_dir": str(tmp_path / "cache")}
    mem, out_mem = run_measure(run_config(wiki_head, tmp_path, out=str(tmp_path / "m"), **kw))
    disk, out_disk = run_measure(
        run_config(wiki_head, tmp_path, out=str(tmp_path / "d"), memory_budget="64k", **kw)
    )
    assert mem["statistics"]["kept"] == "memory"
    assert disk["statistics"]["kept"] == "store" and disk["statistics"]["n_texts"] == 40
    assert disk["statistics"]["estimated_bytes"] > 64 << 10
    a, b = pairs_of(out_mem), pairs_of(out_disk)
    key = lambda t: sorted(zip(t["text1_id"], t["text2_id"], t["socm"], strict=True))  # noqa: E731
    got, ref = key(b), key(a)
    assert [g[:2] for g in got] == [r[:2] for r in ref]
    np.testing.assert_allclose([g[2] for g in got], [r[2] for r in ref], rtol=0, atol=1e-9)
    for k in ("avg_socm", "avg_d_mu", "avg_d_sigma"):
        assert disk[k] == pytest.approx(mem[k], abs=1e-12)
    assert (out_mem / "texts.jsonl").read_text() == (out_disk / "texts.jsonl").read_text()


def test_mine_beyond_the_budget_equals_in_memory_and_reruns_from_the_store(
    wiki_head, tmp_path, capfd, monkeypatch
):
    import socm.store.scores as scores_module

    monkeypatch.setattr(scores_module, "SCORE_WINDOW", 64)  # several windows of scores
    lines = wiki_head.read_text(encoding="utf-8").splitlines()[:120]
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    kw = {"cache_dir": str(tmp_path / "cache")}
    opts = {"neighbors": 4, "top_k": None}
    ref, out_ref = run_mine(run_config(corpus, tmp_path, out=str(tmp_path / "m"), **kw), **opts)
    store = tmp_path / "stats"
    got, out = run_mine(
        run_config(corpus, tmp_path, out=str(tmp_path / "s"), store=str(store), **kw), **opts
    )
    assert got["statistics"]["kept"] == "store" and store.is_dir()
    n_windows = -(-got["n_candidates"] // 64)
    assert n_windows > 2 and len(list((store / "scores").glob("*.npz"))) == n_windows
    assert got["score_windows"] == {"size": 64, "n_windows": n_windows, "read_back": 0}
    assert "score_windows" not in ref  # in memory: scored at once, nothing saved
    a, b = read_mine_run(out_ref)[1].to_pydict(), read_mine_run(out)[1].to_pydict()
    assert a["text1_id"] == b["text1_id"] and a["text2_id"] == b["text2_id"]
    for col in ("cosine", "d_mu", "d_sigma", "socm", "relative_d_sigma"):
        np.testing.assert_allclose(b[col], a[col], rtol=0, atol=1e-9, err_msg=col)
    again, out2 = run_mine(
        run_config(corpus, tmp_path, out=str(tmp_path / "s2"), store=str(store), **kw), **opts
    )
    err = capfd.readouterr().err
    assert "its candidates are read back" in err  # no second search
    assert f"{n_windows} of {n_windows} windows of scored candidate pairs" in err  # no scoring
    assert again["score_windows"]["read_back"] == n_windows
    assert read_mine_run(out2)[1].equals(read_mine_run(out)[1])
    assert again["timings"]["n_encoded"] == 0 and again["timings"]["n_cached"] == ref["n_texts"]
    assert again["n_candidates"] == ref["n_candidates"]
    assert again["statistics"]["n_texts"] == ref["n_texts"]
    fewer, _ = run_measure(
        run_config(corpus, tmp_path, out=str(tmp_path / "few"), store=str(store), n_texts=10, **kw)
    )  # the run's own count, and the store's (the mine run's texts too) apart
    assert fewer["statistics"]["n_texts"] == 10
    assert fewer["statistics"]["n_texts_in_store"] >= ref["n_texts"]


def test_a_float32_store_moves_values_by_at_most_1e_7_and_keys_the_run(wiki_head, tmp_path):
    kw = {"n_texts": 60, "cache_dir": str(tmp_path / "cache")}
    opts = {"neighbors": 4, "top_k": None}
    _, out_ref = run_mine(run_config(wiki_head, tmp_path, out=str(tmp_path / "m"), **kw), **opts)
    cfg = run_config(
        wiki_head, tmp_path, out=str(tmp_path / "f"), store=str(tmp_path / "s"),
        store_dtype="float32", **kw,
    )  # fmt: skip
    got, out = run_mine(cfg, **opts)
    assert got["statistics"]["dtype"] == "float32" and got["config"]["store_dtype"] == "float32"
    assert cfg.result_key() != run_config(wiki_head, tmp_path, **kw).result_key()
    key = lambda t: sorted(zip(t["text1_id"], t["text2_id"], t["d_sigma"], t["socm"], strict=True))  # noqa: E731
    a, b = key(read_mine_run(out_ref)[1].to_pydict()), key(read_mine_run(out)[1].to_pydict())
    assert [r[:2] for r in a] == [r[:2] for r in b]
    moved = np.abs(np.array([r[2:] for r in a]) - np.array([r[2:] for r in b]))
    assert 0 < moved.max() <= 1e-7  # float32 factors: moved, within the documented bound


def test_no_cache_store_is_temporary_and_bad_budgets_are_one_line(
    wiki_head, tmp_path, monkeypatch, capsys
):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    s, _ = run_measure(
        run_config(wiki_head, tmp_path, n_texts=12, no_cache=True, memory_budget="8k")
    )
    assert s["statistics"]["kept"] == "store"
    assert not list((tmp_path / "tmp").glob("socm-stats-*"))  # removed after the run
    args = ["measure", "--corpus", str(wiki_head), "--n-texts", "5", "-q", "--device", "cpu"]
    args += ["--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")]
    assert main([*args, "--memory-budget", "lots"]) == 2  # refused by the parser
    err = capsys.readouterr().err.strip()
    assert err.startswith("socm: error: measure: argument --memory-budget: expected a size")
    assert "\n" not in err
    assert main([*args, "--store-dtype", "float16"]) == 2  # not a store precision
    err = capsys.readouterr().err.strip()
    assert "argument --store-dtype: invalid choice: 'float16'" in err and "\n" not in err
    with pytest.raises(SocmError, match="--store-dtype must be one of float64, float32"):
        run_measure(
            run_config(
                wiki_head, tmp_path, out=str(tmp_path / "bad"), n_texts=5, store_dtype="float16"
            )
        )
    assert not (tmp_path / "bad").exists()  # refused before any run folder
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main([*args, "--store", str(blocker)]) == 1
    assert "--store" in capsys.readouterr().err


def test_store_flags_refused_for_a_backend_that_keeps_statistics_elsewhere(
    wiki_head, tmp_path, capsys, monkeypatch
):
    import socm.backends as backends
    from socm.backends import LocalBackend, register_backend

    monkeypatch.setattr(backends, "_REGISTERED", {})

    class Elsewhere(LocalBackend):
        name = "elsewhere"
        collects = False

        def start(self):
            raise AssertionError("the refusal comes before the backend starts")

    register_backend("elsewhere", Elsewhere)
    args = ["measure", "--corpus", str(wiki_head), "--n-texts", "5", "-q", "--device", "cpu"]
    args += ["--out", str(tmp_path / "r"), "--backend", "elsewhere"]
    flags = (["--store", str(tmp_path / "s")], ["--memory-budget", "1G"])
    for extra in (*flags, ["--store-dtype", "float32"]):
        assert main([*args, *extra]) == 1
        err = capsys.readouterr().err.strip()
        assert "--store, --memory-budget and --store-dtype" in err and "'elsewhere'" in err
        assert "\n" not in err
    args[0] = "mine"
    args[4] = "12"
    assert main([*args, "--neighbors", "3", "--store", str(tmp_path / "s")]) == 1
    assert "'elsewhere'" in capsys.readouterr().err
