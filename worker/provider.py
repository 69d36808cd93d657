"""The contract between job processing and the models: what a job needs, nothing more.

Job processing (:mod:`worker.processing`) depends on this protocol, not on the concrete
:class:`worker.models.ModelPool` (which loads real weights), so its tests run on a tiny network
in milliseconds and the real-weight tests stay with the engine's.
"""

from __future__ import annotations

from typing import Any, Protocol

from worker.scaling import SupportsUpscale


class ModelProvider(Protocol):
    """Upscalers by model name and native scale, and where their weights came from."""

    def available(self) -> dict[str, tuple[int, ...]]:
        """Every servable model name with its native scales."""
        ...

    def native_scales(self, model: str) -> tuple[int, ...]:
        """The scales ``model`` runs natively (empty when there is no such model)."""
        ...

    def get(self, model: str, scale: int) -> SupportsUpscale:
        """The upscaler of ``model`` at native ``scale``; KeyError when there is none."""
        ...

    def describe(self, model: str, scale: int) -> dict[str, Any]:
        """The weights that ran, for the job report (``shared.manifest.ModelWeights`` fields)."""
        ...
