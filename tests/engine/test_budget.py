"""Tile size and batch from the memory budget, and the per-pixel activation estimate."""

from __future__ import annotations

import pytest
import torch

from worker.engine import NETWORKS, NetworkSpec, build_network
from worker.engine.budget import (
    CPU_BF16_LIMITS,
    CPU_BF16_MAX_EXTENT,
    MAX_AUTO_BATCH,
    MAX_AUTO_EXTENT,
    MIN_TILE,
    activation_bytes_per_pixel,
    auto_limits,
    default_budget_bytes,
    plan_tiles,
)

MB = 1 << 20


def test_estimates_follow_the_documented_formula() -> None:
    x4plus = build_network(NETWORKS[("realesrgan-x4plus", 4)])
    anime = build_network(NETWORKS[("realesr-animevideov3", 4)])
    # RRDBNet: 1.25 * (2*64 + 3) * 16 values * 4 bytes + 6 * 3 * 16 output bytes.
    assert activation_bytes_per_pixel(x4plus, torch.float32) == 10_480 + 288
    assert activation_bytes_per_pixel(x4plus, torch.float16) == 5_240 + 288
    # SRVGGNetCompact: max(3*64, 64 + 3*3*16) = 208 values.
    assert activation_bytes_per_pixel(anime, torch.float32) == 1_040 + 288
    # x2 and x3 are the x4 network plus a resize: the same peak.
    anime2 = build_network(NETWORKS[("realesr-animevideov3", 2)])
    assert activation_bytes_per_pixel(anime2, torch.float32) == 1_328


def test_pixel_unshuffle_rrdb_counts_output_pixels_per_input_pixel() -> None:
    x2 = build_network(NetworkSpec("t", "rrdb", 2, "", {"num_in_ch": 3, "num_out_ch": 3,
                       "scale": 2, "num_feat": 8, "num_block": 1, "num_grow_ch": 4}))  # fmt: skip
    assert activation_bytes_per_pixel(x2, torch.float32) == round(1.25 * 19 * 4 * 4) + 6 * 12


def test_auto_tile_fills_the_budget() -> None:
    plan = plan_tiles(10_768, 1024 * MB, 16)
    # isqrt(1 GiB / 10768) = 315 -> 304 (multiple of 16) -> core 272.
    assert (plan.tile_size, plan.batch, plan.extent) == (272, 1, 304)
    assert plan.forward_bytes <= plan.budget_bytes
    bigger = plan_tiles(10_768, 4096 * MB, 16)
    assert bigger.tile_size > plan.tile_size and bigger.forward_bytes <= bigger.budget_bytes


def test_explicit_settings_win() -> None:
    plan = plan_tiles(10_768, 1024 * MB, 16, tile_size=128)
    assert plan.tile_size == 128
    assert plan.batch == (1024 * MB) // (160 * 160 * 10_768)  # as many as the budget holds
    assert plan_tiles(10_768, 1024 * MB, 16, tile_size=128, batch=2).batch == 2
    assert plan_tiles(10_768, 1024 * MB, 16, batch=3).batch == 3


def test_limits() -> None:
    tiny = plan_tiles(10_768, 1 * MB, 16)
    assert (tiny.tile_size, tiny.batch) == (MIN_TILE, 1)  # slow, never wrong
    huge = plan_tiles(1_000, 1 << 40, 16)
    assert huge.extent == MAX_AUTO_EXTENT and huge.batch == MAX_AUTO_BATCH
    with pytest.raises(ValueError):
        plan_tiles(0, MB, 16)
    with pytest.raises(ValueError):
        plan_tiles(10, MB, 16, batch=0)


def test_cpu_bf16_keeps_tiles_small_and_single() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert auto_limits(cpu, torch.bfloat16) == (CPU_BF16_MAX_EXTENT, 1)
    # Each oneDNN bf16 path has its own entry (only AMX measured so far: all 256 x 1).
    for path in ("amx", "avx512_bf16", "avx2_vnni_2", None):
        assert auto_limits(cpu, torch.bfloat16, path) == CPU_BF16_LIMITS[path]
    assert auto_limits(cpu, torch.float32, "amx") == (MAX_AUTO_EXTENT, MAX_AUTO_BATCH)
    assert auto_limits(cpu, torch.float32) == auto_limits(cuda, torch.bfloat16)
    assert auto_limits(cuda, torch.float16) == (MAX_AUTO_EXTENT, MAX_AUTO_BATCH)
    capped = plan_tiles(5_533, 1024 * MB, 16, max_extent=256, max_batch=1)
    assert (capped.extent, capped.batch) == (256, 1)  # the budget alone would give 432 x 1
    explicit = plan_tiles(5_533, 1024 * MB, 16, tile_size=400, batch=2, max_extent=256)
    assert (explicit.tile_size, explicit.batch) == (400, 2)  # settings still win


def test_default_budget_cpu_and_faked_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_budget_bytes(torch.device("cpu")) == 1024 * MB
    # No GPU here: fake what CUDA reports to check the CUDA branch's arithmetic.
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (30 << 30, 80 << 30))
    assert default_budget_bytes(torch.device("cuda")) == 15 << 30
