"""Run folders under concurrency and after crashes (issue 23, class 6 and its rough edges):
the folder check is made again at the move, a killed run's staging folder is removed by the
next run, folders get the usual permissions, an unwritable --out fails before any work."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from socm.errors import SocmError
from socm.files import check_writable_dir, hold_lock, usual_mode
from socm.measure import MeasureConfig
from socm.measure.writer import RunWriter


def write(writer: RunWriter, name: str = "summary.json", text: str = "{}") -> None:
    with writer as w:
        Path(w.path(name)).write_text(text)


def test_two_runs_racing_for_one_folder(tmp_path):
    out = tmp_path / "run"
    first = RunWriter(out, "measure", MeasureConfig(seed=1))
    second = RunWriter(out, "measure", MeasureConfig(seed=2))  # checked while out is absent
    write(first, text='{"seed": 1}')
    with pytest.raises(SocmError, match="was written by another run while this one ran"):
        write(second, text='{"seed": 2}')
    assert (out / "summary.json").read_text() == '{"seed": 1}'  # the first run is whole
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # and no staging folder is left
    # the same settings racing: the later one is refused too (it would replace the other)
    a, b = (RunWriter(out, "measure", MeasureConfig(seed=1)) for _ in range(2))
    write(a)
    with pytest.raises(SocmError, match="written by another run"):
        write(b)
    # --overwrite replaces the run it saw, not one written meanwhile
    c = RunWriter(out, "measure", MeasureConfig(seed=3, overwrite=True))
    write(RunWriter(out, "measure", MeasureConfig(seed=1)))  # a rerun in between
    with pytest.raises(SocmError, match="written by another run"):
        write(c)


def test_another_command_may_join_a_new_folder_meanwhile(tmp_path):
    out = tmp_path / "run"
    measure = RunWriter(out, "measure", MeasureConfig())
    layers = RunWriter(out, "layers", MeasureConfig())
    write(layers, "layers.parquet")
    write(measure)  # same texts, model and token policy: both kept
    assert {"layers.parquet", "summary.json"} <= {p.name for p in out.iterdir()}


def test_a_killed_runs_staging_folder_is_removed_by_the_next_run(tmp_path):
    out = tmp_path / "run"
    stale = tmp_path / ".run.k1ll3d_x"
    stale.mkdir()
    (stale / "summary.json").write_text("half")
    live = tmp_path / ".run.l1ve_run"
    live.mkdir()
    fd = hold_lock(live)  # a run still writing
    other = tmp_path / ".other.k1ll3d_x"
    other.mkdir()
    try:
        write(RunWriter(out, "measure", MeasureConfig()))
    finally:
        os.close(fd)
    assert not stale.exists() and live.exists() and other.exists()


def test_a_run_folder_gets_the_usual_permissions(tmp_path):
    out = tmp_path / "run"
    write(RunWriter(out, "measure", MeasureConfig()))
    assert out.stat().st_mode & 0o777 == usual_mode(folder=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_a_folder_that_cannot_be_created_is_refused_before_any_work(tmp_path):
    with pytest.raises(SocmError, match="run folder /proc/x: cannot create a folder in /proc"):
        RunWriter(Path("/proc/x"), "measure", MeasureConfig())
    with pytest.raises(SocmError, match="cannot create a folder in /proc"):
        check_writable_dir(Path("/proc/x/y"), "--cache-dir")
