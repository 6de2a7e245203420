"""Every docstring example in the package runs and gives what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import socm

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(socm.__path__, "socm.") if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_the_documented_examples_exist():
    attempted = {
        name: doctest.testmod(importlib.import_module(name), verbose=False).attempted
        for name in ("socm", "socm.core.metrics", "socm.core.stats", "socm.core.pairs")
    }
    assert all(n > 0 for n in attempted.values()), attempted
