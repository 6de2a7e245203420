"""The model an :class:`~socm.encode.Encoder` holds: its config, loaded once, and its weights,
loaded on first use in the forward dtype and given back on request.

A mixin of :class:`socm.encode.Encoder`, kept apart so that each class stays one job; it reads
the encoder's ``resolved``, ``revision``, ``trust_remote_code``, ``attn_implementation``,
``device`` and ``forward_dtype``.
"""

from __future__ import annotations

import time
from functools import cached_property

import torch

from socm.encode.models import load_config, load_model
from socm.encode.precision import torch_dtype

__all__ = ["ModelHolder"]


class ModelHolder:
    """Config and weights of :class:`~socm.encode.Encoder`'s model."""

    _model: torch.nn.Module | None = None

    @cached_property
    def config(self):
        """The model's ``transformers`` configuration (loaded once)."""
        return load_config(
            self.resolved.path, revision=self.revision, trust_remote_code=self.trust_remote_code
        )

    @property
    def model_loaded(self) -> bool:
        """Whether the model has been loaded (a fully cached run never loads it)."""
        return self._model is not None

    @property
    def model(self) -> torch.nn.Module:
        """The model, loaded on first use in :attr:`forward_dtype` (a fully cached run never
        loads it)."""
        if self._model is None:
            self._model = load_model(
                self.resolved,
                revision=self.revision,
                trust_remote_code=self.trust_remote_code,
                attn_implementation=self.attn_implementation,
                device=self.device,
                dtype=torch_dtype(self.forward_dtype),
            )
        return self._model

    def unload(self) -> None:
        """Drop the model (it is loaded again on next use) and return its memory."""
        if self._model is not None:
            self._model = None
            import gc

            gc.collect()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def load_if_needed(self, todo: list) -> float:
        """Load the model if texts must be encoded; the seconds it took."""
        if not todo or self._model is not None:
            return 0.0
        t0 = time.perf_counter()
        _ = self.model
        return time.perf_counter() - t0
