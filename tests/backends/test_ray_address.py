"""Where the Ray backend connects, without a cluster (issue 23, class 5): a new local instance
unless an address is given, never the cluster of Ray's current-cluster file; ``auto`` is
probed first, so a stale file is one error, not minutes of waiting."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")

from socm.backends.ray import RayBackend  # noqa: E402
from socm.backends.ray import cluster as cluster_mod  # noqa: E402
from socm.errors import SocmError  # noqa: E402


class Stop(Exception):
    pass


@pytest.fixture
def calls(monkeypatch):
    """``ray.init`` recorded and stopped before it starts anything."""
    seen: list[dict] = []

    def init(**kwargs):
        seen.append(kwargs)
        raise Stop

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return seen


def test_no_address_starts_a_local_instance(calls, monkeypatch):
    monkeypatch.setattr(cluster_mod, "auto_address", lambda: "10.9.9.9:6379")  # a cluster file
    backend = RayBackend()
    with pytest.raises(Stop):
        backend.start()
    assert calls[0]["address"] == "local" and backend.info()["address"] == "local instance"


def test_ray_address_in_the_environment_is_an_address(calls, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")  # nothing listens there
    with pytest.raises(SocmError, match="cannot reach the Ray cluster at 127.0.0.1:1"):
        RayBackend().start()
    assert calls == []  # refused before ray.init


def test_auto_with_a_stale_cluster_file_is_one_quick_error(calls, monkeypatch):
    monkeypatch.setattr(cluster_mod, "auto_address", lambda: "127.0.0.1:1")
    with pytest.raises(SocmError, match="current-cluster file, a stale one"):
        RayBackend("auto").start()
    monkeypatch.setattr(cluster_mod, "auto_address", lambda: None)
    with pytest.raises(SocmError, match="no running Ray cluster found"):
        RayBackend("auto").start()
    assert calls == []
