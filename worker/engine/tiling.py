"""Tile layout and seam-free blending weights, one image axis at a time (pure numpy).

Every tile on an axis has the same extent (``tile + 2 * overlap``, or the whole axis when that
is shorter), so tiles batch without padding: instead of padding the last tile past the edge,
the tiles are spread evenly so the last one ends exactly at the edge (less wasted compute).
Neighbouring tiles overlap by at least ``2 * overlap``. Around the centre of each overlap, a
raised-cosine ramp of width ``2 * overlap`` hands over from one tile to the next. Each tile's
weight is the difference of two consecutive ramps, so the weights of all tiles sum to exactly
1 at every pixel (telescoping sum) and are never negative; 2-D weights are outer products.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["AxisLayout", "TileWeights", "axis_weights", "plan_axis", "tile_extent"]


@dataclass(frozen=True)
class AxisLayout:
    """Tiles along one axis: input start of each tile, common extent, and blend overlap."""

    starts: tuple[int, ...]
    extent: int
    overlap: int

    @property
    def seams(self) -> tuple[float, ...]:
        """Centre of the overlap between each pair of neighbouring tiles (input pixels)."""
        return tuple(
            (a + b + self.extent) / 2 for a, b in zip(self.starts, self.starts[1:], strict=False)
        )


def tile_extent(tile: int, overlap: int, multiple: int = 1) -> int:
    """Input pixels per tile side (core plus context on both sides) on a long axis."""
    return multiple * (max(1, tile // multiple) + 2 * math.ceil(overlap / multiple))


def plan_axis(
    length: int, tile: int, overlap: int, multiple: int = 1, *, shrink: bool = False
) -> AxisLayout:
    """Lay out tiles of core ``tile`` and context ``overlap`` over ``length`` input pixels.

    ``length`` must be a multiple of ``multiple``; starts and extents then are too (for
    architectures that pixel-unshuffle their input). With ``shrink``, the core is reduced to
    the smallest that needs the same number of tiles (less overlap to compute, but the tile
    shape then depends on the image, which defeats per-shape autotuning and compilation).
    """
    if length <= 0 or tile <= 0 or overlap < 0 or multiple <= 0:
        raise ValueError("length and tile must be positive, overlap non-negative")
    if length % multiple:
        raise ValueError(f"length {length} is not a multiple of {multiple}")
    # Work in units of `multiple`; round the context up so it is never less than asked.
    n_units, t_units = length // multiple, max(1, tile // multiple)
    o_units = math.ceil(overlap / multiple)
    e_units = t_units + 2 * o_units
    if n_units <= e_units:
        return AxisLayout((0,), length, o_units * multiple)
    count = math.ceil((n_units - e_units) / t_units) + 1
    if shrink:
        # count * t >= n - 2 * o keeps every neighbour overlap >= 2 * o (see the tests).
        e_units = math.ceil((n_units - 2 * o_units) / count) + 2 * o_units
    span = n_units - e_units
    # Even spread, stride <= t_units, so neighbours overlap by >= 2 * o_units.
    starts = tuple((i * span + (count - 1) // 2) // (count - 1) * multiple for i in range(count))
    return AxisLayout(starts, e_units * multiple, o_units * multiple)


def _ramp(t: np.ndarray) -> np.ndarray:
    """Raised cosine: 0 for t <= 0, 1 for t >= 1, smooth in between."""
    t = np.clip(t, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


@dataclass(frozen=True)
class TileWeights:
    """One tile's blend weights along an axis, with the index ranges that let callers skip work.

    ``nonzero`` is the [lo, hi) range where the weight is positive (elsewhere the tile does
    not contribute); ``full`` the range where it is exactly 1 (there no other tile does).
    """

    weights: np.ndarray
    nonzero: tuple[int, int]
    full: tuple[int, int]


def _span(mask: np.ndarray) -> tuple[int, int]:
    """[first, last + 1) of the True entries (a contiguous run here), or (0, 0) if none."""
    idx = np.flatnonzero(mask)
    return (int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, 0)


def axis_weights(layout: AxisLayout, scale: int) -> list[TileWeights]:
    """Return each tile's float32 blend weights over its ``extent * scale`` output pixels."""
    seams = [m * scale for m in layout.seams]
    width = 2 * layout.overlap * scale
    result = []
    for i, start in enumerate(layout.starts):
        # Output pixel centres of this tile, in output coordinates.
        x = start * scale + np.arange(layout.extent * scale, dtype=np.float64) + 0.5

        def handover(k: int, x: np.ndarray = x) -> np.ndarray:
            """Share of seam k's right-hand tile at x (0 left of the seam, 1 right of it)."""
            if k < 0:
                return np.ones_like(x)
            if k >= len(seams):
                return np.zeros_like(x)
            if width == 0:
                return (x >= seams[k]).astype(np.float64)
            return _ramp((x - seams[k]) / width + 0.5)

        left, right = handover(i - 1), handover(i)
        # The ranges come from exact comparisons of the same ramps every tile uses, so a
        # pixel that is "full" for one tile is exactly zero for all others.
        result.append(
            TileWeights(
                (left - right).astype(np.float32),
                _span(left > right),
                _span((left == 1.0) & (right == 0.0)),
            )
        )
    return result
