"""The pure image engine: uint8 RGB in, uint8 RGB ``scale`` times larger out, tiled and blended.

Memory: only one batch of tiles is ever on the device; the uint8 image goes up once, each
batch's uint8 result comes back through reusable pinned buffers, and the host assembles the
output in uint8 (``canvas.py``), so host memory grows with the output's uint8 pixels.
Speed on CUDA: fp16/bf16, channels_last, cuDNN autotuning on a fixed tile shape, quantisation
on the device, batched tiles, copies overlapped with compute, optional ``torch.compile``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from worker.engine.canvas import BlendCanvas
from worker.engine.tiling import AxisLayout, plan_axis, tile_extent
from worker.engine.transfer import HostStaging

__all__ = ["COMPILE_MODES", "UpscaleCancelled", "Upscaler"]

#: ``torch.compile`` modes accepted (``None`` = eager).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


class UpscaleCancelled(Exception):
    """Raised by ``Upscaler.upscale`` when ``should_stop()`` asked to stop between batches."""


@dataclass
class _Batch:
    """Tile indices of one batch and its uint8 result (possibly still copying to the host)."""

    tiles: list[tuple[int, int]]
    result: torch.Tensor  # (B, H, W, 3) uint8 on the CPU
    ready: torch.cuda.Event | None


def _input_multiple(network: nn.Module) -> int:
    """Input sides the network needs to divide: RRDBNet x2/x1 pixel-unshuffle their input."""
    if type(network).__name__ == "RRDBNet":
        return {2: 2, 1: 4}.get(int(getattr(network, "scale", 4)), 1)
    return 1


class Upscaler:
    """Runs a super-resolution network over an image in overlapping, batched, blended tiles."""

    def __init__(
        self,
        network: nn.Module,
        *,
        scale: int,
        device: torch.device,
        dtype: torch.dtype,
        tile_size: int = 256,
        tile_overlap: int = 16,
        batch_size: int = 1,
        compile_mode: str | None = None,
    ) -> None:
        """Move ``network`` (in place) to ``device``/``dtype`` and remember the tiling setup."""
        if scale < 1 or tile_size < 1 or tile_overlap < 0 or batch_size < 1:
            raise ValueError("scale, tile_size, batch_size must be >= 1 and tile_overlap >= 0")
        if compile_mode is not None and compile_mode not in COMPILE_MODES:
            raise ValueError(f"unknown compile mode {compile_mode!r}")
        self.scale, self.device, self.dtype = scale, torch.device(device), dtype
        self.tile_size, self.tile_overlap, self.batch_size = tile_size, tile_overlap, batch_size
        self._cuda = self.device.type == "cuda"
        # NHWC: cuDNN's tensor-core kernels take it directly, and oneDNN on the CPU measured
        # ~20% faster on x4plus than NCHW.
        self._memory_format = torch.channels_last
        network = network.to(device=self.device, dtype=dtype).eval()
        network = network.to(memory_format=torch.channels_last)
        if self._cuda:
            # Tile shapes are fixed, so the one-off autotuning pays for itself (global flag).
            torch.backends.cudnn.benchmark = True
        self.network = network
        self._multiple = _input_multiple(network)
        self.extent = tile_extent(tile_size, tile_overlap, self._multiple)
        self.compile_mode = compile_mode
        self._compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
        if compile_mode is not None:
            # Static shapes only: compiled for the full-batch tile shape, eager for the rest
            # (small images, the last partial batch), so no shape ever triggers a recompile.
            self._compiled = torch.compile(network, mode=compile_mode, dynamic=False)
        # Shrinking tiles to fit the image saves compute but varies the shape: worth it only
        # where shapes are not autotuned or compiled (the CPU without compile).
        self._shrink = not self._cuda and compile_mode is None
        self._staging = HostStaging(pin=True) if self._cuda else None

    @property
    def static_shape(self) -> tuple[int, int, int, int]:
        """Shape of a full batch of full tiles: what warm-up and compilation are done for."""
        return (self.batch_size, 3, self.extent, self.extent)

    def warmup(self) -> float:
        """Run one batch now, so that autotuning and compilation happen before the first job.

        On CUDA (or with compile) that is a full batch of the tile shape; on the CPU a tiny
        input, enough to load the kernels. Returns the seconds it took.
        """
        start = time.perf_counter()
        if self._cuda or self._compiled is not None:
            n, _, eh, ew = self.static_shape
        else:
            n, eh, ew = 1, 16 * self._multiple, 16 * self._multiple
        with torch.inference_mode():
            x = torch.zeros((n, 3, eh, ew), dtype=torch.uint8, device=self.device)
            self._wait(self._run(x, [(0, 0)] * n))
        return time.perf_counter() - start

    def upscale(
        self,
        image: np.ndarray,
        *,
        progress: Callable[[float], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """Upscale a uint8 HxWx3 RGB array to a uint8 (H*scale)x(W*scale)x3 RGB array."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected uint8 HxWx3 RGB, got {image.dtype} {image.shape}")
        h, w = image.shape[:2]
        if h == 0 or w == 0:
            raise ValueError("empty image")
        m = self._multiple
        if h % m or w % m:
            # Mirror-pad to what the architecture needs; the canvas crops the extra output.
            image = np.pad(image, ((0, -h % m), (0, -w % m), (0, 0)), mode="symmetric")
        ys, xs = self._plan(image.shape[0], image.shape[1])
        tiles = [(i, j) for i in range(len(ys.starts)) for j in range(len(xs.starts))]
        # Assembled on the host in uint8: the full output never lives on the device.
        canvas = BlendCanvas(ys, xs, self.scale, size=(h * self.scale, w * self.scale))
        done = 0
        with torch.inference_mode():
            src = self._to_device(image)
            pending: _Batch | None = None
            for first in range(0, len(tiles), self.batch_size):
                if should_stop is not None and should_stop():
                    raise UpscaleCancelled("upscale cancelled")
                batch = self._launch(src, tiles[first : first + self.batch_size], ys, xs)
                # Blend the previous batch on the host while the device computes this one.
                if pending is not None:
                    done = self._finish(pending, canvas, done, len(tiles), progress)
                pending = batch
            assert pending is not None
            self._finish(pending, canvas, done, len(tiles), progress)
        return canvas.result()

    def _plan(self, h: int, w: int) -> tuple[AxisLayout, AxisLayout]:
        """Tile layouts for an ``h`` x ``w`` input (both multiples of the input multiple).

        Square tiles, except for a thin image (one axis fits in a single tile shorter than
        the square's side): its tiles get the area the short side leaves unused along the
        long axis, so each forward pass holds the same number of pixels (the same memory)
        and a 1-pixel-high strip takes a few passes, not thousands.
        """
        m, o, shrink = self._multiple, self.tile_overlap, self._shrink
        ys = plan_axis(h, self.tile_size, o, m, shrink=shrink)
        xs = plan_axis(w, self.tile_size, o, m, shrink=shrink)
        if len(ys.starts) == 1 and len(xs.starts) > 1 and ys.extent < self.extent:
            xs = plan_axis(w, self._widened(ys.extent), o, m, shrink=shrink)
        elif len(xs.starts) == 1 and len(ys.starts) > 1 and xs.extent < self.extent:
            ys = plan_axis(h, self._widened(xs.extent), o, m, shrink=shrink)
        return ys, xs

    def _widened(self, short: int) -> int:
        """Core length of a tile ``short`` pixels across holding a square tile's pixels."""
        context = self.extent - tile_extent(self.tile_size, 0, self._multiple)
        return max(self.tile_size, self.extent * self.extent // short - context)

    def _to_device(self, image: np.ndarray) -> torch.Tensor:
        """Send the uint8 image to the device once; return a (1, 3, H, W) uint8 view."""
        # uint8 crosses the bus (4x less than float32); conversion happens per tile on device.
        image = np.ascontiguousarray(image)
        if self._staging is not None:
            return self._staging.upload(image, self.device)
        if not image.flags.writeable:  # e.g. np.asarray(PIL image); torch warns on read-only
            image = image.copy()
        return torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0)

    def _launch(
        self, src: torch.Tensor, tiles: list[tuple[int, int]], ys: AxisLayout, xs: AxisLayout
    ) -> _Batch:
        """Cut a batch of same-shaped uint8 tiles out of ``src`` and start running it."""
        eh, ew = ys.extent, xs.extent
        crops = [src[..., ys.starts[i] :, xs.starts[j] :][..., :eh, :ew] for i, j in tiles]
        return self._run(torch.cat(crops), tiles)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network on ``x``: compiled for the static shape, eager otherwise."""
        if self._compiled is not None and tuple(x.shape) == self.static_shape:
            # Lets CUDA-graph modes reuse their memory each call (a no-op for the others).
            torch.compiler.cudagraph_mark_step_begin()
            return self._compiled(x)
        return self.network(x)

    def _run(self, x_u8: torch.Tensor, tiles: list[tuple[int, int]]) -> _Batch:
        """Run the network on a uint8 (B,3,H,W) batch; start copying the uint8 result back."""
        x = x_u8.to(self.dtype).div_(255.0).contiguous(memory_format=self._memory_format)
        y = self._forward(x)
        expected = (x.shape[0], 3, x.shape[2] * self.scale, x.shape[3] * self.scale)
        if tuple(y.shape) != expected:
            raise ValueError(f"network returned {tuple(y.shape)}, expected {expected}")
        # Quantise on the device: 4x fewer bytes to copy than float32 (fp32 math for rounding).
        q = y.float().clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
        del y  # a CUDA-graph output: it must not be read after the next replay
        # Elementwise ops keep channels_last, so this NHWC view is already contiguous.
        q = q.permute(0, 2, 3, 1).contiguous()
        if self._staging is None:
            return _Batch(tiles, q, None)
        host, ready = self._staging.download(q)
        return _Batch(tiles, host, ready)

    @staticmethod
    def _wait(batch: _Batch) -> None:
        """Block until ``batch``'s result has reached host memory."""
        if batch.ready is not None:
            batch.ready.synchronize()

    def _finish(
        self,
        batch: _Batch,
        canvas: BlendCanvas,
        done: int,
        total: int,
        progress: Callable[[float], None] | None,
    ) -> int:
        """Blend a finished batch into ``canvas``, report progress; return tiles done so far."""
        self._wait(batch)
        result = batch.result.numpy()
        for k, (i, j) in enumerate(batch.tiles):
            canvas.add(i, j, result[k])
        done += len(batch.tiles)
        if progress is not None:
            progress(1.0 if done >= total else done / total)
        return done
