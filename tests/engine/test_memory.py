"""Bounded host memory: the output is assembled in uint8, never in a full-size float buffer."""

from __future__ import annotations

import tracemalloc

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from worker.engine import Upscaler
from worker.engine.canvas import BlendCanvas
from worker.engine.tiling import plan_axis


class _Nearest(nn.Module):
    """A stand-in network (x4 nearest): fast, and its tiled result is known exactly."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=4, mode="nearest")


def test_upscale_allocates_little_more_than_the_uint8_output() -> None:
    image = np.random.default_rng(1).integers(0, 256, (384, 320, 3), dtype=np.uint8)
    engine = Upscaler(_Nearest(), scale=4, device=torch.device("cpu"), dtype=torch.float32,
                      tile_size=64, tile_overlap=8, batch_size=2)  # fmt: skip
    # tracemalloc sees every numpy allocation (torch's own tensors are not traced; they are
    # per-batch here). A float32 accumulator of the output's size alone would be 4x it.
    tracemalloc.start()
    try:
        out = engine.upscale(image)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == (1536, 1280, 3)
    print(f"traced peak {peak / 2**20:.1f} MB for a {out.nbytes / 2**20:.1f} MB output")
    assert peak < 1.3 * out.nbytes
    expected = image.repeat(4, axis=0).repeat(4, axis=1)
    assert np.abs(out.astype(np.int16) - expected).max() <= 1  # the blend is exact up to rounding


def test_seam_buffers_stay_a_band_not_the_image() -> None:
    ys, xs = plan_axis(1024, 64, 8), plan_axis(1024, 64, 8)
    canvas = BlendCanvas(ys, xs, 4)
    tile = np.full((ys.extent * 4, xs.extent * 4, 3), 7, np.uint8)
    for i in range(len(ys.starts)):
        for j in range(len(xs.starts)):
            canvas.add(i, j, tile)
    out = canvas.result()
    assert (out == 7).all()
    # Pending: the seam band under the current tile row (2 * overlap * scale output rows,
    # full width, float32) and a few cells; 3 MB here, where a float32 output would be 200 MB.
    band = 2 * 8 * 4 * 4096 * 3 * 4
    peak = canvas.peak_pending_bytes
    print(f"peak seam buffers {peak / 2**20:.2f} MB, output {out.nbytes / 2**20:.0f} MB")
    assert peak <= 2 * band
