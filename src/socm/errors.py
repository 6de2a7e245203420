"""The one exception type for user errors (bad files, unknown models, impossible requests)."""

from __future__ import annotations

__all__ = ["SocmError"]


class SocmError(Exception):
    """A problem with the user's input: reported as one line on stderr by the CLI."""
