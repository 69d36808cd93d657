"""Every fast path passes the quality gate: PSNR >= 45 dB against fp32 BasicSR on real photos
and NIQE within 0.05 of it (``tests/support/quality.py``); and the gate can fail."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from tests.support.env import MODEL_CACHE, skip_or_fail
from tests.support.quality import gate_photos, quality_gate, reference_upscale
from worker.engine import NETWORKS, Upscaler, activation_bytes_per_pixel, build_network, plan_tiles
from worker.engine.budget import CPU_DEFAULT_BUDGET_MB, auto_limits
from worker.engine.openvino_backend import (
    OpenVINOBackend,
    openvino_available,
    openvino_cache_path,
)
from worker.engine.precision import GATED_BF16_PATHS, bf16_path_from_flags, cpu_flags
from worker.engine.upscaler import ImageRequest
from worker.engine.weights import cache_path_for

pytestmark = pytest.mark.slow
CPU = torch.device("cpu")
Loader = Callable[[str, int], nn.Module]
#: Crop sides and photos. NIQE needs large outputs to be stable: it fits a Gaussian to
#: 36 features of 96 px patches, so a 512 px output (25 patches) moved it by 0.02 for a
#: PSNR of 80 dB and by up to 0.6 for bf16's 55 dB. So every path is gated on 1024 px
#: outputs (100 patches); x4plus, ~50x slower than animevideov3 on a CPU, on two photos.
SIDES = {"realesrgan-x4plus": 256, "realesr-animevideov3": 256}
PHOTOS = {"realesrgan-x4plus": ["astronaut", "rocket"], "realesr-animevideov3": None}
_references: dict[str, dict[str, np.ndarray]] = {}


def _copy(network: Loader, model: str) -> nn.Module:
    net = build_network(NETWORKS[(model, 4)])
    net.load_state_dict(network(model, 4).state_dict())
    return net.eval().requires_grad_(False)


def _reference(network: Loader, model: str) -> Callable[[np.ndarray], np.ndarray]:
    """fp32 BasicSR outputs, computed once per model for all the paths below."""
    run = reference_upscale(network(model, 4))
    done = _references.setdefault(model, {})

    def cached(image: np.ndarray) -> np.ndarray:
        key = image.tobytes()[:64].hex() + str(image.shape)
        if key not in done:
            done[key] = run(image)
        return done[key]

    return cached


#: Tile cores: animevideov3 (a small receptive field) in 48 px tiles, so that the gate covers
#: seams too; x4plus in the worker's own tiles (272 px in fp32 from the 1 GiB budget, 224 in
#: bf16): its receptive field is far wider than the 16 px context, and 48 px tiles alone
#: cost it the gate (PSNR 46.3 dB, NIQE +-0.35 against the whole image, docs/performance.md).
TILES = {"realesr-animevideov3": 48, "realesrgan-x4plus": None}


def _tiled(net: nn.Module, dtype: torch.dtype, **kwargs: object) -> Upscaler:
    tile = TILES["realesrgan-x4plus" if type(net).__name__.endswith("RRDBNet") else
                 "realesr-animevideov3"]  # fmt: skip
    if tile is None:
        limits = auto_limits(CPU, dtype, "amx" if dtype == torch.bfloat16 else None)
        plan = plan_tiles(activation_bytes_per_pixel(net, dtype), CPU_DEFAULT_BUDGET_MB << 20,
                          16, max_extent=limits[0], max_batch=limits[1])  # fmt: skip
        tile = plan.tile_size
    return Upscaler(net, scale=4, device=CPU, dtype=dtype, tile_size=tile, tile_overlap=16,
                    **kwargs)  # type: ignore[arg-type]  # fmt: skip


def _ov(network: Loader, model: str, dtype: torch.dtype) -> Upscaler:
    net = network(model, 4)
    key = cache_path_for(NETWORKS[(model, 4)], MODEL_CACHE).stem
    backend = OpenVINOBackend(net, precision=dtype,
                              cache_path=openvino_cache_path(key, MODEL_CACHE))  # fmt: skip
    return _tiled(net, torch.float32, backend=backend)


def _batched(engine: Upscaler) -> Callable[[np.ndarray], np.ndarray]:
    """One photo in a batch with a flipped copy of itself (both share passes)."""

    def run(image: np.ndarray) -> np.ndarray:
        flipped = np.ascontiguousarray(image[:, ::-1])
        outcomes = engine.upscale_batch([ImageRequest(flipped), ImageRequest(image)])
        assert outcomes[1].output is not None
        return outcomes[1].output

    return run


PATHS: dict[str, Callable[[Loader, str], Callable[[np.ndarray], np.ndarray]]] = {
    "engine-fp32-tiled": lambda n, m: _tiled(_copy(n, m), torch.float32).upscale,
    "engine-bf16": lambda n, m: _tiled(_copy(n, m), torch.bfloat16).upscale,
    "engine-fp32-batched": lambda n, m: _batched(
        _tiled(_copy(n, m), torch.float32, batch_size=4, shrink_tiles=False)
    ),
    "openvino-fp32": lambda n, m: _ov(n, m, torch.float32).upscale,
    "openvino-bf16": lambda n, m: _ov(n, m, torch.bfloat16).upscale,
}
CASES = [
    ("realesr-animevideov3", "engine-fp32-tiled"),
    ("realesr-animevideov3", "engine-bf16"),
    ("realesr-animevideov3", "engine-fp32-batched"),
    ("realesr-animevideov3", "openvino-fp32"),
    ("realesrgan-x4plus", "engine-bf16"),
    ("realesrgan-x4plus", "openvino-fp32"),
    ("realesr-animevideov3", "openvino-bf16"),
    ("realesrgan-x4plus", "openvino-bf16"),
]


@pytest.mark.parametrize(("model", "path"), CASES)
def test_fast_path_passes_the_gate(network: Loader, model: str, path: str) -> None:
    if path.startswith("openvino") and not openvino_available():
        skip_or_fail("needs the openvino package")  # the worker extra installs it
    if path.endswith("bf16"):
        # bf16's outputs depend on the ISA's rounding: emulated bf16 passed the gate where
        # Zen 4's AVX512-BF16 failed it. So bf16 is gated on the paths auto precision runs it
        # on (GATED_BF16_PATHS), on such a CPU; elsewhere auto runs fp32 (gated above).
        bf16_path = _bf16_path()
        if bf16_path not in GATED_BF16_PATHS:
            pytest.skip(f"auto precision runs fp32 on this CPU (bf16 path: {bf16_path})")
        if path == "openvino-bf16" and not _openvino_bf16():
            pytest.skip("OpenVINO has no bf16 kernels on this CPU (it runs fp32, gated above)")
    candidate = PATHS[path](network, model)
    photos = gate_photos(SIDES[model], PHOTOS[model])
    report = quality_gate(candidate, _reference(network, model), photos)
    print(f"GATE {model} {path}: {report.summary()}")
    assert report.passed, report.summary()


def _openvino_bf16() -> bool:
    import openvino

    return "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def _bf16_path() -> str | None:
    return bf16_path_from_flags(cpu_flags())


def test_the_gate_fails_a_degraded_output(network: Loader) -> None:
    """+-1 level of noise (PSNR ~50 dB, above the PSNR floor) fails on NIQE: the gate is
    strict, not decorative."""
    model = "realesr-animevideov3"
    reference = _reference(network, model)
    rng = np.random.default_rng(0)

    def noisy(image: np.ndarray) -> np.ndarray:
        out = reference(image).astype(np.int16)
        out += rng.integers(-1, 2, out.shape).astype(np.int16)
        return np.clip(out, 0, 255).astype(np.uint8)

    report = quality_gate(noisy, reference, gate_photos(SIDES[model], ["astronaut", "coffee"]))
    print(f"GATE noise: {report.summary()}")
    assert not report.passed
