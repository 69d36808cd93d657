"""A stand-in for the engine's Upscaler: bicubic interpolation, instant, and it records calls."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from worker.engine import UpscaleCancelled


class BicubicUpscaler:
    """Enlarges ``scale`` times with bicubic interpolation, like a (very poor) model would."""

    def __init__(self, scale: int) -> None:
        self.scale = scale
        self.inputs: list[tuple[int, ...]] = []

    def upscale(
        self,
        image: np.ndarray,
        *,
        progress: Callable[[float], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """Return ``image`` enlarged, reporting progress at half-way and at the end."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError("expected uint8 HxWx3, as the engine does")
        self.inputs.append(image.shape)
        if progress is not None:
            progress(0.5)
        if should_stop is not None and should_stop():
            raise UpscaleCancelled
        h, w = image.shape[:2]
        out = Image.fromarray(image).resize(
            (w * self.scale, h * self.scale), Image.Resampling.BICUBIC
        )
        if progress is not None:
            progress(1.0)
        return np.asarray(out)
