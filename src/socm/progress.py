"""Progress bars: one helper so every long loop shows progress and an estimate the same way."""

from __future__ import annotations

from typing import Any

__all__ = ["progress_bar"]


def progress_bar(total: int, desc: str, unit: str = "it", enabled: bool = True) -> Any:
    """A ``tqdm`` bar (rate and time estimate included); silent when ``enabled`` is False."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled)
