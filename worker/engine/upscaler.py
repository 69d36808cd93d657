"""The pure image engine: uint8 RGB in, uint8 RGB ``scale`` times larger out, tiled and blended."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from worker.engine.canvas import BlendCanvas
from worker.engine.tiling import AxisLayout, plan_axis

__all__ = ["UpscaleCancelled", "Upscaler"]


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
    ) -> None:
        """Move ``network`` (in place) to ``device``/``dtype`` and remember the tiling setup."""
        if scale < 1 or tile_size < 1 or tile_overlap < 0 or batch_size < 1:
            raise ValueError("scale, tile_size, batch_size must be >= 1 and tile_overlap >= 0")
        self.scale, self.device, self.dtype = scale, torch.device(device), dtype
        self.tile_size, self.tile_overlap, self.batch_size = tile_size, tile_overlap, batch_size
        self._cuda = self.device.type == "cuda"
        # NHWC lets cuDNN use tensor-core kernels directly; on CPU plain NCHW is kept.
        self._memory_format = torch.channels_last if self._cuda else torch.contiguous_format
        network = network.to(device=self.device, dtype=dtype).eval()
        if self._cuda:
            network = network.to(memory_format=torch.channels_last)
            # Tile shapes are fixed, so the one-off autotuning pays for itself (global flag).
            torch.backends.cudnn.benchmark = True
        self.network = network
        self._multiple = _input_multiple(network)

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
            # Mirror-pad to what the architecture needs; the extra output is cropped below.
            image = np.pad(image, ((0, -h % m), (0, -w % m), (0, 0)), mode="symmetric")
        ys = plan_axis(image.shape[0], self.tile_size, self.tile_overlap, m)
        xs = plan_axis(image.shape[1], self.tile_size, self.tile_overlap, m)
        tiles = [(i, j) for i in range(len(ys.starts)) for j in range(len(xs.starts))]
        # Assembled on the host: the full output never lives on the GPU.
        canvas = BlendCanvas(ys, xs, self.scale)
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
        # A no-op unless the input was padded: slicing a whole array keeps it contiguous.
        return np.ascontiguousarray(canvas.result()[: h * self.scale, : w * self.scale])

    def _to_device(self, image: np.ndarray) -> torch.Tensor:
        """Send the uint8 image to the device once; return a (1, 3, H, W) uint8 view."""
        # uint8 crosses the bus (4x less than float32); conversion happens per tile on device.
        image = np.ascontiguousarray(image)
        if not image.flags.writeable:  # e.g. np.asarray(PIL image); torch warns on read-only
            image = image.copy()
        t = torch.from_numpy(image).to(self.device)
        return t.permute(2, 0, 1).unsqueeze(0)

    def _launch(
        self,
        src: torch.Tensor,
        tiles: list[tuple[int, int]],
        ys: AxisLayout,
        xs: AxisLayout,
    ) -> _Batch:
        """Run the network on a batch of same-shaped tiles; start copying uint8 results back."""
        eh, ew = ys.extent, xs.extent
        crops = [src[..., ys.starts[i] :, xs.starts[j] :][..., :eh, :ew] for i, j in tiles]
        x = torch.cat(crops).to(self.dtype).div_(255.0)
        x = x.contiguous(memory_format=self._memory_format)
        y = self.network(x)
        expected = (len(tiles), 3, ys.extent * self.scale, xs.extent * self.scale)
        if tuple(y.shape) != expected:
            raise ValueError(f"network returned {tuple(y.shape)}, expected {expected}")
        # Quantise on the device: 4x fewer bytes to copy than float32 (fp32 math for rounding).
        q = y.float().clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
        q = q.permute(0, 2, 3, 1).contiguous()
        if not self._cuda:
            return _Batch(tiles, q.cpu(), None)
        # non_blocking D2H lands in pinned memory; the event says when it is safe to read.
        host = q.to("cpu", non_blocking=True)
        ready = torch.cuda.Event()
        ready.record()
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
