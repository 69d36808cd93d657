"""Several images in shared forward passes: same outputs as alone, each with its own callbacks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from worker.engine import NetworkSpec, Upscaler, build_network
from worker.engine.passes import ImageJob, next_pass
from worker.engine.tiling import plan_axis
from worker.engine.upscaler import ImageRequest

CPU = torch.device("cpu")
Loader = Callable[[str, int], nn.Module]


def _tiny_srvgg() -> nn.Module:
    spec = NetworkSpec("tiny", "srvgg", 2, "", {"num_feat": 8, "num_conv": 2, "upscale": 2})
    torch.manual_seed(0)
    return build_network(spec).eval().requires_grad_(False)


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    sizes = [(40, 56), (24, 24), (56, 40), (40, 40), (9, 70)]  # different sizes and shapes
    return [rng.integers(0, 256, (*s, 3), dtype=np.uint8) for s in sizes]


def _engine(net: nn.Module, batch: int, shrink: bool | None = False) -> Upscaler:
    return Upscaler(net, scale=2, device=CPU, dtype=torch.float32, tile_size=16,
                    tile_overlap=4, batch_size=batch, shrink_tiles=shrink)  # fmt: skip


def _passes(net: nn.Module) -> list[int]:
    sizes: list[int] = []
    net.register_forward_hook(lambda m, args, out: sizes.append(args[0].shape[0]))
    return sizes


@pytest.mark.parametrize("shrink", [False, True])
def test_batched_outputs_equal_each_image_alone(shrink: bool) -> None:
    net = _tiny_srvgg()
    images = _images()
    alone = [_engine(net, 1, shrink).upscale(image) for image in images]
    outcomes = _engine(net, 4, shrink).upscale_batch([ImageRequest(i) for i in images])
    assert [o.cancelled for o in outcomes] == [False] * len(images)
    for want, got in zip(alone, outcomes, strict=True):
        assert got.output is not None and got.output.shape == want.shape
        # Only float reassociation between batch sizes (oneDNN picks kernels by batch).
        assert np.abs(got.output.astype(np.int16) - want).max() <= 1


def test_tiles_of_several_images_share_a_pass() -> None:
    net = _tiny_srvgg()
    passes = _passes(net)
    images = [np.zeros((40, 40, 3), np.uint8)] * 2 + [np.zeros((40, 64, 3), np.uint8)]
    engine = _engine(net, 8)
    for image in images:
        engine.upscale(image)
    assert passes == [4, 4, 8]  # alone: 2x2, 2x2 and 2x4 tiles of 24x24, a pass each
    passes.clear()
    engine.upscale_batch([ImageRequest(i) for i in images])
    assert passes == [8, 8]  # together: the same 16 tiles in two full passes


def test_each_image_reports_its_own_progress() -> None:
    net = _tiny_srvgg()
    seen: dict[int, list[float]] = {0: [], 1: [], 2: []}
    images = _images()[:3]
    requests = [ImageRequest(img, progress=seen[k].append) for k, img in enumerate(images)]
    _engine(net, 3).upscale_batch(requests)
    for values in seen.values():
        assert values and values == sorted(values) and values[-1] == 1.0
        assert all(0 < p <= 1 for p in values)


def test_one_image_stopped_mid_batch_leaves_the_others_intact() -> None:
    net = _tiny_srvgg()
    images = _images()
    alone = [_engine(net, 1).upscale(image) for image in images]
    asked: list[int] = []
    progress: list[float] = []

    def stop_second_image_on_its_third_pass() -> bool:
        asked.append(1)
        return len(asked) >= 3  # deterministic: the third time it is asked

    requests = [ImageRequest(i) for i in images]
    requests[1] = ImageRequest(images[1], progress.append, stop_second_image_on_its_third_pass)
    images[1] = np.zeros((40, 40, 3), np.uint8)  # a larger second image: several passes
    requests[1] = ImageRequest(images[1], progress.append, stop_second_image_on_its_third_pass)
    passes = _passes(net)
    outcomes = _engine(net, 2).upscale_batch(requests)
    assert outcomes[1].cancelled and outcomes[1].output is None
    assert len(asked) == 3 and all(p < 1 for p in progress)
    for k in (0, 2, 3, 4):
        got = outcomes[k].output
        assert not outcomes[k].cancelled and got is not None
        assert np.abs(got.astype(np.int16) - alone[k]).max() <= 1
    # Its remaining tiles were never computed: fewer tiles than all images' together.
    total = sum(len(plan_axis(h, 16, 4).starts) * len(plan_axis(w, 16, 4).starts)
                for h, w, _ in (i.shape for i in images))  # fmt: skip
    assert sum(passes) < total


def test_single_image_upscale_still_raises_when_stopped() -> None:
    from worker.engine import UpscaleCancelled

    with pytest.raises(UpscaleCancelled):
        _engine(_tiny_srvgg(), 1).upscale(np.zeros((40, 40, 3), np.uint8), should_stop=lambda: True)


def test_next_pass_groups_one_shape_round_robin() -> None:
    def job(h: int, w: int) -> ImageJob:
        ys, xs = plan_axis(h, 16, 4), plan_axis(w, 16, 4)
        tiles = [(i, j) for i in range(len(ys.starts)) for j in range(len(xs.starts))]
        return ImageJob(torch.empty(0), ys, xs, None, tiles=tiles)  # type: ignore[arg-type]

    big, small, other = job(40, 40), job(20, 20), job(40, 64)
    first = next_pass([big, small, other], 4)
    # The oldest image sets the shape (24x24); the 20x20 image waits; round robin, row-major.
    assert [(r.job is big, r.tile) for r in first] == [
        (True, (0, 0)), (False, (0, 0)), (True, (0, 1)), (False, (0, 1))
    ]  # fmt: skip
    assert all(r.job is not small for r in first)
    while next_pass([big, other], 4):
        pass
    assert [r.job for r in next_pass([big, small, other], 4)] == [small]
    assert next_pass([big, small, other], 4) == []


@pytest.mark.slow
def test_real_network_batched_equals_alone(network: Loader) -> None:
    from tests.support.quality import gate_photos

    net = network("realesr-animevideov3", 4)
    photos = list(gate_photos(40).values()) + [
        np.ascontiguousarray(p[:24]) for p in gate_photos(40).values()
    ]
    engine = Upscaler(net, scale=4, device=CPU, dtype=torch.float32, tile_size=16,
                      tile_overlap=4, batch_size=6, shrink_tiles=False)  # fmt: skip
    alone = [engine.upscale(p) for p in photos]
    batched = engine.upscale_batch([ImageRequest(p) for p in photos])
    for want, got in zip(alone, batched, strict=True):
        assert got.output is not None
        diff = np.abs(got.output.astype(np.int16) - want)
        assert diff.max() <= 1 and diff.mean() < 0.01
