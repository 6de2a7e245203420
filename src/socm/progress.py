"""Progress bars: one helper so every long loop shows progress and an estimate the same way."""

from __future__ import annotations

from typing import Any

__all__ = ["duration", "progress_bar"]


def progress_bar(total: int, desc: str, unit: str = "it", enabled: bool = True) -> Any:
    """A ``tqdm`` bar (rate and time estimate included); silent when ``enabled`` is False."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled)


def duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min"`` or ``"2.5 h"``: a time estimate in words.

    Examples
    --------
    >>> duration(40), duration(700), duration(9000)
    ('40 s', '12 min', '2.5 h')
    """
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
