"""The package's dependencies run one way: each stage imports only the stages below it.

Read from the code's own import statements (every ``import`` and ``from ... import``, inside
functions too), so a new upward import or import circle fails here, not in a review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import socm

ROOT = Path(socm.__file__).parent

#: The stages from the bottom up; a module may import its own stage and those below.
LAYERS = [
    {"errors", "progress"},
    {"files"},
    {"core"},
    {"inputs", "encode"},
    {"runs", "store"},
    {"backends"},
    {"api", "measure"},
    {"analyses", "__init__"},  # the package root: socm.pairwise, socm.mine, ...
    {"integrations"},  # other libraries' loops: the sentence-transformers evaluator
    {"output"},
    {"cli"},
    {"__main__"},
]
LEVEL = {stage: k for k, layer in enumerate(LAYERS) for stage in layer}


def stage_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return (
        rel.parts[0].removesuffix(".py")
        if len(rel.parts) > 1 or rel.stem != "__init__"
        else "__init__"
    )


def _absolute(path: Path, node: ast.ImportFrom) -> str:
    """The module a ``from`` import names, relative imports (``from ..core import x``)
    resolved against the file's package."""
    if node.level == 0:
        return node.module or ""
    package = ["socm", *path.relative_to(ROOT).parent.parts]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported socm stage) of every import in a file, inside functions too; relative
    imports are resolved, and ``from socm import core`` counts as importing ``core``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom):
            module = _absolute(path, node)
            if module == "socm":  # the root, or subpackages named as its attributes
                names = [f"socm.{a.name}" if a.name in LEVEL else "socm" for a in node.names]
            else:
                names = [module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "socm":
                out.append((node.lineno, parts[1] if len(parts) > 1 else "__init__"))
    return out


def test_relative_imports_are_resolved():
    fake = ROOT / "core" / "example.py"  # never written: only its path is used
    tree = ast.parse("from ..output import x\nfrom . import stats\nfrom socm import cli, mine")
    got = [_absolute(fake, n) for n in tree.body]
    assert got == ["socm.output", "socm.core", "socm"]


def test_every_stage_has_a_layer():
    stages = {stage_of(p) for p in ROOT.rglob("*.py")}
    assert stages <= set(LEVEL), f"stages without a layer: {stages - set(LEVEL)}"


def test_no_import_runs_upward_or_sideways():
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        here = stage_of(path)
        for line, there in imports(path):
            if there == here:
                continue
            if LEVEL[there] >= LEVEL[here]:
                bad.append(f"{path.relative_to(ROOT)}:{line} ({here}) imports socm.{there}")
    assert not bad, "\n".join(bad)


def test_core_imports_only_core_and_the_base_modules():
    allowed = {"core", "errors", "files", "progress"}
    for path in sorted((ROOT / "core").rglob("*.py")):
        for line, there in imports(path):
            assert there in allowed, f"core/{path.name}:{line} imports socm.{there}"
