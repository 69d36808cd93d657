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
5. **One pass that overshoots runs in bands.** x1 with a x4 model would otherwise hold a
   model output 16 times the size of the result. Horizontal bands of the input, each with
   ``BAND_CONTEXT`` rows of context above and below (like the engine's tile overlap), are
   upscaled and shrunk one at a time, and only the band's rows are kept: the worker holds the
   result plus one band (at most ``BAND_PIXELS`` model pixels), and the output equals the
   whole-image path except where the context is too short for the network (seam-test level).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from PIL import Image

__all__ = ["SupportsUpscale", "lanczos", "pass_weights", "plan_passes", "upscale_to"]

#: Largest model output (pixels) held at once for a pass that overshoots the request.
BAND_PIXELS = 16_000_000
#: Input rows of context above and below each band (the engine's default tile overlap).
BAND_CONTEXT = 16


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


def plan_passes(native_scales: tuple[int, ...], requested: int) -> list[int]:
    """The native model scales to run, in order, for an integer ``requested`` scale (>= 1)."""
    if requested < 1:
        raise ValueError(f"scale must be >= 1, not {requested}")
    natives = sorted({s for s in native_scales if s >= 1})
    if not natives:
        raise ValueError("a model needs at least one native scale >= 1")
    reaching = [s for s in natives if s >= requested]
    if reaching:
        return [reaching[0]]
    biggest = natives[-1]
    if biggest == 1:
        raise ValueError(f"a x1-only model cannot reach x{requested}")
    # Fewest passes, counted exactly in integers (floating log can be off by one).
    passes = 1
    while biggest**passes < requested:
        passes += 1
    rest = biggest ** (passes - 1)
    first = next(s for s in natives if s * rest >= requested)
    return [first] + [biggest] * (passes - 1)


def lanczos(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a uint8 HxW or HxWxC array to ``size`` (width, height) with Lanczos."""
    height, width = image.shape[:2]
    if (width, height) == size:
        return image
    resized = Image.fromarray(image).resize(size, Image.Resampling.LANCZOS)
    return np.asarray(resized)


def _size_before(width: int, height: int, requested: int, rest: int) -> tuple[int, int]:
    """Input size for the remaining passes (product ``rest``) to land on ``requested``."""
    return max(1, round(width * requested / rest)), max(1, round(height * requested / rest))


def pass_weights(scales: Sequence[int], requested: int) -> list[float]:
    """Relative cost of each pass (its input pixels, the first pass counting 1)."""
    weights = [1.0]
    for k in range(1, len(scales)):
        weights.append((requested / math.prod(scales[k:])) ** 2)
    return weights


def upscale_to(
    image: np.ndarray,
    requested: int,
    upscalers: Sequence[SupportsUpscale],
    *,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    band_pixels: int = BAND_PIXELS,
) -> np.ndarray:
    """Run ``upscalers`` (one per planned pass) and return exactly ``requested`` times ``image``.

    ``image`` is uint8 HxWx3; ``progress`` receives 0..1 over all passes, weighted by cost.
    """
    if not upscalers:
        raise ValueError("at least one model pass is needed")
    height, width = image.shape[:2]
    if len(upscalers) == 1 and upscalers[0].scale > requested:
        return _overshooting_pass(
            image, requested, upscalers[0], band_pixels, progress=progress, should_stop=should_stop
        )
    scales = [u.scale for u in upscalers]
    weights = pass_weights(scales, requested)
    total, done = sum(weights), 0.0
    current = image
    for k, upscaler in enumerate(upscalers):
        if k > 0:
            target = _size_before(width, height, requested, math.prod(scales[k:]))
            cur_h, cur_w = current.shape[:2]
            if target[0] <= cur_w and target[1] <= cur_h:
                current = lanczos(current, target)
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


def _overshooting_pass(
    image: np.ndarray,
    requested: int,
    upscaler: SupportsUpscale,
    band_pixels: int,
    *,
    progress: Callable[[float], None] | None,
    should_stop: Callable[[], bool] | None,
) -> np.ndarray:
    """One model pass larger than ``requested``, shrunk by Lanczos band by band (rule 5)."""
    height, width = image.shape[:2]
    scale = upscaler.scale
    rows = max(1, band_pixels // max(1, width * scale * scale) - 2 * BAND_CONTEXT)
    out = np.empty((height * requested, width * requested, 3), np.uint8)
    for y0 in range(0, height, rows):
        y1 = min(height, y0 + rows)
        a, b = max(0, y0 - BAND_CONTEXT), min(height, y1 + BAND_CONTEXT)
        step = _span(progress, y0 / height, (y1 - y0) / height)
        band = upscaler.upscale(image[a:b], progress=step, should_stop=should_stop)
        # Integer band edges in both spaces keep Pillow's sample positions those of one resize.
        shrunk = lanczos(band, (width * requested, (b - a) * requested))
        out[y0 * requested : y1 * requested] = shrunk[(y0 - a) * requested : (y1 - a) * requested]
    return out
