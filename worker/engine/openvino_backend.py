"""OpenVINO as the CPU backend: the same BasicSR network, converted in memory, run by OpenVINO.

On the CPU, OpenVINO runs these networks well ahead of eager PyTorch at equal precision
(docs/performance.md: its graph compiler fuses each convolution with its activation and
residual add, and writes the dense blocks' convolutions straight into their concatenation
buffers, which PyTorch's oneDNN bindings cannot). The engine keeps tiling, blending and
quantisation (``Upscaler``), so OpenVINO gets exactly the tiles PyTorch would, and only the
forward pass changes hands (``NetworkBackend``).

Conversion: ``openvino.convert_model`` traces the PyTorch module (with its loaded weights) once,
with dynamic batch, height and width, since tiles vary with the image. It takes from seconds
(animevideov3) to minutes (x4plus on a busy 2-core machine), so the converted model is saved
beside the weights cache (OpenVINO IR, fp32 weights), keyed by the caller, and read back at
later starts in well under a second. Nothing is downloaded.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["OpenVINOBackend", "openvino_available", "openvino_cache_path"]

log = logging.getLogger(__name__)

#: Bump when the conversion changes, so stale converted models are ignored.
_CONVERSION_VERSION = "1"
_HINTS = {torch.float32: "f32", torch.bfloat16: "bf16"}


def openvino_available() -> bool:
    """Whether the ``openvino`` package can be imported here."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def openvino_cache_path(weights_key: str, cache_dir: Path) -> Path:
    """Where the converted model for ``weights_key`` (e.g. the weights cache's stem) lives."""
    import openvino as ov

    version = ov.get_version().split("-")[0]
    return Path(cache_dir) / f"{weights_key}-openvino{version}-v{_CONVERSION_VERSION}.xml"


def _convert(network: nn.Module) -> Any:
    """Trace ``network`` (fp32, on the CPU) into an OpenVINO model with dynamic N, H and W."""
    import openvino as ov

    network = network.to(device="cpu", dtype=torch.float32).eval()
    example = torch.zeros((1, 3, 32, 32))
    with torch.inference_mode():
        return ov.convert_model(network, example_input=example, input=[(-1, 3, -1, -1)])


def _save_atomic(model: Any, xml_path: Path) -> None:
    """Save the IR (.xml + .bin, fp32 weights) so that a reader never sees half of it."""
    import openvino as ov

    xml_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(dir=xml_path.parent, prefix=".openvino-"))
    try:
        tmp_xml = tmp_dir / "model.xml"
        ov.save_model(model, str(tmp_xml), compress_to_fp16=False)  # keep the weights exact
        for tmp in (tmp_dir / "model.bin", tmp_xml):  # the .xml last: it marks completeness
            os.chmod(tmp, 0o644)
            os.replace(tmp, xml_path.with_suffix(tmp.suffix))
    finally:
        for leftover in tmp_dir.iterdir():
            leftover.unlink()
        tmp_dir.rmdir()


def _load_or_convert(network: nn.Module, cache_path: Path | None) -> tuple[Any, str]:
    """The OpenVINO model: from ``cache_path`` when readable, else converted (and saved)."""
    import openvino as ov

    if cache_path is not None and cache_path.is_file() and cache_path.with_suffix(".bin").is_file():
        try:
            return ov.Core().read_model(str(cache_path)), "cache"
        except RuntimeError:  # a damaged cache must never stop the worker: convert again
            log.warning("ignoring unreadable OpenVINO cache %s", cache_path, exc_info=True)
    model = _convert(network)
    if cache_path is not None:
        try:
            _save_atomic(model, cache_path)
        except (OSError, RuntimeError):  # a read-only or full cache only costs start-up time
            log.warning("could not write OpenVINO cache %s", cache_path, exc_info=True)
    return model, "converted"


class OpenVINOBackend:
    """Runs a BasicSR network's forward pass with OpenVINO on the CPU (a ``NetworkBackend``)."""

    name = "openvino"
    input_dtype = torch.float32  # OpenVINO takes fp32 in and out; its compute is ``precision``

    def __init__(
        self,
        network: nn.Module,
        *,
        precision: torch.dtype = torch.float32,
        cache_path: Path | None = None,
        threads: int | None = None,
    ) -> None:
        """Convert (or read the cached conversion of) ``network`` and compile it for the CPU.

        ``precision``: OpenVINO's inference precision (fp32, or bf16 where the CPU has it;
        set explicitly, since OpenVINO would otherwise pick bf16 by itself on AMX and
        AVX512-BF16 CPUs). ``threads``: inference threads (default: torch's, so that both
        runtimes use the cores the worker was given).
        """
        import openvino as ov

        if precision not in _HINTS:
            raise ValueError(f"OpenVINO on the CPU runs fp32 or bf16, not {precision}")
        start = time.perf_counter()
        model, self.source = _load_or_convert(network, cache_path)
        core = ov.Core()
        if precision == torch.bfloat16 and "BF16" not in core.get_property(
            "CPU", "OPTIMIZATION_CAPABILITIES"
        ):
            # bf16 forced (WORKER_PRECISION=bf16) on a CPU where OpenVINO has no bf16 kernels.
            log.warning("OpenVINO has no bf16 on this CPU: running fp32")
            precision = torch.float32
        config = {
            "INFERENCE_PRECISION_HINT": _HINTS[precision],
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads()),
        }
        self._compiled = core.compile_model(model, "CPU", config)
        self._request = self._compiled.create_infer_request()
        self.precision = precision
        self.setup_seconds = time.perf_counter() - start

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) fp32 in [0, 1] -> the network's (B, 3, H*s, W*s) fp32 output."""
        if x.device.type != "cpu" or x.dtype != torch.float32:
            raise ValueError(f"OpenVINO backend takes fp32 CPU tensors, got {x.dtype} {x.device}")
        array = np.ascontiguousarray(x.contiguous().numpy())  # NCHW, as converted
        # share_outputs=False (the default): the result is ours, not the request's buffer.
        out = self._request.infer({0: array}, share_inputs=True)[0]
        return torch.from_numpy(np.asarray(out))
