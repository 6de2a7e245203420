"""Without HF_HUB_OFFLINE on a machine without network, the hub is probed once and quickly,
said in one line, and not asked again (issue 23, rough edges)."""

from __future__ import annotations

import time
import warnings

import pytest
from conftest import MODEL

from socm.encode import models
from socm.errors import SocmError, SocmWarning


@pytest.fixture
def no_network(monkeypatch):
    probes = []

    def probe(timeout: float = 3.0) -> bool:
        probes.append(timeout)
        return False

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(models, "hub_reachable", probe)
    monkeypatch.setattr(models, "_HUB_STATE", {})
    return probes


def test_an_unreachable_hub_is_said_once_and_not_asked(no_network, monkeypatch):
    t0 = time.perf_counter()
    with pytest.warns(SocmWarning, match="does not answer: using local copies of the models only"):
        first = models.resolve_model(MODEL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once
        second = models.resolve_model(MODEL)
    assert first.source == second.source == "package" and no_network == [3.0]
    assert time.perf_counter() - t0 < 10  # not the hub's retries (about 25 s)
    asked = []

    def from_pretrained(name, **kw):  # what transformers is asked, without any network
        asked.append(kw.get("local_files_only", False))
        raise OSError(f"{name} is not in the local cache")

    import transformers

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", from_pretrained)
    with pytest.raises(SocmError, match="the hub does not answer and it is not in the local"):
        models.resolve_model("nobody/nothing-here")  # a hub id without a packaged copy
    assert asked == [True]  # the local cache only: no retries of the hub
