"""Assemble the uint8 output from weighted tiles in memory bounded by the output's uint8 pixels.

Blending every tile pixel in float32 cost more host time than the GPU spent on the network
(x4plus, 512x512 on an H100: ~80 ms of numpy per image), and a full-size float32 accumulator
is 4x the output (800 MB for a 4096x4096 result). Here each axis is cut into segments on which
the set of contributing tiles is constant. A cell (row segment x column segment) covered by a
single tile at weight 1 (most of the image) is copied straight into the uint8 output; the
other cells (the seams) get a small float32 buffer when their first tile arrives, and are
rounded into the output and freed when their last tile has been added. With tiles added in
row-major order, only the seam band below the current tile row is pending: float memory is
O(seam width x output width), not O(output).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worker.engine.tiling import AxisLayout, TileWeights, axis_weights

__all__ = ["BlendCanvas"]


@dataclass(frozen=True)
class _Segment:
    """Output range [lo, hi) on one axis, the tiles contributing there, and whether one owns it."""

    lo: int
    hi: int
    tiles: tuple[int, ...]
    owned: bool  # a single tile at weight exactly 1


def _segments(
    layout: AxisLayout, weights: list[TileWeights], scale: int, limit: int
) -> list[_Segment]:
    """Cut [0, limit) into segments of constant contributors (output coordinates)."""
    cuts = {0, limit}
    for start, tw in zip(layout.starts, weights, strict=True):
        origin = start * scale
        cuts.update(origin + edge for edge in (*tw.nonzero, *tw.full))
    points = sorted(c for c in cuts if 0 <= c <= limit)
    segments = []
    for lo, hi in zip(points, points[1:], strict=False):
        tiles = tuple(
            k
            for k, (start, tw) in enumerate(zip(layout.starts, weights, strict=True))
            if tw.nonzero[0] <= lo - start * scale and hi - start * scale <= tw.nonzero[1]
        )
        owned = len(tiles) == 1 and (
            weights[tiles[0]].full[0] <= lo - layout.starts[tiles[0]] * scale
            and hi - layout.starts[tiles[0]] * scale <= weights[tiles[0]].full[1]
        )
        segments.append(_Segment(lo, hi, tiles, owned))
    return segments


class BlendCanvas:
    """A uint8 HxWx3 output into which same-shaped tiles are blended (weights sum to 1)."""

    def __init__(
        self, ys: AxisLayout, xs: AxisLayout, scale: int, size: tuple[int, int] | None = None
    ) -> None:
        """Prepare an output covering both layouts at ``scale``, cropped to ``size`` (h, w)."""
        self._ys, self._xs, self._scale = ys, xs, scale
        self._wy, self._wx = axis_weights(ys, scale), axis_weights(xs, scale)
        full = ((ys.starts[-1] + ys.extent) * scale, (xs.starts[-1] + xs.extent) * scale)
        height, width = size if size is not None else full
        if not (0 < height <= full[0] and 0 < width <= full[1]):
            raise ValueError(f"size {size} outside the tiled area {full}")
        self._out = np.empty((height, width, 3), np.uint8)
        rows = _segments(ys, self._wy, scale, height)
        cols = _segments(xs, self._wx, scale, width)
        self._rows, self._cols = rows, cols
        # Which segments each tile row / column touches, so add() visits only those.
        self._rows_of = [
            [r for r, s in enumerate(rows) if i in s.tiles] for i in range(len(ys.starts))
        ]
        self._cols_of = [
            [c for c, s in enumerate(cols) if j in s.tiles] for j in range(len(xs.starts))
        ]
        # Seam cells in progress: float32 sum so far and how many tiles are still to come.
        self._pending: dict[tuple[int, int], tuple[np.ndarray, int]] = {}
        self.peak_pending_bytes = 0  # for tests and diagnostics

    def add(self, i: int, j: int, tile: np.ndarray) -> None:
        """Blend tile (row ``i``, column ``j``) of shape (extent_y*s, extent_x*s, 3) uint8."""
        y0, x0 = self._ys.starts[i] * self._scale, self._xs.starts[j] * self._scale
        wy, wx = self._wy[i].weights, self._wx[j].weights
        for r in self._rows_of[i]:
            row = self._rows[r]
            ty = slice(row.lo - y0, row.hi - y0)
            for c in self._cols_of[j]:
                col = self._cols[c]
                tx = slice(col.lo - x0, col.hi - x0)
                if row.owned and col.owned:
                    self._out[row.lo : row.hi, col.lo : col.hi] = tile[ty, tx]
                    continue
                weight = np.multiply.outer(wy[ty], wx[tx])[..., None]
                acc, left = self._pending.get((r, c), (None, len(row.tiles) * len(col.tiles)))
                if acc is None:
                    acc = tile[ty, tx] * weight  # float32: uint8 * float32
                else:
                    acc += tile[ty, tx] * weight
                if left > 1:
                    self._pending[(r, c)] = (acc, left - 1)
                    self._track()
                else:
                    self._pending.pop((r, c), None)
                    # Weighted means of values in [0, 255]: +0.5 and truncation rounds them.
                    self._out[row.lo : row.hi, col.lo : col.hi] = acc + 0.5

    def _track(self) -> None:
        """Remember the largest amount of float memory held by pending seam cells."""
        held = sum(acc.nbytes for acc, _ in self._pending.values())
        self.peak_pending_bytes = max(self.peak_pending_bytes, held)

    def result(self) -> np.ndarray:
        """Return the output (call once, after every tile has been added)."""
        if self._pending:
            raise RuntimeError(f"{len(self._pending)} seam cells still wait for tiles")
        return self._out
