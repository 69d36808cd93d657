"""2-D tiles of an overshooting pass: every pixel kept once, with context, in bounded tiles."""

from __future__ import annotations

import itertools

import pytest

from worker.pass_tiles import AxisCuts, axis_cuts, plan_tiles


def _check_axis(cuts: AxisCuts, length: int, context: int) -> None:
    """Kept spans tile [0, length) exactly; each lies in its fed span with context around."""
    assert len(cuts.fed) == len(cuts.kept)
    assert cuts.kept[0][0] == 0 and cuts.kept[-1][1] == length
    for (_, end), (start, _) in itertools.pairwise(cuts.kept):
        assert end == start  # no gap, no pixel kept twice
    for (a, b), (lo, hi) in zip(cuts.fed, cuts.kept, strict=True):
        assert 0 <= a <= lo < hi <= b <= length
        # Context on every side that is not an image edge.
        assert lo - a >= context or a == 0
        assert b - hi >= context or b == length


@pytest.mark.parametrize(
    ("length", "core", "context"),
    [(1, 1, 16), (33, 1, 16), (34, 1, 16), (100, 10, 16), (1000, 300, 16), (30000, 1968, 16)]
    + [(n, c, o) for n in (7, 64, 65, 257) for c in (1, 5, 32) for o in (0, 1, 3)],
)
def test_axis_cuts_keep_every_pixel_once_with_context(length: int, core: int, context: int) -> None:
    cuts = axis_cuts(length, core, context)
    _check_axis(cuts, length, context)
    assert cuts.extent <= max(core + 2 * context, 1) or len(cuts.fed) == 1
    assert all(b - a == cuts.extent for a, b in cuts.fed)  # one tile shape per axis


SHAPES = [
    (500, 30000),
    (528, 30303),
    (1, 16000),
    (16000, 1),
    (1, 16_000_000),
    (16_000_000, 1),
    (4, 4_000_000),
    (4000, 4000),
    (1001, 1001),
    (60, 90),
    (33, 34),
]


@pytest.mark.parametrize(("height", "width"), SHAPES)
def test_tiles_fit_the_budget_and_cost_little_more_than_the_image(height: int, width: int) -> None:
    for max_pixels in (1_000_000, 4_000_000):  # 16 MP of x4 and of x2 model output
        layout = plan_tiles(height, width, max_pixels, 16)
        _check_axis(layout.rows, height, 16)
        _check_axis(layout.cols, width, 16)
        assert layout.tile_pixels <= max_pixels
        assert layout.work <= 1.07 * height * width


@pytest.mark.parametrize(("height", "width"), [(60, 90), (33, 34), (1, 700), (700, 1), (97, 45)])
@pytest.mark.parametrize(("max_pixels", "context"), [(5_000, 16), (1089, 16), (200, 2), (9, 1)])
def test_small_budgets_still_hold_and_cover(
    height: int, width: int, max_pixels: int, context: int
) -> None:
    layout = plan_tiles(height, width, max_pixels, context)
    _check_axis(layout.rows, height, context)
    _check_axis(layout.cols, width, context)
    assert layout.tile_pixels <= max_pixels


def test_a_wide_image_is_cut_across_not_into_row_bands() -> None:
    # 1M input pixels a tile: the whole 500-row height fits, so no rows of context at all.
    layout = plan_tiles(500, 30000, 1_000_000, 16)
    assert layout.rows.fed == ((0, 500),)
    assert len(layout.cols.fed) == 16
    assert layout.work <= 1.02 * 500 * 30000


def test_a_budget_without_room_for_context_is_refused() -> None:
    with pytest.raises(ValueError):
        plan_tiles(100, 100, 32 * 32, 16)  # a tile needs 33 px a side for one core pixel
    assert plan_tiles(20, 20, 400, 16).count == 1  # a small image needs no context at all
