"""Where the 2-D tiles of a model pass that overshoots the request go, and what they cost.

A pass whose native scale ``s`` exceeds the requested ``r`` (x1 or x3 from a x4 model) makes a
model output ``(s/r)**2`` times the result; ``scaling.upscale_to`` runs such a pass tile by
tile, Lanczos-shrinks each tile's output and keeps only its core, so the worker holds the result
plus one tile. This module only plans the tiles (pure integer arithmetic, no images):

* Each axis is laid out by the engine's own :func:`worker.engine.tiling.plan_axis`: tiles of one
  extent, spread evenly so the last ends at the edge, neighbours overlapping by at least
  ``2 * context``; the cut between two neighbours is the middle of their overlap, so every kept
  pixel has at least ``context`` input pixels of context on each side that is not an image edge.
* Both axes are cut (2-D tiles), not only the rows: row bands of a wide image need a few rows
  of core per band, and ``2 * context`` rows of context per band then cost many times the core
  (30000 x 500 at x1 from x4: 1 row and 32 rows of context per band, 32x the work).
* :func:`plan_tiles` searches the tile counts for the least work (input pixels fed to the model,
  context included) whose tiles each hold at most ``max_pixels`` input pixels: the work is
  ``rows fed x columns fed`` and the rows fed grow with the row count, so the search stops as
  soon as more rows cannot beat the best found.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from worker.engine.tiling import plan_axis

__all__ = ["AxisCuts", "TileLayout", "axis_cuts", "plan_tiles"]


@dataclass(frozen=True)
class AxisCuts:
    """Along one axis: the input span fed to the model for each tile, and the span it keeps."""

    fed: tuple[tuple[int, int], ...]
    kept: tuple[tuple[int, int], ...]

    @property
    def extent(self) -> int:
        """Input pixels of the longest span fed (all but a single whole-axis tile are equal)."""
        return max(b - a for a, b in self.fed)

    @property
    def work(self) -> int:
        """Input pixels fed along this axis, summed over its tiles (context included)."""
        return sum(b - a for a, b in self.fed)


@dataclass(frozen=True)
class TileLayout:
    """2-D tiles: every row span crossed with every column span, in row-major order."""

    rows: AxisCuts
    cols: AxisCuts

    @property
    def count(self) -> int:
        """Number of tiles."""
        return len(self.rows.fed) * len(self.cols.fed)

    @property
    def work(self) -> int:
        """Input pixels fed to the model over all tiles, context included."""
        return self.rows.work * self.cols.work

    @property
    def tile_pixels(self) -> int:
        """Input pixels of the largest tile (what one model call holds, before scaling)."""
        return self.rows.extent * self.cols.extent


def axis_cuts(length: int, core: int, context: int) -> AxisCuts:
    """Tiles of at most ``core + 2 * context`` input pixels over ``length`` (the engine's layout).

    The cut between neighbours is the middle of their overlap (rounded down), which leaves at
    least ``context`` pixels past the cut on both tiles: the overlap is ``>= 2 * context``.
    """
    layout = plan_axis(length, core, context, shrink=True)
    extent, starts = layout.extent, layout.starts
    cuts = [(a + b + extent) // 2 for a, b in itertools.pairwise(starts)]
    bounds = [0, *cuts, length]
    fed = tuple((a, a + extent) for a in starts)
    return AxisCuts(fed, tuple(itertools.pairwise(bounds)))


def _fitting(length: int, room: int, context: int) -> AxisCuts | None:
    """The fewest tiles of at most ``room`` input pixels over ``length``, or None if none fit."""
    if length <= room:
        return axis_cuts(length, length, context)
    if room <= 2 * context:
        return None
    return axis_cuts(length, room - 2 * context, context)


def _rows_for(height: int, count: int, context: int) -> AxisCuts:
    """Row spans for (at most) ``count`` tiles over ``height`` rows."""
    if count <= 1:
        return axis_cuts(height, height, context)
    return axis_cuts(height, max(1, math.ceil((height - 2 * context) / count)), context)


def plan_tiles(height: int, width: int, max_pixels: int, context: int) -> TileLayout:
    """The tiles with the least model work whose input, context included, is <= ``max_pixels``.

    Raises ValueError when no tile with ``context`` fits: ``max_pixels`` must hold a tile of
    ``(1 + 2 * context)`` pixels on each axis that is longer than that.
    """
    if height < 1 or width < 1 or max_pixels < 1 or context < 0:
        raise ValueError("height, width and max_pixels must be >= 1, context >= 0")
    # Tallest rows that leave room for a tile across: the whole width, or one core pixel.
    tallest = max_pixels // min(width, 1 + 2 * context)
    rows = _fitting(height, tallest, context)
    if rows is None:
        raise ValueError(f"{max_pixels} pixels cannot hold a tile with {context} px of context")
    best: TileLayout | None = None
    for count in itertools.count(len(rows.fed)):
        rows = _rows_for(height, count, context)
        # count tiles feed at least height + 2 * context * (count - 1) rows (they overlap by
        # >= 2 * context), and every layout feeds >= width columns: no more rows can win.
        if best is not None and (height + 2 * context * (count - 1)) * width >= best.work:
            break
        cols = _fitting(width, max_pixels // rows.extent, context)
        if cols is not None and (best is None or rows.work * cols.work < best.work):
            best = TileLayout(rows, cols)
        if len(rows.fed) >= height or (cols is not None and len(cols.fed) == 1):
            break  # more row tiles only add rows: the columns cannot get fewer
    assert best is not None  # the first count fits by the choice of `tallest`
    return best
