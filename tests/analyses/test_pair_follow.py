"""socm pair following a run: a windowed run's --long-texts is taken, a contradicting flag is
refused, and a panel measured otherwise gets no percentile in that run."""

from __future__ import annotations

import pytest

from socm.analyses.pair import differences, follow_run
from socm.errors import SocmError


def test_a_windowed_run_is_followed_and_not_contradicted():
    record = {"config": {"model": "m", "long_texts": "window"}}
    assert follow_run(record, "mine run r")["long_texts"] == "window"
    assert follow_run({"config": {"model": "m"}}, "run r")["long_texts"] == "truncate"
    with pytest.raises(SocmError, match="--long-texts 'truncate' contradicts mine run r"):
        follow_run(record, "mine run r", {"long_texts": "truncate"})


def test_a_panel_measured_whole_differs_from_a_truncated_run_and_back():
    truncated = {"special_tokens": "included", "prefix": "", "max_length": 512}
    whole = {**truncated, "long_texts": "window"}
    base = {"model": "m", "revision": None, "numerics": "exact", "config": {"layer": None}}
    panel = {"model": "m", "revision": None, "numerics": "exact", "layer": None}
    assert (
        differences({**panel, "token_policy": truncated}, {**base, "token_policy": truncated}) == []
    )
    assert differences({**panel, "token_policy": whole}, {**base, "token_policy": truncated}) == [
        "long texts 'truncate'"
    ]
    assert differences({**panel, "token_policy": truncated}, {**base, "token_policy": whole}) == [
        "long texts 'window'"
    ]
