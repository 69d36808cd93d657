"""Any integer scale from networks that only have a few native scales.

The rule, as :func:`plan_passes` and :func:`upscale_to` apply it:

1. **One pass when a native scale reaches the request.** The model runs once at the smallest
   native scale ``>= requested`` and Lanczos shrinks the result to the exact size: x3 from a
   x4-only model is x4 then Lanczos; x1 ("restore at the same size") is the smallest native
   scale, then Lanczos back to the input size.
2. **Repeated passes above the largest native scale** ``M``: the fewest passes whose product
   reaches the request, ``n = ceil(log_M(requested))``. Every pass but the first uses ``M``;
   the first uses the smallest native scale ``s`` with ``s * M**(n-1) >= requested``.
   Examples: (4,) x8 -> [4, 4]; (2, 3, 4) x8 -> [2, 4]; (2, 3, 4) x6 -> [2, 4].
3. **Shrink before a pass, not after it.** Before each later pass the intermediate image is
   Lanczos-shrunk so that the remaining passes land on the requested size (x6 with [4, 4]:
   x4, shrink to x1.5, x4). So no intermediate is larger than the final result, and the
   expensive later passes run on as few pixels as possible ((6/4)^2 = 2.25 input units for
   the second pass instead of 4^2 = 16 with "x4, x4, then shrink to x6"). Running the big
   scale last is cheaper for the same reason ([2, 4] costs 1 + 4 units, [4, 2] 1 + 16).
4. **A final Lanczos to the exact size** (W*requested x H*requested) absorbs the rounding of
   intermediate sizes. Lanczos is only used to shrink or to fix a pixel of rounding: the
   model does all of the enlarging, since interpolating upwards would only blur.
5. **One pass that overshoots runs in 2-D tiles.** x1 with a x4 model would otherwise hold a
   model output 16 times the size of the result. Tiles of the input with ``TILE_CONTEXT``
   pixels of context on every side that is not an image edge (like the engine's tile
   overlap), laid out by :mod:`worker.pass_tiles`, are upscaled and shrunk one at a time, and
   only each tile's core is kept: the worker holds the result plus one tile (at most
   ``TILE_PIXELS`` model pixels), the model sees at most ~1.06x the input pixels of the
   whole-image path (:func:`model_work`; row bands of a wide image cost ~32x), and the output
   equals the whole-image path except where the context is too short for the network
   (seam-test level).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from PIL import Image

from shared.passes import pass_inputs, plan_passes
from worker.pass_tiles import TileLayout, plan_tiles

__all__ = [
    "SupportsUpscale",
    "lanczos",
    "model_work",
    "overshoot_tiles",
    "pass_weights",
    "plan_passes",
    "upscale_to",
    "whole_image_work",
]

#: Largest model output (pixels) held at once for a pass that overshoots the request.
TILE_PIXELS = 16_000_000
#: Input pixels of context around each tile's core (the engine's default tile overlap).
TILE_CONTEXT = 16


class SupportsUpscale(Protocol):
    """What this module needs of an upscaler (``worker.engine.Upscaler`` is one)."""

    scale: int

    def upscale(
        self,
        image: np.ndarray,
        *,
        progress: Callable[[float], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """Return ``image`` (uint8 HxWx3) enlarged ``scale`` times."""
        ...


def lanczos(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a uint8 HxW or HxWxC array to ``size`` (width, height) with Lanczos."""
    height, width = image.shape[:2]
    if (width, height) == size:
        return image
    resized = Image.fromarray(image).resize(size, Image.Resampling.LANCZOS)
    return np.asarray(resized)


def pass_weights(scales: Sequence[int], requested: int) -> list[float]:
    """Relative cost of each pass (its input pixels, the first pass counting 1)."""
    weights = [1.0]
    for k in range(1, len(scales)):
        weights.append((requested / math.prod(scales[k:])) ** 2)
    return weights


def _overshoots(scales: Sequence[int], requested: int) -> bool:
    """Whether the plan is one pass larger than the request (run in tiles, rule 5)."""
    return len(scales) == 1 and scales[0] > requested


