"""The model pool: operator models, descriptions, the memory budget, compile and warm-up wiring."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from shared.operator_models import parse_model_filename, scan_operator_models
from tests.support.env import MODEL_CACHE
from worker.engine import NETWORKS, Upscaler, load_network
from worker.models import ModelPool, OperatorModelError
from worker.settings import WorkerSettings

ANIME = NETWORKS[("realesr-animevideov3", 4)]


def _settings(**kwargs: object) -> WorkerSettings:
    base: dict[str, object] = {"preload": [], "model_cache_dir": MODEL_CACHE, "device": "cpu"}
    return WorkerSettings(**{**base, **kwargs})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def anime_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The official animevideov3 weights (converted) saved as a BasicSR checkpoint."""
    folder = tmp_path_factory.mktemp("models")
    state = load_network(ANIME, cache_dir=MODEL_CACHE).state_dict()
    torch.save({"params_ema": state}, folder / "drawn-art-x4.pth")
    (folder / "README.txt").write_text("not a model")  # other files are ignored
    (folder / "._drawn-art-x4.pth").write_bytes(b"\0\5\26\7")  # macOS AppleDouble: hidden
    return folder / "drawn-art-x4.pth"


def test_operator_model_is_served_and_described(anime_checkpoint: Path) -> None:
    pool = ModelPool(_settings(models={"dir": anime_checkpoint.parent}))
    assert pool.available()["drawn-art"] == (4,)
    assert pool.native_scales("drawn-art") == (4,) and pool.native_scales("nope") == ()
    described = pool.describe("drawn-art", 4)
    assert described == {
        "model": "drawn-art",
        "scale": 4,
        "source": "operator",
        "arch": "srvgg",
        "file": "drawn-art-x4.pth",
        "sha256": hashlib.sha256(anime_checkpoint.read_bytes()).hexdigest(),
    }
    image = np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    operator = pool.get("drawn-art", 4).upscale(image)
    builtin = pool.get("realesr-animevideov3", 4).upscale(image)
    assert np.array_equal(operator, builtin)  # the same weights, the same result


def test_builtin_description_names_the_shipped_file() -> None:
    described = ModelPool(_settings()).describe("realesrgan-x4plus", 4)
    assert described["source"] == "builtin" and described["file"] == "REALESRGAN_X4PLUS_UP4X.bin"
    assert len(described["sha256"]) == 64 and described["package"].startswith("sr_vulkan")


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("broken-x4.pth", b"not a checkpoint", "broken-x4.pth does not load"),
        ("Bad Name.pth", b"", "must be named <name>-x<scale>.pth"),
        ("realesr-animevideov3-x4.pth", None, "already a builtin model"),
        ("drawn-art-x2.pth", None, "says x2 but the network upscales x4"),
    ],
)
def test_a_bad_file_stops_the_pool_at_start_up(
    tmp_path: Path, anime_checkpoint: Path, name: str, content: bytes | None, match: str
) -> None:
    data = anime_checkpoint.read_bytes() if content is None else content
    (tmp_path / name).write_bytes(data)
    with pytest.raises(OperatorModelError, match=match):
        ModelPool(_settings(models={"dir": tmp_path}))


def test_missing_model_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(OperatorModelError, match="not a directory"):
        ModelPool(_settings(models={"dir": tmp_path / "absent"}))


def test_budget_and_explicit_tile_settings() -> None:
    net = load_network(NETWORKS[("realesrgan-x4plus", 4)], cache_dir=MODEL_CACHE)
    auto = ModelPool(_settings(precision="fp32")).plan_for(net)
    assert (auto.tile_size, auto.batch, auto.budget_bytes) == (272, 1, 1 << 30)
    # bf16 (the CPU default where there is AMX) runs faster in small tiles, one at a time.
    half = ModelPool(_settings(precision="bf16")).plan_for(net)
    assert (half.extent, half.batch) == (256, 1) and half.forward_bytes <= 1 << 30
    small = ModelPool(_settings(precision="fp32", tile_memory_mb=256)).plan_for(net)
    assert small.tile_size < auto.tile_size and small.forward_bytes <= 256 << 20
    fixed = ModelPool(_settings(tile_size=96, tile_batch=3)).plan_for(net)
    assert (fixed.tile_size, fixed.batch) == (96, 3)


def test_auto_settings_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_TILE_SIZE", "auto")
    monkeypatch.setenv("WORKER_TILE_BATCH", "")
    monkeypatch.setenv("WORKER_TILE_MEMORY_MB", "2048")
    monkeypatch.setenv("WORKER_COMPILE", "max-autotune")
    settings = WorkerSettings()
    assert (settings.tile_size, settings.tile_batch, settings.tile_memory_mb) == (None, None, 2048)
    assert settings.compile == "max-autotune" and settings.warmup is True


def test_compile_setting_caches_under_the_model_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    pool = ModelPool(_settings(compile="max-autotune", model_cache_dir=tmp_path))
    assert pool.compile_mode == "max-autotune"
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str((tmp_path / "inductor").resolve())
    assert ModelPool(_settings()).compile_mode is None


def test_faked_cuda_picks_fp16_and_half_the_free_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    # No GPU here: fake its presence to check the choices made for it (nothing runs on it).
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (8 << 30, 16 << 30))
    pool = ModelPool(_settings(device="auto"))
    assert pool.device.type == "cuda" and pool.dtype == torch.float16
    assert pool.budget_bytes == 4 << 30
    net = load_network(NETWORKS[("realesrgan-x4plus", 4)], cache_dir=MODEL_CACHE)
    plan = pool.plan_for(net)  # fp16 halves the activations: larger tiles than on the CPU
    assert plan.tile_size > 272 and plan.forward_bytes <= 4 << 30


def test_preload_warms_up_each_model(monkeypatch: pytest.MonkeyPatch) -> None:
    warmed: list[tuple[int, ...]] = []
    original = Upscaler.warmup

    def spy(self: Upscaler) -> float:
        warmed.append(self.static_shape)
        return original(self)

    monkeypatch.setattr(Upscaler, "warmup", spy)
    ModelPool(_settings(preload=["realesr-animevideov3:2"])).preload()
    assert len(warmed) == 1
    ModelPool(_settings(preload=["realesr-animevideov3:2"], warmup=False)).preload()
    assert len(warmed) == 1


def test_gateway_scanner_reads_names_only(tmp_path: Path) -> None:
    for name in ("drawn-art-x4.pth", "drawn-art-x2.safetensors", "general-x4v3-x4.PTH",
                 "notes.txt", ".hidden-x4.pth"):  # fmt: skip
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "dir-x4.pth").mkdir()
    assert scan_operator_models(tmp_path) == {"drawn-art": (2, 4), "general-x4v3": (4,)}
    assert scan_operator_models(None) == {}
    with pytest.raises(OperatorModelError, match="not a directory"):
        scan_operator_models(tmp_path / "absent")
    # The same rule as the worker's: a misnamed model file is an error, not silently skipped.
    (tmp_path / "Bad Name.pth").write_bytes(b"")
    with pytest.raises(OperatorModelError, match="<name>-x<scale>"):
        scan_operator_models(tmp_path)
    assert parse_model_filename("a-x3.safetensors") == ("a", 3)
    assert parse_model_filename("readme.md") is None
    with pytest.raises(ValueError, match="<name>-x<scale>"):
        parse_model_filename("model.pth")
