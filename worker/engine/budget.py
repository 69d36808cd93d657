"""Tile size and batch from a memory budget.

The budget covers what one forward pass holds at its peak: activations for ``batch`` tiles of
``extent x extent`` input pixels (extent = tile + 2 * overlap). Per input pixel:

    bytes_per_pixel = 1.25 * peak_values * itemsize(dtype) + 6 * out_ch * s^2

``peak_values`` counts the activation values alive at the peak of the forward pass, per input
pixel (s = the architecture's upscale factor, F = num_feat):

* RRDBNet: ``(2F + out_ch) * s^2``. The peak is in the last upsampling stage, where the
  nearest-upsampled features and the convolution's output (F channels each at s^2 the pixels)
  coexist; the 23-block trunk at 1x holds only ~7F values per pixel.
* SRVGGNetCompact: ``max(3F, F + 3 * out_ch * s^2)``: three F-channel maps at 1x (input,
  conv output, PReLU output), or the last conv's output, its pixel-shuffled copy and the
  upsampled input at s^2 the pixels.

The 1.25 covers allocator rounding and convolution workspaces; ``6 * out_ch * s^2`` is the
output quantised on the device (fp32 copy, uint8, and its NHWC copy). Checked on the CPU in
fp32 with channels_last: x4plus peaks at 10.0-10.5 kB per input pixel against 10.8 kB
estimated; animevideov3 at 0.6-1.3 kB against 1.3 kB (see docs/performance.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = [
    "CPU_BF16_LIMITS",
    "CPU_BF16_MAX_EXTENT",
    "CPU_DEFAULT_BUDGET_MB",
    "CUDA_FREE_FRACTION",
    "TilePlan",
    "activation_bytes_per_pixel",
    "auto_limits",
    "default_budget_bytes",
    "plan_tiles",
]

#: Default budget on the CPU: a quarter of a small 4 GB worker (x4plus fp32: 272 px tiles).
CPU_DEFAULT_BUDGET_MB = 1024
#: Default budget on CUDA: this share of the device memory free when the worker starts.
CUDA_FREE_FRACTION = 0.5
SAFETY = 1.25
MIN_TILE = 32
#: Largest automatic tile extent: bigger tiles save little and make cancelling coarse.
MAX_AUTO_EXTENT = 2048
MAX_AUTO_BATCH = 16
#: On the CPU in bf16 (AMX), speed per pixel falls as tiles grow: x4plus measured 42 us per
#: input pixel at 192 px, 53 at 256, 66 at 320 and 138 at 363 on the 2-core Xeon of
#: docs/performance.md (fp32 stays flat); the matrix unit outruns memory once a tile's
#: activations leave the caches. There automatic tiles stay this small, one per pass.
CPU_BF16_MAX_EXTENT = 256
#: (largest automatic extent, batch) per oneDNN bf16 path (``precision.bf16_path_from_flags``).
#: Only AMX was measured; AVX512-BF16 (Zen 4: bf16 0.45x fp32's time on images of one
#: 160-256 px tile, issue #16) and AVX2-VNNI-2 inherit its cap until measured on such a CPU.
CPU_BF16_LIMITS: dict[str | None, tuple[int, int]] = {
    "amx": (CPU_BF16_MAX_EXTENT, 1),
    "avx512_bf16": (CPU_BF16_MAX_EXTENT, 1),
    "avx2_vnni_2": (CPU_BF16_MAX_EXTENT, 1),
    None: (CPU_BF16_MAX_EXTENT, 1),  # bf16 forced where it is emulated: keep it small too
}
_ALIGN = 16  # automatic extents are multiples of 16 (friendlier kernel shapes)


@dataclass(frozen=True)
class TilePlan:
    """Tile core size, context overlap and tiles per forward pass, with the numbers behind them."""

    tile_size: int
    overlap: int
    batch: int
    bytes_per_pixel: int
    budget_bytes: int

    @property
    def extent(self) -> int:
        """Input pixels per tile side, context included."""
        return self.tile_size + 2 * self.overlap

    @property
    def forward_bytes(self) -> int:
        """Estimated peak memory of one full batch."""
        return self.batch * self.extent**2 * self.bytes_per_pixel


def architecture_int(obj: Any, path: str) -> int:
    """``int(obj.a.b)`` for ``path`` "a.b" (architecture attributes, untyped in BasicSR)."""
    for part in path.split("."):
        obj = getattr(obj, part)
    return int(obj)


def _peak_values(network: nn.Module) -> tuple[int, int]:
    """(activation values alive at the peak, output values) per input pixel of ``network``."""
    kind = type(network).__name__
    if kind in ("RRDBNet", "DenseBufferRRDBNet"):  # the latter: dense_rrdb.py
        feat, out_ch = (
            architecture_int(network, "conv_first.out_channels"),
            architecture_int(network, "conv_last.out_channels"),
        )
        # x2/x1 pixel-unshuffle their input first, so per *input* pixel the last stage holds
        # scale^2 output pixels whatever the internal x4.
        s2 = int(getattr(network, "scale", 4)) ** 2
        return (2 * feat + out_ch) * s2, out_ch * s2
    if kind == "SRVGGNetCompact":
        feat, out_ch = (
            architecture_int(network, "num_feat"),
            architecture_int(network, "num_out_ch"),
        )
        s2 = architecture_int(network, "upscale") ** 2
        return max(3 * feat, feat + 3 * out_ch * s2), out_ch * s2
    # Unknown architecture: assume the widest conv at the largest scale seen, twice.
    convs = [m for m in network.modules() if isinstance(m, nn.Conv2d)]
    widest = max((int(m.out_channels) for m in convs), default=64)
    return 2 * widest * 16, 3 * 16


def activation_bytes_per_pixel(network: nn.Module, dtype: torch.dtype) -> int:
    """Estimated peak bytes per input pixel of one forward pass of ``network`` in ``dtype``."""
    values, out = _peak_values(network)
    itemsize = torch.empty((), dtype=dtype).element_size()
    return math.ceil(SAFETY * values * itemsize + 6 * out)


def default_budget_bytes(device: torch.device) -> int:
    """The default budget: a fixed 1 GiB on the CPU, half the free memory on a CUDA device."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * CUDA_FREE_FRACTION)
    return CPU_DEFAULT_BUDGET_MB << 20


