"""The precision of the model's forward pass (``--dtype``).

Decoder embedders ship their weights in bfloat16; a 7B model in float32 needs twice the memory
and, on a GPU, more than twice the time. ``dtype`` chooses the forward pass's precision only:
the hidden states are cast to float32 as they leave the model and every statistic is computed
from that cast in float64 (:func:`socm.core.stats.reduce_batch`), whatever the forward dtype.

``"auto"`` follows the model config's ``dtype`` (``torch_dtype`` in older configs) on a CUDA
GPU and is float32 elsewhere (CPUs and Apple MPS), so that runs on a CPU keep the paper's
float32 protocol; ``float32``, ``bfloat16`` and ``float16`` are honoured on any device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from socm.errors import SocmError

__all__ = ["FORWARD_DTYPES", "resolve_forward_dtype", "torch_dtype"]

#: Values of ``--dtype``.
FORWARD_DTYPES = ("auto", "float32", "bfloat16", "float16")
_CONFIG_NAMES = {
    "float32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "float16": "float16",
    "half": "float16",
}


def _config_dtype(config: Any) -> str:
    """The dtype a model config declares (float32 when none, or an unusual one)."""
    value = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(value, torch.dtype):
        value = str(value).removeprefix("torch.")
    return _CONFIG_NAMES.get(str(value), "float32") if value else "float32"


def resolve_forward_dtype(requested: str, device: torch.device, config: Callable[[], Any]) -> str:
    """The forward pass's dtype name for ``requested`` on ``device`` (``config`` is called
    only for ``"auto"`` on a CUDA device).

    Raises
    ------
    SocmError
        An unknown dtype.

    Examples
    --------
    >>> resolve_forward_dtype("auto", torch.device("cpu"), lambda: None)
    'float32'
    """
    if requested not in FORWARD_DTYPES:
        raise SocmError(f"--dtype must be one of {', '.join(FORWARD_DTYPES)}, got {requested!r}")
    if requested != "auto":
        return requested
    return _config_dtype(config()) if device.type == "cuda" else "float32"


def torch_dtype(name: str) -> torch.dtype:
    """The ``torch.dtype`` of a resolved forward dtype name."""
    return getattr(torch, name)
