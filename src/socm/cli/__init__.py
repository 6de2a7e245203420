"""The ``socm`` command line: a thin layer over the Python API.

One module per command group (``measure``: measure, msmarco, sts, compare, reproduce;
``analyses``: layers, mechanism, correlate, validate; ``mine``: mine; ``figures``: plot, pair,
report), shared flags as
argparse parent parsers in ``common``. Each command has a ``cmd_<name>`` handler that takes the
parsed namespace, builds a config, calls one library function, prints and returns an exit code;
tests call ``main([...])`` or the handlers directly. User errors end with one line on stderr
(``socm: error: ...``) and exit code 1, never a traceback (``--debug`` shows it). What the
commands print (stdout) and the error and warning lines pass through
:func:`socm.errors.printable`, so that texts, ids and file names cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import warnings
from collections.abc import Sequence

from socm.cli import analyses, figures, measure, mine
from socm.cli.analyses import cmd_correlate, cmd_layers, cmd_mechanism
from socm.cli.common import config_from_args
from socm.cli.figures import cmd_pair, cmd_plot, cmd_report
from socm.cli.measure import cmd_compare, cmd_measure, cmd_msmarco, cmd_reproduce
from socm.cli.mine import cmd_mine
from socm.errors import SocmError, SocmWarning, printable

__all__ = [
    "build_parser",
    "cmd_compare",
    "cmd_correlate",
    "cmd_layers",
    "cmd_measure",
    "cmd_mechanism",
    "cmd_mine",
    "cmd_msmarco",
    "cmd_pair",
    "cmd_plot",
    "cmd_report",
    "cmd_reproduce",
    "config_from_args",
    "main",
]


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``socm: error: <what>`` (exit code 2)."""

    def error(self, message: str):  # type: ignore[override]
        where = self.prog.removeprefix("socm").strip()
        self.exit(2, f"socm: error: {where + ': ' if where else ''}{message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``socm`` parser with all subcommands."""
    from socm import __version__

    parser = Parser(
        prog="socm",
        description="Measure how much information mean pooling destroys in text embeddings "
        "(second-order collapse, Hara et al., ACL 2026).",
    )
    parser.add_argument("--version", action="version", version=f"socm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    measure.add_parsers(sub)
    analyses.add_parsers(sub)
    mine.add_parsers(sub)
    figures.add_parsers(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line each: ``socm: warning: ...`` for ours, the usual form otherwise."""
    if issubclass(category, SocmWarning):
        print(f"socm: warning: {printable(str(message))}", file=sys.stderr)
    else:
        text = warnings.formatwarning(message, category, filename, lineno, line)
        print(printable(text), file=sys.stderr)


class _Printable(io.TextIOBase):
    """A text stream that writes to another through :func:`~socm.errors.printable`."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(printable(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``socm`` console script."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a flag error already printed
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    stdout = sys.stdout
    sys.stdout = _Printable(stdout)  # results hold corpus texts, ids and file names
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("socm: interrupted (finished batches are cached: rerun to resume)", file=sys.stderr)
        return 130
    except (SocmError, ValueError, OSError) as exc:  # OSError: a full disk, no permission, ...
        if args.debug:
            raise
        if isinstance(exc, OSError) and not isinstance(exc, SocmError) and exc.strerror:
            where = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
            msg = exc.strerror + (f": {' -> '.join(where)}" if where else "")
        else:
            msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        print(f"socm: error: {printable(msg)}", file=sys.stderr)
        return 1
    except Exception as exc:  # anything unforeseen: still one line, traceback on --debug
        if args.debug:
            raise
        print(
            f"socm: internal error: {exc.__class__.__name__}: {printable(str(exc))} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
    finally:
        if isinstance(sys.stdout, _Printable):
            sys.stdout.flush()
        sys.stdout = stdout


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
