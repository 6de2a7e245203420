"""Every number on the command line is range-checked by the parser (issue 23, class 10): an
out-of-range value is one line naming the flag (exit code 2), never an internal error."""

from __future__ import annotations

import argparse

import pytest

from socm.cli import build_parser, main
from socm.cli.common import INT_MAX

HUGE = "99999999999999999999999"


def subcommands() -> dict[str, argparse.ArgumentParser]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def numeric_flags() -> list[tuple[str, str]]:
    """(command, flag) of every option whose value is a number."""
    out = []
    for name, sub in subcommands().items():
        for action in sub._actions:
            if action.option_strings and action.type is not None:
                kind = getattr(action.type, "__name__", "")
                if kind not in ("str", "Path"):
                    out.append((name, action.option_strings[0]))
    return out


def test_no_flag_takes_an_unchecked_number():
    for name, sub in subcommands().items():
        for action in sub._actions:
            assert action.type not in (int, float), (name, action.option_strings)


def parse(argv: list[str], capsys) -> tuple[int, str]:
    """The parser alone (no command runs): exit code 0 when it takes ``argv``."""
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0), capsys.readouterr().err
    return 0, capsys.readouterr().err


@pytest.mark.parametrize(("command", "flag"), numeric_flags())
def test_out_of_range_numbers_are_refused_by_the_parser(command, flag, capsys):
    needs = {"msmarco": ["f"], "sts": ["f"], "validate": ["r"], "plot": ["scatter", "r"]}
    needs = needs.get(command, ["r"] if command == "report" else [])
    kind = next(a for a in subcommands()[command]._actions if flag in a.option_strings).type
    whole = getattr(kind, "__name__", "") != "finite_float"
    for value in (HUGE, "-1", "0", "nan", "inf", "1e999G", "x"):
        code, err = parse([command, *needs, flag, value], capsys)
        if code:
            assert code == 2 and err.count("\n") == 1
            assert err.startswith(f"socm: error: {command}: argument {flag}: ")
        if whole and value in (HUGE, "nan", "inf", "x"):
            assert code == 2, (flag, value)  # beyond int64, or not a whole number
        if not whole and value in ("nan", "inf", "x"):
            assert code == 2, (flag, value)


@pytest.mark.parametrize("rank", ["0", "-3", "x", HUGE, str(INT_MAX + 1)])
def test_from_mine_rank_is_checked_by_the_parser(rank, capsys):
    assert main(["pair", "--from-mine", "run", rank]) == 2  # before the run is even looked at
    err = capsys.readouterr().err
    assert (
        err.startswith("socm: error: pair: argument --from-mine: RANK: ") and err.count("\n") == 1
    )
    assert "--rank" not in err
