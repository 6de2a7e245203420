"""Where embedding people work: socm inside other libraries' loops.

* :class:`SOCMEvaluator` (:mod:`socm.integrations.evaluator`): a sentence-transformers
  evaluator (``pip install 'socm[sentence-transformers]'``), imported on first use so that
  ``import socm.integrations`` works without the library.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SOCMEvaluator"]


def __getattr__(name: str) -> Any:
    if name == "SOCMEvaluator":
        try:
            from socm.integrations.evaluator import SOCMEvaluator
        except ImportError as exc:
            if "sentence_transformers" not in str(exc):
                raise
            raise ImportError(
                "socm.integrations.SOCMEvaluator needs the PyPI package sentence-transformers: "
                "pip install 'socm[sentence-transformers]'"
            ) from exc
        return SOCMEvaluator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
