"""Which tiles go into each forward pass when one or several images are being upscaled.

Each image keeps its own tile layout (the one it would get alone, so its output is the same)
and its own canvas. A forward pass takes up to ``batch`` tiles *of one shape*: the shape of
the next tile of the image that has waited longest, then tiles of that shape from every
image in turn (round robin), each image's tiles in row-major order (what keeps its canvas's
float memory bounded, ``canvas.py``). So images of different sizes share passes wherever their
tile shapes agree (all full tiles of a fixed-shape layout do), and an image can be dropped
between passes without touching the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from worker.engine.canvas import BlendCanvas
from worker.engine.tiling import AxisLayout

__all__ = ["ImageJob", "TileRef", "next_pass"]


@dataclass(eq=False)
class ImageJob:
    """One image being upscaled: its device copy, tile layout, canvas and callbacks."""

    src: torch.Tensor  # (1, 3, H, W) uint8 on the device
    ys: AxisLayout
    xs: AxisLayout
    canvas: BlendCanvas
    progress: Callable[[float], None] | None = None
    should_stop: Callable[[], bool] | None = None
    tiles: list[tuple[int, int]] = field(default_factory=list)
    queued: int = 0  # tiles handed to passes so far
    done: int = 0  # tiles blended so far
    cancelled: bool = False

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of every tile of this image."""
        return self.ys.extent, self.xs.extent

    @property
    def waiting(self) -> bool:
        """Whether tiles remain to be put into a pass."""
        return not self.cancelled and self.queued < len(self.tiles)

    def crop(self, tile: tuple[int, int]) -> torch.Tensor:
        """The uint8 (1, 3, eh, ew) input of ``tile``."""
        i, j = tile
        eh, ew = self.shape
        return self.src[..., self.ys.starts[i] :, self.xs.starts[j] :][..., :eh, :ew]

    def add(self, tile: tuple[int, int], result: np.ndarray) -> None:
        """Blend one finished tile (nothing once cancelled)."""
        if not self.cancelled:
            self.canvas.add(*tile, result)
            self.done += 1

    def report(self) -> None:
        """Tell ``progress`` the share of tiles blended (once per pass; not once cancelled)."""
        if self.progress is not None and not self.cancelled:
            total = len(self.tiles)
            self.progress(1.0 if self.done >= total else self.done / total)


@dataclass(frozen=True)
class TileRef:
    """One tile of one image in a forward pass."""

    job: ImageJob
    tile: tuple[int, int]


def next_pass(jobs: list[ImageJob], batch: int) -> list[TileRef]:
    """Take the next forward pass's tiles (up to ``batch``, one shape) off the jobs' queues.

    ``jobs`` is in arrival order; the first job with tiles left sets the shape. Returns an
    empty list when no tiles are left.
    """
    lead = next((job for job in jobs if job.waiting), None)
    if lead is None:
        return []
    shape = lead.shape
    same = [job for job in jobs if job.waiting and job.shape == shape]
    chosen: list[TileRef] = []
    while len(chosen) < batch and same:
        for job in list(same):
            if len(chosen) == batch:
                break
            chosen.append(TileRef(job, job.tiles[job.queued]))
            job.queued += 1
            if not job.waiting:
                same.remove(job)
    return chosen
