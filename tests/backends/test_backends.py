"""The backend interface without Ray: choosing a backend, the local backend, the flags."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import random_tokens

from socm.backends import BACKENDS, LocalBackend, get_backend
from socm.cli import build_parser
from socm.core.pairs import ScoreOptions, pairwise
from socm.core.stats import token_stats
from socm.errors import SocmError
from socm.measure import MeasureConfig, run_measure
from socm.measure.writer import settings_hash


def test_get_backend_names_and_errors():
    assert BACKENDS == ("local", "ray")
    assert isinstance(get_backend("local"), LocalBackend)
    with pytest.raises(SocmError, match="unknown backend 'spark'"):
        get_backend("spark")
    with pytest.raises(SocmError, match="--backend-address is for a backend that runs elsewhere"):
        get_backend("local", "10.0.0.1:6379")


def test_ray_missing_is_one_line_with_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(SocmError, match=r"pip install 'socm\[ray\]'") as info:
        get_backend("ray")
    assert "\n" not in str(info.value)
    cfg = MeasureConfig(corpus="nowhere.txt", backend="ray", out=str(tmp_path / "r"))
    with pytest.raises(SocmError, match=r"socm\[ray\]"):  # before the corpus is even read
        run_measure(cfg)


def test_local_backend_scores_like_the_engine(rng):
    tokens = [random_tokens(rng, int(rng.integers(3, 12)), 16) for _ in range(9)]
    stats = [token_stats(t) for t in tokens]
    with get_backend("local") as backend:
        tiles = list(backend.score(list(stats), None, ScoreOptions("exact", "cpu")))
    got = {(int(i), int(j)): s for t in tiles for i, j, s in zip(t.i, t.j, t.socm, strict=True)}
    ref = pairwise(tokens)
    assert len(got) == len(ref)
    mine = [got[(int(i), int(j))] for i, j in zip(ref.i, ref.j, strict=True)]
    np.testing.assert_allclose(mine, ref.socm, rtol=0, atol=1e-12)


def test_backend_settings_never_change_the_hash_or_the_result_key():
    base = MeasureConfig(corpus="c.txt")
    ray = MeasureConfig(corpus="c.txt", backend="ray", backend_address="10.0.0.1:6379")
    assert settings_hash(ray) == settings_hash(base)
    assert ray.result_key() == base.result_key()
    assert ray.to_dict()["backend"] == "ray"  # recorded in summary.json["config"]


def test_measure_flags():
    parser = build_parser()
    args = parser.parse_args(["measure", "--backend", "ray", "--ray-address", "auto"])
    assert (args.backend, args.backend_address) == ("ray", "auto")
    args = parser.parse_args(["measure", "--backend", "ray", "--backend-address", "h:1"])
    assert (args.backend, args.backend_address) == ("ray", "h:1")
    args = parser.parse_args(["measure"])
    assert (args.backend, args.backend_address) == ("local", None)
    with pytest.raises(SystemExit):
        parser.parse_args(["measure", "--backend", "spark"])


def test_local_stats_hold_the_small_numbers_and_the_means(rng):
    from socm.backends import LocalStats

    stats = [token_stats(random_tokens(rng, int(rng.integers(3, 9)), 8)) for _ in range(5)]
    held = LocalStats(list(stats))
    assert len(held) == 5 and held.dim == 8
    assert held.ranks.tolist() == [s.rank for s in stats]
    np.testing.assert_array_equal(held.traces, [s.trace for s in stats])
    np.testing.assert_array_equal(held.means(), np.stack([s.mean for s in stats]))


def test_score_listed_in_locality_order_comes_back_in_the_given_order(rng):
    """The base route (locality order through ``score``, then back) and the local override
    (``score_candidates``) give the same scores as the engine, pair by pair."""
    from socm.backends import Backend
    from socm.core.mine import score_candidates

    tokens = [random_tokens(rng, int(rng.integers(3, 12)), 16) for _ in range(30)]
    stats = [token_stats(t) for t in tokens]
    pairs = rng.integers(0, 30, (200, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]  # both orientations: paper numerics are asymmetric
    ref = pairwise(tokens, pairs, numerics="paper")
    opts = ScoreOptions("paper", "cpu")
    with get_backend("local") as backend:
        base = Backend.score_listed(backend, list(stats), pairs, opts)
        local = backend.score_listed(stats, pairs, opts)
    expected = score_candidates(stats, pairs, opts)
    for got in (base, local):
        for f in ("d_mu", "d_sigma", "socm"):
            np.testing.assert_allclose(getattr(got, f), getattr(ref, f), rtol=0, atol=1e-12)
    for f in local.fields:  # the local backend is score_candidates itself
        np.testing.assert_array_equal(getattr(local, f), getattr(expected, f))


class CountingBackend(LocalBackend):
    """A backend defined outside socm: the local one, counting the tiles it scored."""

    name = "counting"
    tiles = 0

    def score(self, stats, pairs, opts):
        for tile in super().score(stats, pairs, opts):
            CountingBackend.tiles += 1
            yield tile


def test_a_registered_backend_runs_a_job_without_edits(wiki_head, tmp_path, monkeypatch):
    import socm.backends as backends

    monkeypatch.setattr(backends, "_REGISTERED", {})
    with pytest.raises(SocmError, match="unknown backend 'counting': choose one of local, ray"):
        get_backend("counting")
    backends.register_backend("counting", CountingBackend)
    assert "counting" in backends.backend_names() and "counting" in backends.available_backends()
    args = build_parser().parse_args(["measure", "--backend", "counting"])
    assert args.backend == "counting"
    cfg = MeasureConfig(
        corpus=str(wiki_head),
        n_texts=6,
        out=str(tmp_path / "r"),
        progress=False,
        device="cpu",
        cache_dir=str(tmp_path / "c"),
        backend="counting",
    )
    summary, _ = run_measure(cfg)
    assert summary["backend"] == {"name": "counting"} and CountingBackend.tiles >= 1
    assert summary["n_pairs"] == 15
    with pytest.raises(ValueError, match="built-in backend"):
        backends.register_backend("ray", CountingBackend)
    with pytest.raises(ValueError, match="lower-case word"):
        backends.register_backend("My Backend", CountingBackend)


def test_backends_declared_by_installed_packages(monkeypatch):
    """Another package declares ``[project.entry-points."socm.backends"]``: found by name."""
    import importlib.metadata as md

    import socm.backends as backends

    point = md.EntryPoint(
        name="counting",
        value="tests.backends.test_backends:CountingBackend",
        group=backends.ENTRY_POINT_GROUP,
    )
    broken = md.EntryPoint(
        name="broken", value="no_such_module:X", group=backends.ENTRY_POINT_GROUP
    )
    real = md.entry_points

    def fake(**kw):
        if kw.get("group") == backends.ENTRY_POINT_GROUP:
            return md.EntryPoints([point, broken])
        return real(**kw)

    monkeypatch.setattr(md, "entry_points", fake)
    monkeypatch.setitem(sys.modules, "tests.backends.test_backends", sys.modules[__name__])
    assert backends.backend_names() == ("local", "ray", "counting", "broken")
    assert isinstance(get_backend("counting"), CountingBackend)
    with pytest.raises(SocmError, match="backend 'broken' cannot be loaded"):
        get_backend("broken")
