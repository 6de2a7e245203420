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


def test_a_decoder_runs_prompt_exclusions_and_forward_dtype_are_followed():
    cfg = {"model": "m", "prompt": "Instruct: x\nQuery: ", "exclude_prompt_tokens": True}
    cfg |= {"exclude_first_token": True, "dtype": "auto"}
    record = {"config": cfg, "forward_dtype": "bfloat16"}
    got = follow_run(record, "mine run r")
    assert got["prompt"] == cfg["prompt"] and got["prompt_name"] is None
    assert got["exclude_prompt_tokens"] is True and got["exclude_first_token"] is True
    assert got["dtype"] == "bfloat16"  # what "auto" resolved to where the run ran
    assert follow_run({"config": {"model": "m"}}, "run r")["dtype"] == "auto"  # older records
    with pytest.raises(SocmError, match="--dtype 'float32' contradicts mine run r, which was "):
        follow_run(record, "mine run r", {"dtype": "float32"})
    with pytest.raises(SocmError, match="measured with prompt tokens excluded"):
        follow_run(record, "mine run r", {"exclude_prompt_tokens": False})
    with pytest.raises(SocmError, match="damaged .dtype"):
        follow_run({**record, "forward_dtype": "int8"}, "mine run r")


def test_a_panel_of_another_forward_dtype_differs():
    policy = {"special_tokens": "included", "prefix": "", "max_length": 512}
    base = {"model": "m", "revision": None, "numerics": "exact", "config": {"layer": None}}
    panel = {"model": "m", "revision": None, "numerics": "exact", "layer": None}
    panel["token_policy"] = policy
    run = {**base, "token_policy": policy, "forward_dtype": "bfloat16"}
    assert differences({**panel, "forward_dtype": "float32"}, run) == ["a bfloat16 forward pass"]
    assert differences({**panel, "forward_dtype": "bfloat16"}, run) == []
    assert differences(panel, {**base, "token_policy": policy}) == []  # older records: float32
