"""OpenVINO as the CPU backend: same tiles, same outputs, converted once, selected by setting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tests.support.env import MODEL_CACHE, skip_or_fail
from worker.engine import NETWORKS, Upscaler
from worker.engine.openvino_backend import (
    OpenVINOBackend,
    openvino_available,
    openvino_cache_path,
)
from worker.engine.weights import cache_path_for


@pytest.fixture(autouse=True)
def _openvino() -> None:
    """OpenVINO is the worker's CPU backend (the worker extra installs it): CI must have it."""
    if not openvino_available():
        skip_or_fail("needs the openvino package")


CPU = torch.device("cpu")
Loader = Callable[[str, int], nn.Module]


def test_converts_once_then_reads_the_cache(network: Loader, tmp_path: Path) -> None:
    net = network("realesr-animevideov3", 4)
    path = openvino_cache_path("anime-test", tmp_path)
    first = OpenVINOBackend(net, cache_path=path)
    assert first.source == "converted" and path.is_file() and path.with_suffix(".bin").is_file()
    second = OpenVINOBackend(net, cache_path=path)
    assert second.source == "cache"
    x = torch.rand(2, 3, 20, 28)
    assert torch.equal(first(x), second(x))
    path.with_suffix(".bin").write_bytes(b"damaged")  # a broken cache converts again
    assert OpenVINOBackend(net, cache_path=path).source == "converted"


@pytest.mark.parametrize("model", ["realesr-animevideov3", "realesrgan-x4plus"])
def test_same_tiles_same_output_as_torch(network: Loader, model: str) -> None:
    """Tiled through the engine, OpenVINO fp32 gives PyTorch fp32's uint8 output up to a
    rare one-level rounding difference (both run oneDNN convolutions)."""
    net = network(model, 4)
    key = cache_path_for(NETWORKS[(model, 4)], MODEL_CACHE).stem
    backend = OpenVINOBackend(net, cache_path=openvino_cache_path(key, MODEL_CACHE))
    image = np.random.default_rng(0).integers(0, 256, (40, 52, 3), dtype=np.uint8)
    shapes: list[tuple[int, ...]] = []
    hook = net.register_forward_hook(lambda m, a, o: shapes.append(tuple(a[0].shape)))
    torch_out = Upscaler(net, scale=4, device=CPU, dtype=torch.float32, tile_size=24,
                         tile_overlap=4).upscale(image)  # fmt: skip
    hook.remove()
    engine = Upscaler(net, scale=4, device=CPU, dtype=torch.float32, tile_size=24,
                      tile_overlap=4, backend=_Recording(backend))  # fmt: skip
    ov_out = engine.upscale(image)
    assert engine.backend is not None and engine.backend.shapes == shapes  # type: ignore[attr-defined]
    diff = np.abs(ov_out.astype(np.int16) - torch_out)
    print(f"{model}: OpenVINO vs torch fp32: MAE {diff.mean():.5f}, max {diff.max()}")
    assert diff.max() <= 1 and diff.mean() < 0.01


class _Recording:
    """A backend that records the tile shapes it is given, then delegates."""

    name = "recording"
    input_dtype = torch.float32

    def __init__(self, inner: OpenVINOBackend) -> None:
        self.inner, self.shapes = inner, []  # type: ignore[var-annotated]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        return self.inner(x)


def test_backend_excludes_compile_and_other_dtypes(network: Loader, tmp_path: Path) -> None:
    backend = OpenVINOBackend(network("realesr-animevideov3", 4),
                              cache_path=openvino_cache_path("anime-test", tmp_path))  # fmt: skip
    net = network("realesr-animevideov3", 4)
    with pytest.raises(ValueError):
        Upscaler(net, scale=4, device=CPU, dtype=torch.float32, backend=backend,
                 compile_mode="default")  # fmt: skip
    with pytest.raises(ValueError):
        Upscaler(net, scale=4, device=CPU, dtype=torch.bfloat16, backend=backend)
    with pytest.raises(ValueError):
        OpenVINOBackend(net, precision=torch.float16)


@pytest.mark.parametrize(
    ("setting", "compile_mode", "expected"),
    [("auto", "false", "openvino"), ("auto", "default", "torch"), ("torch", "false", "torch"),
     ("openvino", "false", "openvino")],
)  # fmt: skip
def test_worker_setting_selects_the_backend(setting: str, compile_mode: str, expected: str) -> None:
    from worker.models import ModelPool
    from worker.settings import WorkerSettings

    pool = ModelPool(WorkerSettings(preload=[], model_cache_dir=MODEL_CACHE, device="cpu",
                                    cpu_backend=setting, compile=compile_mode))  # type: ignore[arg-type]  # fmt: skip
    assert pool.cpu_backend == expected
    upscaler = pool.get("realesr-animevideov3", 4)
    assert (upscaler.backend.name if upscaler.backend else "torch") == expected
    out = upscaler.upscale(np.zeros((12, 12, 3), np.uint8))
    assert out.shape == (48, 48, 3)


def test_openvino_with_compile_is_refused() -> None:
    from worker.models import ModelPool
    from worker.settings import WorkerSettings

    with pytest.raises(RuntimeError):
        ModelPool(WorkerSettings(preload=[], model_cache_dir=MODEL_CACHE, device="cpu",
                                 cpu_backend="openvino", compile="default"))  # fmt: skip


def test_bf16_only_where_openvino_has_it(network: Loader, tmp_path: Path) -> None:
    import openvino as ov

    has_bf16 = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    backend = OpenVINOBackend(network("realesr-animevideov3", 4), precision=torch.bfloat16,
                              cache_path=openvino_cache_path("anime-test", tmp_path))  # fmt: skip
    assert backend.precision == (torch.bfloat16 if has_bf16 else torch.float32)
    assert backend(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)
