"""Any integer scale: which model passes run, and the exact size that comes out."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from tests.unit.worker.fakes import BicubicUpscaler
from tests.unit.worker.samples import photo
from worker.engine import UpscaleCancelled
from worker.scaling import (
    TILE_PIXELS,
    model_work,
    overshoot_tiles,
    pass_weights,
    plan_passes,
    upscale_to,
    whole_image_work,
)


@pytest.mark.parametrize(
    ("natives", "requested", "passes"),
    [
        ((4,), 1, [4]),
        ((4,), 2, [4]),
        ((4,), 3, [4]),
        ((4,), 4, [4]),
        ((4,), 5, [4, 4]),
        ((4,), 6, [4, 4]),
        ((4,), 8, [4, 4]),
        ((4,), 16, [4, 4]),
        ((4,), 17, [4, 4, 4]),
        ((2, 3, 4), 1, [2]),
        ((2, 3, 4), 2, [2]),
        ((2, 3, 4), 3, [3]),
        ((2, 3, 4), 4, [4]),
        ((2, 3, 4), 5, [2, 4]),
        ((2, 3, 4), 6, [2, 4]),
        ((2, 3, 4), 8, [2, 4]),
        ((2, 3, 4), 9, [3, 4]),
        ((4, 3, 2), 12, [3, 4]),
        ((2, 3, 4), 16, [4, 4]),
        ((1,), 1, [1]),
        ((1, 4), 1, [1]),
    ],
)
def test_plan_passes(natives: tuple[int, ...], requested: int, passes: list[int]) -> None:
    assert plan_passes(natives, requested) == passes


def test_plans_reach_the_scale_with_the_fewest_passes() -> None:
    for natives in [(4,), (2,), (2, 3, 4), (3,), (1, 2)]:
        for requested in range(1, 65):
            plan = plan_passes(natives, requested)
            assert all(s in natives for s in plan)
            assert np.prod(plan) >= requested
            assert max(natives) ** (len(plan) - 1) < requested or len(plan) == 1


@pytest.mark.parametrize(("natives", "requested"), [((4,), 0), ((1,), 2), ((), 2), ((0,), 1)])
def test_impossible_plans_are_refused(natives: tuple[int, ...], requested: int) -> None:
    with pytest.raises(ValueError):
        plan_passes(natives, requested)


@pytest.mark.parametrize("natives", [(4,), (2, 3, 4)])
def test_every_scale_gives_the_exact_size_and_no_intermediate_exceeds_it(
    natives: tuple[int, ...],
) -> None:
    image = np.asarray(photo("coffee", 13).resize((13, 7)))
    for requested in range(1, 9):
        upscalers = [BicubicUpscaler(s) for s in plan_passes(natives, requested)]
        out = upscale_to(image, requested, upscalers)
        assert out.shape == (7 * requested, 13 * requested, 3), (natives, requested)
        if len(upscalers) == 1:
            continue
        for k, up in enumerate(upscalers):
            ((h, w, _),) = up.inputs
            assert h * up.scale <= 7 * requested + up.scale  # rounding: at most one input row
            assert w * up.scale <= 13 * requested + up.scale
            if k > 0:  # later passes start from the shrunk intermediate, not the full one
                rest = int(np.prod([u.scale for u in upscalers[k:]]))
                assert w == round(13 * requested / rest)


@pytest.mark.parametrize("requested", [1, 2, 3])
def test_an_overshooting_pass_runs_in_2d_tiles_with_the_same_result(requested: int) -> None:
    image = np.asarray(photo("chelsea", 90))  # 90 x 60
    whole = upscale_to(image, requested, [BicubicUpscaler(4)])
    tiled_model = BicubicUpscaler(4)
    # At most 40 x 40 input pixels (25_600 model pixels) a tile: cut along both axes.
    tiled = upscale_to(image, requested, [tiled_model], tile_pixels=25_600)
    layout = overshoot_tiles(90, 60, 4, 25_600)
    assert len(layout.rows.fed) > 1 and len(layout.cols.fed) > 1
    assert len(tiled_model.inputs) == layout.count
    assert max(h * w for h, w, _ in tiled_model.inputs) * 16 <= 25_600
    # model_work counts exactly what the model was fed.
    assert sum(h * w for h, w, _ in tiled_model.inputs) == model_work(
        90, 60, requested, [4], tile_pixels=25_600
    )
    # Bicubic needs 2 px of context and each tile has 16: the tiles join without a trace.
    assert np.array_equal(tiled, whole)


# (width, height, scale, natives): thin strips and the largest jobs the limits allow
# (16 MP in, 64 MP out), at scales below, at and above the x4 model's.
WORK_CASES = [
    (30000, 500, 1, (4,)),  # main's row bands fed this 32.5x its pixels
    (30303, 528, 1, (4,)),
    (30000, 500, 2, (4,)),
    (1, 16000, 1, (4,)),
    (16000, 1, 1, (4,)),
    (16_000_000, 1, 1, (4,)),  # a row band of this held a 256 MP model output
    (1, 16_000_000, 2, (4,)),
    (4, 4_000_000, 1, (2, 3, 4)),
    (4000, 4000, 1, (4,)),
    (4000, 4000, 2, (4,)),
    (4000, 4000, 1, (2, 3, 4)),
    (2666, 2666, 3, (4,)),
    (2666, 2666, 3, (2, 4)),
    (1000, 1000, 8, (4,)),  # two passes, [4, 4]
    (1600, 1000, 5, (4,)),
    (1001, 1001, 1, (4,)),
    (8000, 2000, 1, (4,)),
]


@pytest.mark.parametrize(("width", "height", "requested", "natives"), WORK_CASES)
def test_model_work_stays_near_the_work_of_the_result(
    width: int, height: int, requested: int, natives: tuple[int, ...]
) -> None:
    plan = plan_passes(natives, requested)
    ratio = model_work(width, height, requested, plan) / whole_image_work(
        width, height, requested, plan
    )
    assert ratio <= 1.3, (width, height, requested, plan, ratio)
    if len(plan) == 1 and plan[0] > requested:
        assert overshoot_tiles(width, height, plan[0]).tile_pixels * plan[0] ** 2 <= TILE_PIXELS


def test_model_work_is_bounded_over_all_shapes_within_the_limits() -> None:
    sides = [
        1,
        2,
        17,
        33,
        34,
        100,
        500,
        999,
        1000,
        1025,
        2047,
        4000,
        8000,
        30303,
        10**6,
        16 * 10**6,
    ]
    worst = 0.0
    # Scales up to 16, the gateway's highest max_scale setting.
    for natives, width, height, requested in itertools.product(
        [(4,), (2, 3, 4)], sides, sides, range(1, 17)
    ):
        if width * height > 16_000_000 or width * height * requested**2 > 64_000_000:
            continue
        plan = plan_passes(natives, requested)
        work = model_work(width, height, requested, plan)
        worst = max(worst, work / whole_image_work(width, height, requested, plan))
    print(f"worst model work over the grid: {worst:.4f}x the result's")
    assert worst <= 1.3


def test_model_work_of_a_whole_image_plan_is_its_pass_inputs() -> None:
    # x6 with [4, 4]: the input, then the x1.5 intermediate (rule 3).
    assert model_work(40, 20, 6, [4, 4]) == 40 * 20 + 60 * 30
    assert model_work(40, 20, 4, [4]) == whole_image_work(40, 20, 4, [4]) == 800
    assert whole_image_work(40, 20, 1, [4]) == 800  # each input pixel fed once


def test_x6_from_a_x4_model_shrinks_between_the_passes() -> None:
    image = np.asarray(photo("coffee", 40).resize((40, 20)))
    first, second = BicubicUpscaler(4), BicubicUpscaler(4)
    out = upscale_to(image, 6, [first, second])
    assert first.inputs == [(20, 40, 3)]
    assert second.inputs == [(30, 60, 3)]  # x1.5, so that x4 lands on x6
    assert out.shape == (120, 240, 3)


def test_lanczos_step_matches_a_direct_resize_on_a_photo() -> None:
    # x3 from a x4 "model": bicubic x4 then Lanczos down equals bicubic x3 closely.
    img = photo("astronaut", 64)
    out = upscale_to(np.asarray(img), 3, [BicubicUpscaler(4)])
    direct = np.asarray(img.resize((192, 192), Image.Resampling.BICUBIC))
    assert np.abs(out.astype(int) - direct).mean() < 3.0


def test_progress_is_monotonic_weighted_and_complete() -> None:
    seen: list[float] = []
    upscale_to(
        np.zeros((10, 10, 3), np.uint8),
        8,
        [BicubicUpscaler(2), BicubicUpscaler(4)],
        progress=seen.append,
    )
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    assert pass_weights([2, 4], 8) == [1.0, 4.0]  # the second pass works on 4x the pixels
    assert seen[1] == pytest.approx(1 / 5)


def test_progress_runs_across_the_tiles_of_an_overshooting_pass() -> None:
    seen: list[float] = []
    model = BicubicUpscaler(4)
    upscale_to(
        np.zeros((60, 90, 3), np.uint8), 1, [model], progress=seen.append, tile_pixels=25_600
    )
    assert len(model.inputs) > 4
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    assert len(set(seen)) == 2 * len(model.inputs)  # each tile reports half-way and done


def test_cancelling_between_tiles_stops_the_pass() -> None:
    model, calls = BicubicUpscaler(4), iter(range(100))
    with pytest.raises(UpscaleCancelled):
        # The third tile is asked to stop: the model is not called again after it.
        upscale_to(
            np.zeros((60, 90, 3), np.uint8),
            1,
            [model],
            should_stop=lambda: next(calls) >= 2,
            tile_pixels=25_600,
        )
    assert len(model.inputs) == 3


def test_cancellation_reaches_the_caller() -> None:
    with pytest.raises(UpscaleCancelled):
        upscale_to(np.zeros((4, 4, 3), np.uint8), 2, [BicubicUpscaler(2)], should_stop=lambda: True)


def test_all_small_plans_run() -> None:
    image = np.zeros((3, 5, 3), np.uint8)
    for natives, requested in itertools.product([(2,), (3,), (4,), (2, 3, 4)], range(1, 10)):
        plan = plan_passes(natives, requested)
        out = upscale_to(image, requested, [BicubicUpscaler(s) for s in plan])
        assert out.shape[:2] == (3 * requested, 5 * requested)
