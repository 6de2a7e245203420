"""The flag tables of ``docs/cli.md``, generated from the command line's own parser.

    python scripts/cli_docs.py            # print every generated block
    python scripts/cli_docs.py --write    # rewrite the generated blocks of docs/cli.md
    python scripts/cli_docs.py --check    # exit 1 when docs/cli.md is not up to date

``docs/cli.md`` holds marked blocks, ``<!-- cli: global -->``, ``<!-- cli: group NAME -->``
and ``<!-- cli: command NAME -->``, each closed by ``<!-- /cli -->``; only the text between a
marker and its end is generated, the prose around it is written by hand. A flag group that
several commands share (the parents in ``socm.cli.common``: encoder, corpus, pairs, output,
execution, downstream scores) gets one table; a command's block names the shared flags it
takes and has a table of its own flags, and of the shared flags it defines differently (another
default or help text). ``--out`` and ``--json`` mean something different for each command, so
they are always in the command's own table. ``tests/test_docs.py`` checks that the file is up
to date: after changing a flag, run this script with ``--write`` (and describe a new command in
the prose around its block).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from collections import Counter
from pathlib import Path

from socm.backends import BACKENDS
from socm.cli import build_parser

CLI_MD = Path(__file__).resolve().parents[1] / "docs" / "cli.md"

#: Flags whose meaning depends on the command: always in the command's own table.
PER_COMMAND = {"--out", "--json"}
#: argparse's own groups: a command's own flags and positional arguments.
OWN_GROUPS = {"options", "optional arguments", "positional arguments"}

BLOCK = re.compile(
    r"(<!-- cli: (?P<key>[a-z]+(?: [a-z -]+)?) -->\n)(?P<body>.*?)(<!-- /cli -->)", re.S
)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands' parsers, by name, in the order ``socm --help`` lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _visible(actions) -> list[argparse.Action]:
    return [a for a in actions if a.help != argparse.SUPPRESS and a.dest != "help"]


def _groups(sub: argparse.ArgumentParser) -> list[tuple[str, list[argparse.Action]]]:
    return [(g.title, _visible(g._group_actions)) for g in sub._action_groups]


def _key(action: argparse.Action) -> tuple:
    """What makes two declarations of a flag the same flag."""
    return (
        tuple(action.option_strings),
        type(action).__name__,
        action.help,
        repr(action.default),
        tuple(action.choices) if action.choices else None,
        action.nargs,
        action.metavar,
        getattr(action.type, "__name__", repr(action.type)),
    )


def _name(action: argparse.Action) -> str:
    return action.option_strings[0] if action.option_strings else action.dest


def shared(parser: argparse.ArgumentParser) -> dict[str, dict[str, argparse.Action]]:
    """Shared group title -> {flag: its usual declaration}, for the groups that two or more
    commands take. A flag is listed once, under the group of its first use; its usual
    declaration is the one most commands make (per-command flags are left out)."""
    uses: Counter = Counter()
    home: dict[str, str] = {}
    counts: dict[str, Counter] = {}
    decl: dict[tuple, argparse.Action] = {}
    for sub in subcommands(parser).values():
        for title, actions in _groups(sub):
            if title in OWN_GROUPS:
                continue
            uses[title] += 1
            for a in actions:
                home.setdefault(_name(a), title)
                counts.setdefault(_name(a), Counter())[_key(a)] += 1
                decl.setdefault(_key(a), a)
    out: dict[str, dict[str, argparse.Action]] = {t: {} for t in uses if uses[t] >= 2}
    for name, title in home.items():
        if title in out and name not in PER_COMMAND:
            out[title][name] = decl[counts[name].most_common(1)[0][0]]
    return {t: flags for t, flags in out.items() if flags}


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _help(action: argparse.Action) -> str:
    text = " ".join((action.help or "").split())
    if action.dest == "backend":  # the installed backends differ from machine to machine
        text = re.sub(r" \(installed here: [^)]*\)", "", text)
    return _md(text.replace("%%", "%"))


def _value(action: argparse.Action, sub: argparse.ArgumentParser) -> str:
    if action.nargs == 0:
        return "(switch)"
    choices = list(action.choices) if action.choices else None
    if action.dest == "backend" and choices:  # built-ins; packages may add more
        choices = [c for c in choices if c in BACKENDS] + ["…"]
    if choices:
        return ", ".join(f"`{c}`" if c != "…" else c for c in choices)
    fmt = sub._get_formatter()
    metavar = (
        fmt._get_default_metavar_for_optional(action)
        if action.option_strings
        else fmt._get_default_metavar_for_positional(action)
    )
    return f"`{fmt._format_args(action, metavar)}`"


def _default(action: argparse.Action) -> str:
    d = action.default
    if action.nargs == 0 or d is None or d is False or d in (argparse.SUPPRESS, "", []):
        return ""
    return f"`{d}`"


def _flags(action: argparse.Action) -> str:
    names = action.option_strings or [action.metavar or action.dest]
    if isinstance(names[0], tuple):
        names = [" ".join(names[0])]
    longs = [n for n in names if n.startswith("--")] or names
    shorts = [n for n in names if n not in longs]
    return ", ".join(f"`{n}`" for n in [*longs, *shorts])


def table(rows: list[tuple[argparse.Action, argparse.ArgumentParser]]) -> str:
    lines = ["| flag | value | default | what it does |", "| --- | --- | --- | --- |"]
    for a, sub in rows:
        lines.append(f"| {_flags(a)} | {_value(a, sub)} | {_default(a)} | {_help(a)} |")
    return "\n".join(lines)


def _anchor(title: str) -> str:
    return f"{title.replace(' ', '-')}-flags"


def group_block(parser: argparse.ArgumentParser, title: str) -> str:
    """The table of a shared flag group."""
    groups = shared(parser)
    owner = {}
    for sub in subcommands(parser).values():
        for t, actions in _groups(sub):
            for a in actions:
                if t == title and _key(a) == _key(groups[title].get(_name(a), a)):
                    owner.setdefault(_name(a), sub)
    rows = [(a, owner[n]) for n, a in groups[title].items()]
    return table(rows)


def synopsis(name: str, sub: argparse.ArgumentParser) -> str:
    """``socm NAME`` with its positional arguments, then ``[flags]``."""
    fmt = sub._get_formatter()
    args = []
    for a in _visible(sub._actions):
        if not a.option_strings:  # a choice of values is named, e.g. KIND: they are in the table
            named = copy.copy(a)
            named.metavar = a.metavar or (a.dest.upper() if a.choices else a.dest)
            args.append(fmt._format_args(named, named.metavar))
    return " ".join(["socm", name, *args, "[flags]"])


def command_block(parser: argparse.ArgumentParser, name: str) -> str:
    """A command's synopsis, its own flags and the shared flags it takes."""
    sub = subcommands(parser)[name]
    groups = shared(parser)
    usual = {n: (t, a) for t, flags in groups.items() for n, a in flags.items()}
    own: list[tuple[argparse.Action, argparse.ArgumentParser]] = []
    takes: dict[str, list[str]] = {t: [] for t in groups}
    for title, actions in _groups(sub):
        for a in actions:
            home, decl = usual.get(_name(a), (None, None))
            if title not in OWN_GROUPS and decl is not None and _key(decl) == _key(a):
                takes[home].append(f"`{a.option_strings[0]}`")  # aliases: in its table
            else:
                own.append((a, sub))
    own.sort(key=lambda r: bool(r[0].option_strings))  # positional arguments first
    out = [f"`{synopsis(name, sub)}`", ""]
    if own:
        out += [table(own), ""]
    listed = [f"[{t}](#{_anchor(t)}) {', '.join(f)}" for t, f in takes.items() if f]
    out.append(("Shared flags: " + "; ".join(listed) + ".") if listed else "No shared flags.")
    return "\n".join(out)


