"""Every fast path passes the quality gate: PSNR >= 45 dB against fp32 BasicSR on real photos
and NIQE within 0.05 of it (``worker/engine/quality.py``); and the gate can fail."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from tests.support import MODEL_CACHE
from worker.engine import NETWORKS, Upscaler, build_network
from worker.engine.dense_rrdb import DenseBufferRRDBNet
from worker.engine.openvino_backend import (
    OpenVINOBackend,
    openvino_available,
    openvino_cache_path,
)
from worker.engine.quality import gate_photos, quality_gate, reference_upscale
from worker.engine.upscaler import ImageRequest
from worker.engine.weights import cache_path_for

pytestmark = pytest.mark.slow
CPU = torch.device("cpu")
Loader = Callable[[str, int], nn.Module]
#: Crop sides: x4plus is slow on a CPU (its outputs are 256 px), animevideov3 is not (512 px).
SIDES = {"realesrgan-x4plus": 64, "realesr-animevideov3": 128}
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


def _tiled(net: nn.Module, dtype: torch.dtype, **kwargs: object) -> Upscaler:
    # Tiles smaller than the crops, so the gate covers seams too.
    return Upscaler(net, scale=4, device=CPU, dtype=dtype, tile_size=48, tile_overlap=16,
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
    "dense-fp32": lambda n, m: (
        _tiled(DenseBufferRRDBNet.from_basicsr(_copy(n, m)), torch.float32).upscale
    ),
}
CASES = [
    ("realesr-animevideov3", "engine-fp32-tiled"),
    ("realesr-animevideov3", "engine-bf16"),
    ("realesr-animevideov3", "engine-fp32-batched"),
    ("realesr-animevideov3", "openvino-fp32"),
    ("realesrgan-x4plus", "engine-bf16"),
    ("realesrgan-x4plus", "openvino-fp32"),
    ("realesrgan-x4plus", "dense-fp32"),
]


@pytest.mark.parametrize(("model", "path"), CASES)
def test_fast_path_passes_the_gate(network: Loader, model: str, path: str) -> None:
    if path.startswith("openvino") and not openvino_available():
        pytest.skip("needs the openvino package")
    candidate = PATHS[path](network, model)
    report = quality_gate(candidate, _reference(network, model), gate_photos(SIDES[model]))
    print(f"GATE {model} {path}: {report.summary()}")
    assert report.passed, report.summary()


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