def overshoot_tiles(
    width: int, height: int, scale: int, tile_pixels: int = TILE_PIXELS
) -> TileLayout:
    """The tiles of an overshooting ``scale`` pass over a ``width`` x ``height`` input."""
    return plan_tiles(height, width, max(1, tile_pixels // (scale * scale)), TILE_CONTEXT)


def whole_image_work(width: int, height: int, requested: int, scales: Sequence[int]) -> int:
    """Model work of the result: input pixels the planned passes need, each fed once.

    That is what the whole-image path feeds the model (the engine's own tile overlap comes on
    top, the same in every path): the reference the tiles of rule 5 are measured against.
    """
    return sum(w * h for w, h in pass_inputs(width, height, scales, requested))


def model_work(
    width: int,
    height: int,
    requested: int,
    scales: Sequence[int],
    *,
    tile_pixels: int = TILE_PIXELS,
) -> int:
    """Input pixels :func:`upscale_to` feeds the model for this job, tile context included.

    ``scales`` is the pass plan (:func:`plan_passes`). The engine's own tile overlap inside each
    call is not counted (it is the same per pixel whichever path calls it).
    """
    if _overshoots(scales, requested):
        return overshoot_tiles(width, height, scales[0], tile_pixels).work
    return whole_image_work(width, height, requested, scales)


def upscale_to(
    image: np.ndarray,
    requested: int,
    upscalers: Sequence[SupportsUpscale],
    *,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    tile_pixels: int = TILE_PIXELS,
) -> np.ndarray:
    """Run ``upscalers`` (one per planned pass) and return exactly ``requested`` times ``image``.

    ``image`` is uint8 HxWx3; ``progress`` receives 0..1 over all passes, weighted by cost.
    """
    if not upscalers:
        raise ValueError("at least one model pass is needed")
    height, width = image.shape[:2]
    scales = [u.scale for u in upscalers]
    if _overshoots(scales, requested):
        layout = overshoot_tiles(width, height, scales[0], tile_pixels)
        return _tiled_pass(
            image, requested, upscalers[0], layout, progress=progress, should_stop=should_stop
        )
    weights = pass_weights(scales, requested)
    total, done = sum(weights), 0.0
    current = image
    for k, (upscaler, size) in enumerate(
        zip(upscalers, pass_inputs(width, height, scales, requested), strict=True)
    ):
        current = lanczos(current, size)
        current = upscaler.upscale(
            current,
            progress=_span(progress, done / total, weights[k] / total),
            should_stop=should_stop,
        )
        done += weights[k]
    return lanczos(current, (width * requested, height * requested))


def _span(
    progress: Callable[[float], None] | None, start: float, width: float
) -> Callable[[float], None] | None:
    """Map a step's own 0..1 progress onto [start, start + width] of the whole."""
    if progress is None:
        return None
    return lambda fraction: progress(start + width * fraction)


def _tiled_pass(
    image: np.ndarray,
    requested: int,
    upscaler: SupportsUpscale,
    layout: TileLayout,
    *,
    progress: Callable[[float], None] | None,
    should_stop: Callable[[], bool] | None,
) -> np.ndarray:
    """One model pass larger than ``requested``, shrunk by Lanczos tile by tile (rule 5)."""
    height, width = image.shape[:2]
    r = requested
    out = np.empty((height * r, width * r, 3), np.uint8)
    total, done = layout.work, 0
    for (ya, yb), (y0, y1) in zip(layout.rows.fed, layout.rows.kept, strict=True):
        for (xa, xb), (x0, x1) in zip(layout.cols.fed, layout.cols.kept, strict=True):
            work = (yb - ya) * (xb - xa)
            step = _span(progress, done / total, work / total)
            tile = upscaler.upscale(image[ya:yb, xa:xb], progress=step, should_stop=should_stop)
            # Integer tile edges in both spaces keep Pillow's sample positions those of one
            # resize of the whole image; the context covers Lanczos' support at the cut.
            shrunk = lanczos(tile, ((xb - xa) * r, (yb - ya) * r))
            del tile  # one model-sized tile at a time
            out[y0 * r : y1 * r, x0 * r : x1 * r] = shrunk[
                (y0 - ya) * r : (y1 - ya) * r, (x0 - xa) * r : (x1 - xa) * r
            ]
            done += work
    return out