def auto_limits(
    device: torch.device, dtype: torch.dtype, bf16_path: str | None = None
) -> tuple[int, int]:
    """Largest automatic tile extent and batch for ``dtype`` on ``device``.

    ``bf16_path``: the CPU's oneDNN bf16 path (``precision.cpu_precision().bf16_path``), which
    tunes the bf16 cap on the CPU.
    """
    if device.type == "cpu" and dtype == torch.bfloat16:
        return CPU_BF16_LIMITS.get(bf16_path, CPU_BF16_LIMITS[None])
    return MAX_AUTO_EXTENT, MAX_AUTO_BATCH


def plan_tiles(
    bytes_per_pixel: int,
    budget_bytes: int,
    overlap: int,
    *,
    tile_size: int | None = None,
    batch: int | None = None,
    max_extent: int = MAX_AUTO_EXTENT,
    max_batch: int = MAX_AUTO_BATCH,
) -> TilePlan:
    """Derive tile size and batch: the largest tile the budget holds, then as many as fit.

    An explicit ``tile_size`` or ``batch`` wins over the derived one (the budget then only
    sizes what was left automatic); ``max_extent`` and ``max_batch`` cap the derived ones
    (``auto_limits``). The tile is at least ``MIN_TILE`` and the batch at least 1 whatever the
    budget, so a tiny budget degrades speed, never correctness.
    """
    if bytes_per_pixel <= 0 or budget_bytes <= 0 or overlap < 0:
        raise ValueError("bytes_per_pixel and budget_bytes must be positive, overlap >= 0")
    if tile_size is None:
        extent = min(math.isqrt(budget_bytes // bytes_per_pixel), max_extent)
        extent = extent // _ALIGN * _ALIGN
        tile_size = max(extent - 2 * overlap, MIN_TILE)
    elif tile_size < 1:
        raise ValueError("tile_size must be >= 1")
    if batch is None:
        per_tile = (tile_size + 2 * overlap) ** 2 * bytes_per_pixel
        batch = max(1, min(budget_bytes // per_tile, max_batch))
    elif batch < 1:
        raise ValueError("batch must be >= 1")
    return TilePlan(tile_size, overlap, int(batch), bytes_per_pixel, budget_bytes)
