"""Tile layouts cover every pixel, overlap enough, and blend with weights summing to 1."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from worker.engine.canvas import BlendCanvas
from worker.engine.tiling import axis_weights, plan_axis, tile_extent

CASES = [
    (length, tile, overlap, multiple)
    for length, tile, overlap, multiple in itertools.product(
        [1, 5, 31, 32, 48, 49, 96, 100, 257, 1000], [8, 32, 256], [0, 3, 8, 16], [1, 2]
    )
    if length % multiple == 0
]


@pytest.mark.parametrize("shrink", [False, True])
@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_layout_and_weights(scale: int, shrink: bool) -> None:
    for length, tile, overlap, multiple in CASES:
        case = f"{length=} {tile=} {overlap=} {multiple=} {shrink=}"
        layout = plan_axis(length, tile, overlap, multiple, shrink=shrink)
        assert layout.starts[0] == 0 and layout.starts[-1] + layout.extent == length, case
        assert all(s % multiple == 0 for s in layout.starts), case
        assert layout.extent % multiple == 0, case
        gaps = [b - a for a, b in zip(layout.starts, layout.starts[1:], strict=False)]
        assert all(g <= max(tile, multiple) for g in gaps), case
        assert all(layout.extent - g >= 2 * layout.overlap for g in gaps), case  # enough context
        total = np.zeros(length * scale)
        for start, tw in zip(layout.starts, axis_weights(layout, scale), strict=True):
            w = tw.weights
            assert w.shape == (layout.extent * scale,) and w.dtype == np.float32, case
            assert w.min() >= 0, case
            (lo, hi), (flo, fhi) = tw.nonzero, tw.full
            assert np.all(w[lo:hi] > 0) and not w[:lo].any() and not w[hi:].any(), case
            assert flo == fhi or lo <= flo < fhi <= hi, case
            assert np.all(w[flo:fhi] == 1), case
            total[start * scale : (start + layout.extent) * scale] += w
        np.testing.assert_allclose(total, 1.0, atol=1e-6, err_msg=case)


def test_shrink_keeps_the_count_and_cuts_the_waste() -> None:
    fixed, shrunk = plan_axis(1024, 272, 16), plan_axis(1024, 272, 16, shrink=True)
    assert fixed.extent == tile_extent(272, 16) == 304
    assert len(fixed.starts) == len(shrunk.starts) == 4
    assert shrunk.extent == 248 + 32  # ceil((1024 - 32) / 4) + 2 * 16
    # Computed pixels on this axis: 1216 -> 1120 for 1024 useful ones.
    assert len(shrunk.starts) * shrunk.extent < len(fixed.starts) * fixed.extent


def test_weights_are_smooth_across_a_seam() -> None:
    layout = plan_axis(96, 32, 8)
    w = axis_weights(layout, 4)[0].weights
    ramp = w[(w > 0) & (w < 1)]
    assert len(ramp) == 2 * 8 * 4 and np.all(np.diff(ramp) <= 0)
    assert np.max(np.abs(np.diff(w))) < 0.06  # no hard step


@pytest.mark.parametrize(
    ("height", "width", "tile", "overlap", "scale"),
    [
        (96, 96, 32, 8, 4),
        (50, 70, 16, 5, 3),
        (23, 100, 8, 0, 2),
        (9, 9, 32, 8, 4),
        (64, 40, 8, 3, 1),
    ],
)
def test_canvas_equals_plain_float_blend(
    height: int, width: int, tile: int, overlap: int, scale: int
) -> None:
    rng = np.random.default_rng(height * width)
    ys, xs = plan_axis(height, tile, overlap), plan_axis(width, tile, overlap)
    wy, wx = axis_weights(ys, scale), axis_weights(xs, scale)
    canvas = BlendCanvas(ys, xs, scale)
    reference = np.zeros((height * scale, width * scale, 3))
    for i, j in itertools.product(range(len(ys.starts)), range(len(xs.starts))):
        t = rng.integers(0, 256, (ys.extent * scale, xs.extent * scale, 3), dtype=np.uint8)
        canvas.add(i, j, t)
        y0, x0 = ys.starts[i] * scale, xs.starts[j] * scale
        weight = np.multiply.outer(wy[i].weights, wx[j].weights)[..., None]
        reference[y0 : y0 + t.shape[0], x0 : x0 + t.shape[1]] += t * weight
    out = canvas.result()
    assert out.dtype == np.uint8 and out.shape == reference.shape
    expected = np.floor(reference + 0.5)  # round half up, as the canvas does
    # float32 vs float64 sums may land on either side of a .5 now and then.
    assert np.abs(out.astype(np.int16) - expected).max() <= 1
    assert np.mean(out != expected) < 1e-3
