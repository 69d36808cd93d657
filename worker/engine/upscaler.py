"""The pure image engine: uint8 RGB in, uint8 RGB ``scale`` times larger out, tiled and blended.

Memory: only one batch of tiles is ever on the device; the uint8 image goes up once, each
batch's uint8 result comes back through reusable pinned buffers, and the host assembles the
output in uint8 (``canvas.py``), so host memory grows with the output's uint8 pixels.
Speed on CUDA: fp16/bf16, channels_last, cuDNN autotuning on a fixed tile shape, quantisation
on the device, batched tiles, copies overlapped with compute, optional ``torch.compile``.
The forward pass itself may be delegated to another runtime (``backend``, e.g. OpenVINO on
the CPU); tiling, blending and quantisation stay here, so every backend gets the same tiles.
Several images can share forward passes (``upscale_batch``; scheduling in ``passes.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from worker.engine.canvas import BlendCanvas
from worker.engine.passes import ImageJob, TileRef, next_pass
from worker.engine.tiling import AxisLayout, plan_axis, tile_extent
from worker.engine.transfer import HostStaging

__all__ = [
    "COMPILE_MODES",
    "ImageOutcome",
    "ImageRequest",
    "NetworkBackend",
    "UpscaleCancelled",
    "Upscaler",
]

#: ``torch.compile`` modes accepted (``None`` = eager).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


class UpscaleCancelled(Exception):
    """Raised by ``Upscaler.upscale`` when ``should_stop()`` asked to stop between batches."""


class NetworkBackend(Protocol):
    """Runs the network's forward pass somewhere other than eager PyTorch (e.g. OpenVINO)."""

    #: What the engine calls it in logs and benchmarks.
    name: str
    #: dtype of the float input the backend takes (its own compute precision may differ).
    input_dtype: torch.dtype

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 3, H*s, W*s) float, on the engine's device."""
        ...


@dataclass(frozen=True)
class ImageRequest:
    """One image for ``Upscaler.upscale_batch`` with its own callbacks."""

    image: np.ndarray
    progress: Callable[[float], None] | None = None
    #: Asked before each forward pass that would include this image's tiles; True drops the
    #: image (its result is discarded) and the other images go on.
    should_stop: Callable[[], bool] | None = None


@dataclass(frozen=True)
class ImageOutcome:
    """What became of one ``ImageRequest``: its output, or ``cancelled``."""

    output: np.ndarray | None
    cancelled: bool = False


@dataclass
class _Batch:
    """Tiles of one forward pass and its uint8 result (possibly still copying to the host)."""

    refs: list[TileRef]
    result: torch.Tensor  # (B, H, W, 3) uint8 on the CPU
    ready: torch.cuda.Event | None