def global_block(parser: argparse.ArgumentParser) -> str:
    """The flags of ``socm`` itself (before the command)."""
    rows = [(a, parser) for a in _visible(parser._actions) if a.option_strings]
    return table(rows)


def blocks(parser: argparse.ArgumentParser | None = None) -> dict[str, str]:
    """Every generated block, by marker key (``global``, ``group NAME``, ``command NAME``)."""
    parser = parser or build_parser()
    out = {"global": global_block(parser)}
    for title in shared(parser):
        out[f"group {title}"] = group_block(parser, title)
    for name in subcommands(parser):
        out[f"command {name}"] = command_block(parser, name)
    return out


def render(text: str, generated: dict[str, str]) -> tuple[str, list[str]]:
    """``text`` with its blocks regenerated, and the keys that have no block in it."""
    found = set()

    def sub(m: re.Match) -> str:
        key = m.group("key")
        found.add(key)
        body = generated.get(key)
        if body is None:
            return m.group(0)  # an unknown block: left as written (the test reports it)
        return f"{m.group(1)}{body}\n{m.group(4)}"

    return BLOCK.sub(sub, text), [k for k in generated if k not in found]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the blocks of docs/cli.md")
    mode.add_argument("--check", action="store_true", help="exit 1 when docs/cli.md is stale")
    args = ap.parse_args(argv)
    generated = blocks()
    if not (args.write or args.check):
        for key, body in generated.items():
            print(f"<!-- cli: {key} -->\n{body}\n<!-- /cli -->\n")
        return 0
    old = CLI_MD.read_text(encoding="utf-8")
    new, missing = render(old, generated)
    for key in missing:
        print(f"docs/cli.md has no block <!-- cli: {key} -->: add one", file=sys.stderr)
    if args.write:
        if new != old:
            CLI_MD.write_text(new, encoding="utf-8")
            print(f"rewrote {CLI_MD}")
        return 1 if missing else 0
    if new != old:
        print("docs/cli.md is out of date: run python scripts/cli_docs.py --write", file=sys.stderr)
    return 1 if (missing or new != old) else 0


if __name__ == "__main__":
    sys.exit(main())
