"""The two implementations under test, on the same network, weights and image.

* ``engine``: this project's ``worker.engine.Upscaler`` with the settings the worker would
  use (tile size and batch from the memory budget; on CUDA one whole-image tile, fp16,
  channels_last, optional ``torch.compile``), its forward pass run by PyTorch (``torch``),
  by OpenVINO (``openvino``, the CPU default where installed) or by PyTorch with the
  concat-free RRDB trunk (``dense``, ``worker/engine/dense_rrdb.py``).
* ``reference``: Real-ESRGAN's ``RealESRGANer`` (package ``realesrgan`` 0.3.0) given our
  network object and our converted weights, saved as an official ``{"params_ema": ...}``
  checkpoint; its own defaults otherwise (tile=0: whole image, pre_pad=10), ``half=True`` on
  CUDA and fp32 on the CPU, as its command line does.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from worker.engine import (
    NETWORKS,
    Upscaler,
    activation_bytes_per_pixel,
    build_network,
    load_network,
    plan_tiles,
    precision_for,
)
from worker.engine.budget import auto_limits, default_budget_bytes
from worker.engine.dense_rrdb import DenseBufferRRDBNet
from worker.engine.openvino_backend import (
    OpenVINOBackend,
    openvino_available,
    openvino_cache_path,
)
from worker.engine.precision import bf16_path_from_flags, cpu_flags
from worker.engine.weights import cache_path_for

MODELS = {"x4plus": ("realesrgan-x4plus", 4), "animevideov3": ("realesr-animevideov3", 4)}
OVERLAP = 16


@dataclass
class Impl:
    """An implementation: ``run`` is timed; ``prepare``/``to_rgb`` convert outside the timing."""

    run: Callable[[np.ndarray], np.ndarray]
    prepare: Callable[[np.ndarray], np.ndarray]
    to_rgb: Callable[[np.ndarray], np.ndarray]
    settings: dict[str, object]


def _same(image: np.ndarray) -> np.ndarray:
    return image


def bgr_swap(image: np.ndarray) -> np.ndarray:
    """RGB <-> BGR, contiguous."""
    return np.ascontiguousarray(image[..., ::-1])


def astronaut(size: int) -> np.ndarray:
    """skimage's astronaut resized (bicubic) to ``size`` x ``size``, uint8 RGB."""
    from skimage import data

    image = Image.fromarray(data.astronaut())
    if size != image.width:
        image = image.resize((size, size), Image.BICUBIC)
    return np.ascontiguousarray(np.asarray(image))


def default_backend(device: torch.device, compile_mode: str | None) -> str:
    """What WORKER_CPU_BACKEND=auto picks (``worker.models.ModelPool._cpu_backend``)."""
    if device.type == "cpu" and compile_mode is None and openvino_available():
        return "openvino"
    return "torch"


def make_engine(
    model: str,
    device: torch.device,
    cache_dir: Path,
    size: int,
    compile_mode: str | None,
    precision: str = "auto",
    backend: str = "auto",
) -> Impl:
    """Our engine for ``model`` (RGB in, RGB out), at ``precision`` as WORKER_PRECISION takes,
    its forward pass by ``backend``: "torch", "openvino", "dense" or "auto" (the worker's)."""
    spec = NETWORKS[MODELS[model]]
    network = load_network(spec, cache_dir=cache_dir)
    dtype = precision_for(device, precision)
    if backend == "auto":
        backend = default_backend(device, compile_mode)
    path = bf16_path_from_flags(cpu_flags()) if device.type == "cpu" else None
    max_extent, max_batch = auto_limits(device, dtype, path)
    plan = plan_tiles(
        activation_bytes_per_pixel(network, dtype),
        default_budget_bytes(device),
        OVERLAP,
        max_extent=max_extent,
        max_batch=max_batch,
    )
    tile, batch = plan.tile_size, plan.batch
    if device.type == "cuda":
        # One whole-image tile (the budget holds it), so the static shape the compiled
        # graph and cuDNN's autotuning are made for is the image's own.
        tile, batch = size - 2 * OVERLAP, 1
    runner = None
    if backend == "openvino":
        key = cache_path_for(spec, cache_dir).stem
        runner = OpenVINOBackend(
            network, precision=dtype, cache_path=openvino_cache_path(key, cache_dir)
        )
    elif backend == "dense":
        if spec.arch != "rrdb":
            raise ValueError("the dense trunk is for RRDBNet only")
        network = DenseBufferRRDBNet.from_basicsr(network)
    engine = Upscaler(
        network,
        scale=spec.scale,
        device=device,
        dtype=runner.input_dtype if runner is not None else dtype,
        tile_size=tile,
        tile_overlap=OVERLAP,
        batch_size=batch,
        compile_mode=compile_mode,
        backend=runner,
    )
    engine.warmup()
    settings = {
        "tile": tile,
        "batch": batch,
        "dtype": str(dtype).removeprefix("torch."),
        "backend": backend,
        "budget_mb": plan.budget_bytes >> 20,
        "compile": compile_mode or "off",
    }
    return Impl(engine.upscale, _same, _same, settings)


def make_reference(
    model: str, device: torch.device, cache_dir: Path, tile: int, half: bool | None = None
) -> Impl:
    """``RealESRGANer`` on the same weights (OpenCV's BGR in and out, as it expects).

    ``half`` (its fp16 mode) defaults to CUDA only; its command line defaults to fp16 on any
    device (``--fp32`` turns it off), so the CPU cases time both.
    """
    import setuptools  # noqa: F401  (Python 3.12: gives basicsr its distutils)
    from realesrgan.utils import RealESRGANer

    spec = NETWORKS[MODELS[model]]
    state = load_network(spec, cache_dir=cache_dir).state_dict()
    if half is None:
        half = device.type == "cuda"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{spec.name}.pth"
        torch.save({"params_ema": state}, path)
        upsampler = RealESRGANer(
            scale=spec.scale,
            model_path=str(path),
            model=build_network(spec),
            tile=tile,
            tile_pad=10,
            pre_pad=10,
            half=half,
            device=device,
        )

    def run(bgr: np.ndarray) -> np.ndarray:
        # It prints a line per tile: keep that out of the output (and the timing noise).
        with contextlib.redirect_stdout(io.StringIO()):
            out, _mode = upsampler.enhance(bgr)
        return out

    settings = {"tile": tile, "tile_pad": 10, "pre_pad": 10, "half": half}
    return Impl(run, bgr_swap, bgr_swap, settings)