def _input_multiple(network: nn.Module) -> int:
    """Input sides the network needs to divide: RRDBNet x2/x1 pixel-unshuffle their input."""
    if type(network).__name__ in ("RRDBNet", "DenseBufferRRDBNet"):
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
        backend: NetworkBackend | None = None,
        shrink_tiles: bool | None = None,
    ) -> None:
        """Move ``network`` (in place) to ``device``/``dtype`` and remember the tiling setup.

        ``backend``: run the forward pass there instead (``network`` then only describes the
        architecture; ``dtype`` must be the backend's ``input_dtype``). ``shrink_tiles``:
        shrink tiles to fit each image (default: on the CPU without compile, see below).
        """
        if scale < 1 or tile_size < 1 or tile_overlap < 0 or batch_size < 1:
            raise ValueError("scale, tile_size, batch_size must be >= 1 and tile_overlap >= 0")
        if compile_mode is not None and compile_mode not in COMPILE_MODES:
            raise ValueError(f"unknown compile mode {compile_mode!r}")
        if backend is not None and (compile_mode is not None or dtype != backend.input_dtype):
            raise ValueError("a backend takes its own input dtype and no torch.compile")
        self.scale, self.device, self.dtype = scale, torch.device(device), dtype
        self.tile_size, self.tile_overlap, self.batch_size = tile_size, tile_overlap, batch_size
        self._cuda = self.device.type == "cuda"
        # NHWC: cuDNN's tensor-core kernels take it directly, and oneDNN on the CPU measured
        # ~20% faster on x4plus than NCHW.
        self._memory_format = torch.channels_last
        self.backend = backend
        if backend is None:
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
        if shrink_tiles is not None:
            self._shrink = shrink_tiles
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
            self._wait(self._run(x, []))
        return time.perf_counter() - start

    def upscale(
        self,
        image: np.ndarray,
        *,
        progress: Callable[[float], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """Upscale a uint8 HxWx3 RGB array to a uint8 (H*scale)x(W*scale)x3 RGB array.

        ``should_stop`` is asked before each forward pass; True raises ``UpscaleCancelled``.
        """
        job = self._job(ImageRequest(image, progress, should_stop))
        with torch.inference_mode():
            self._schedule([job], raise_on_cancel=True)
        return job.canvas.result()

    def upscale_batch(self, requests: Sequence[ImageRequest]) -> list[ImageOutcome]:
        """Upscale several images together, their tiles sharing forward passes.

        Each image keeps the tile layout it would get alone, so its output equals
        ``upscale(image)`` (up to float reassociation between batch sizes); tiles of the same
        shape from different images go into one pass of up to ``batch_size`` tiles. Each
        image's ``progress`` and ``should_stop`` are its own: a stopped image is dropped
        between passes (its outcome ``cancelled``) while the others complete. Outcomes are
        in request order. Every image is validated before any work starts.
        """
        jobs = [self._job(request) for request in requests]
        with torch.inference_mode():
            self._schedule(jobs, raise_on_cancel=False)
        return [
            ImageOutcome(None, cancelled=True)
            if job.cancelled
            else ImageOutcome(job.canvas.result())
            for job in jobs
        ]

    def _job(self, request: ImageRequest) -> ImageJob:
        """Validate and pad ``request.image``, plan its tiles and prepare its canvas."""
        image = request.image
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
        with torch.inference_mode():
            src = self._to_device(image)
        return ImageJob(src, ys, xs, canvas, request.progress, request.should_stop, tiles)

    def _schedule(self, jobs: list[ImageJob], *, raise_on_cancel: bool) -> None:
        """Run every job's tiles through the network, a pass at a time, blending as they land."""
        pending: _Batch | None = None
        while refs := next_pass(jobs, self.batch_size):
            # Ask each image in this pass (once) whether to stop, before spending on it.
            for job in dict.fromkeys(ref.job for ref in refs):
                if job.should_stop is not None and job.should_stop():
                    if raise_on_cancel:
                        raise UpscaleCancelled("upscale cancelled")
                    job.cancelled = True
            refs = [ref for ref in refs if not ref.job.cancelled]
            if not refs:
                continue
            batch = self._run(torch.cat([ref.job.crop(ref.tile) for ref in refs]), refs)
            # Blend the previous pass on the host while the device computes this one.
            if pending is not None:
                self._finish(pending)
            pending = batch
        if pending is not None:
            self._finish(pending)

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

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network on ``x``: compiled for the static shape, eager otherwise."""
        if self.backend is not None:
            return self.backend(x)
        if self._compiled is not None and tuple(x.shape) == self.static_shape:
            # Lets CUDA-graph modes reuse their memory each call (a no-op for the others).
            torch.compiler.cudagraph_mark_step_begin()
            return self._compiled(x)
        return self.network(x)

    def _run(self, x_u8: torch.Tensor, refs: list[TileRef]) -> _Batch:
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
            return _Batch(refs, q, None)
        host, ready = self._staging.download(q)
        return _Batch(refs, host, ready)

    @staticmethod
    def _wait(batch: _Batch) -> None:
        """Block until ``batch``'s result has reached host memory."""
        if batch.ready is not None:
            batch.ready.synchronize()

    def _finish(self, batch: _Batch) -> None:
        """Blend a finished pass into its images' canvases; each reports its own progress."""
        self._wait(batch)
        result = batch.result.numpy()
        for k, ref in enumerate(batch.refs):
            ref.job.add(ref.tile, result[k])
        for job in dict.fromkeys(ref.job for ref in batch.refs):
            job.report()
