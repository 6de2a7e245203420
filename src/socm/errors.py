"""The exception type for user errors and the warning type for doubtful input."""

from __future__ import annotations

import warnings

__all__ = ["SocmError", "SocmWarning", "warn"]


class SocmError(Exception):
    """A problem with the user's input: reported as one line on stderr by the CLI."""


class SocmWarning(UserWarning):
    """Input that is used as given but deserves a look (the CLI prints ``socm: warning: ...``)."""


def warn(message: str) -> None:
    """Emit a :class:`SocmWarning` (always shown, once per call)."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", SocmWarning)
        warnings.warn(message, SocmWarning, stacklevel=3)
