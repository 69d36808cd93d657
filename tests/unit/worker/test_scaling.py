"""Any integer scale: which model passes run, and the exact size that comes out."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from tests.unit.worker.fakes import BicubicUpscaler
from tests.unit.worker.samples import photo
from worker.engine import UpscaleCancelled
from worker.scaling import pass_weights, plan_passes, upscale_to


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
def test_an_overshooting_pass_runs_in_bands_with_the_same_result(requested: int) -> None:
    image = np.asarray(photo("chelsea", 90))  # 90 x 60
    whole = upscale_to(image, requested, [BicubicUpscaler(4)])
    banded_model = BicubicUpscaler(4)
    # 90 px wide at x4: 1440 model pixels a row; 60_000 allows 41 rows, 9 without context.
    banded = upscale_to(image, requested, [banded_model], band_pixels=60_000)
    assert len(banded_model.inputs) == 7
    assert max(h for h, _, _ in banded_model.inputs) * 90 * 16 <= 60_000
    # Bicubic needs 2 px of context and each band has 16: the bands join without a trace.
    assert np.array_equal(banded, whole)


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


def test_cancellation_reaches_the_caller() -> None:
    with pytest.raises(UpscaleCancelled):
        upscale_to(np.zeros((4, 4, 3), np.uint8), 2, [BicubicUpscaler(2)], should_stop=lambda: True)


def test_all_small_plans_run() -> None:
    image = np.zeros((3, 5, 3), np.uint8)
    for natives, requested in itertools.product([(2,), (3,), (4,), (2, 3, 4)], range(1, 10)):
        plan = plan_passes(natives, requested)
        out = upscale_to(image, requested, [BicubicUpscaler(s) for s in plan])
        assert out.shape[:2] == (3 * requested, 5 * requested)
