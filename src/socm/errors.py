"""The exception type for user errors, the warning type for doubtful input, and
:func:`printable`: user-supplied text made safe to show on a terminal."""

from __future__ import annotations

import re
import warnings

__all__ = ["SocmError", "SocmWarning", "printable", "warn"]

#: Characters a terminal acts on instead of showing: C0 controls but tab and newline (ESC starts
#: escape sequences: clear screen, window title, hyperlinks), DEL, C1 controls (U+009B is a
#: one-character CSI), and bidirectional overrides and isolates (which reorder what is shown).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    r"""``text`` with every character a terminal would act on written as a ``\uXXXX``
    escape, so that corpus texts, ids and file names cannot clear the screen, set the window
    title, open hyperlinks or reorder the line. The escape is JSON's, so JSON text stays
    valid JSON.

    Examples
    --------
    >>> print(printable("a\x1b]0;title\x07b"))
    a\u001b]0;title\u0007b
    >>> printable("a tab\t and a new line\n stay") == "a tab\t and a new line\n stay"
    True
    """
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class SocmError(Exception):
    """A problem with the user's input: reported as one line on stderr by the CLI."""


class SocmWarning(UserWarning):
    """Input that is used as given but deserves a look (the CLI prints ``socm: warning: ...``)."""


def warn(message: str) -> None:
    """Emit a :class:`SocmWarning` (always shown, once per call)."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", SocmWarning)
        warnings.warn(message, SocmWarning, stacklevel=3)
