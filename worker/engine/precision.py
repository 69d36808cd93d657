"""Whether the CPU should run bf16: its oneDNN bf16 path from the CPU flags, then a timed probe.

oneDNN (PyTorch's CPU convolutions) has native bf16 convolution kernels on three x86 ISAs:
AMX (``amx_bf16`` + ``amx_tile``: Sapphire Rapids on), AVX512-BF16 (``avx512_bf16``: Cooper
Lake, Zen 4 on) and AVX2-VNNI-2 (``avx_ne_convert`` + ``avx_vnni``: Sierra Forest, Arrow
Lake). Elsewhere bf16 is emulated and slower than fp32. A flag says the kernels exist, not
that they win on this machine (a VM may mask the matrix unit, a small slice may be memory
bound), so where the flags allow bf16 a short probe times the same small convolution stack in
both precisions and bf16 is chosen only when it is clearly faster. The decision is a pure
function of (flags, probe result), tested on its own; the probe is bounded in time.

Faster is not enough: bf16 must also pass the quality gate (PSNR >= 45 dB against fp32 BasicSR
and NIQE within 0.05, tests/engine/test_quality_gate.py), and its outputs differ by path,
since each ISA rounds and accumulates in its own way. Only the paths in ``GATED_BF16_PATHS``
passed it; on the others ``auto`` keeps fp32 without probing (an explicit
``WORKER_PRECISION=bf16`` is still honoured).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "BF16_MIN_SPEEDUP",
    "GATED_BF16_PATHS",
    "PROBE_BUDGET_S",
    "CpuPrecision",
    "ProbeResult",
    "bf16_path_from_flags",
    "cpu_flags",
    "cpu_precision",
    "decide_cpu_precision",
    "probe_bf16",
]

#: bf16 is chosen only when its probe time is at most this share of fp32's (10% margin, so
#: that timing noise on a busy machine does not flip the choice for a wash).
BF16_MIN_SPEEDUP = 0.9
#: The probe's total time budget in seconds (both precisions, warm-up included).
PROBE_BUDGET_S = 1.5

#: The bf16 paths whose outputs passed the quality gate, where ``auto`` may pick bf16. AMX:
#: x4plus bf16 passed (ΔNIQE 0.020, docs/performance.md); the gate's bf16 cases run on any
#: AMX CPU to keep that true. Not avx512_bf16: on a Zen 4 EPYC (2026-11-28) PyTorch's bf16
#: moved NIQE by 0.067 (animevideov3) and 0.065 (x4plus), OpenVINO's by 0.112
#: (animevideov3), above 0.05 at 53-56 dB PSNR (outputs deterministic; 14 % of pixels one
#: level off). avx2_vnni_2: never gated (no such machine here).
GATED_BF16_PATHS = frozenset({"amx"})

# oneDNN's bf16 ISAs, best first, with the /proc/cpuinfo flags each one needs.
_BF16_PATHS: tuple[tuple[str, frozenset[str]], ...] = (
    ("amx", frozenset({"amx_bf16", "amx_tile"})),
    ("avx512_bf16", frozenset({"avx512_bf16", "avx512f", "avx512bw", "avx512vl"})),
    ("avx2_vnni_2", frozenset({"avx_ne_convert", "avx_vnni", "avx2"})),
)


@dataclass(frozen=True)
class ProbeResult:
    """Fastest time of the probe network in each precision (seconds), and runs made."""

    fp32_s: float
    bf16_s: float
    runs: int

    @property
    def ratio(self) -> float:
        """bf16 time / fp32 time (below 1: bf16 is faster)."""
        return self.bf16_s / self.fp32_s


@dataclass(frozen=True)
class CpuPrecision:
    """The CPU's compute dtype, the oneDNN bf16 path its flags offer, and why."""

    dtype: torch.dtype
    bf16_path: str | None
    probe: ProbeResult | None
    reason: str


def bf16_path_from_flags(flags: Iterable[str]) -> str | None:
    """The best oneDNN bf16 path the CPU ``flags`` offer ("amx", "avx512_bf16", ...) or None."""
    have = frozenset(flags)
    return next((name for name, need in _BF16_PATHS if need <= have), None)


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags: ``/proc/cpuinfo`` on Linux, else what torch can tell."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    # Not Linux: torch's own CPU probes (private API, hence the care), mapped to flag names.
    found = set()
    for flag, probe in (
        ("amx_tile", "_is_amx_tile_supported"),
        ("amx_bf16", "_is_amx_tile_supported"),
        ("avx512_bf16", "_is_avx512_bf16_supported"),
    ):
        check = getattr(torch.cpu, probe, None)
        try:
            if check is not None and check():
                found.add(flag)
        except (RuntimeError, OSError):
            pass
    if "avx512_bf16" in found:
        found |= {"avx512f", "avx512bw", "avx512vl"}
    return frozenset(found)


def decide_cpu_precision(
    flags: Iterable[str], probe: Callable[[], ProbeResult | None]
) -> CpuPrecision:
    """bf16 where the flags name a oneDNN bf16 path that passed the quality gate *and* the
    probe finds it clearly faster.

    ``probe`` runs only when that holds (it costs start-up time); it returns None when it
    could not finish within its budget, which counts as "not faster".
    """
    path = bf16_path_from_flags(flags)
    if path is None:
        return CpuPrecision(torch.float32, None, None, "no oneDNN bf16 path in the CPU flags")
    if path not in GATED_BF16_PATHS:
        return CpuPrecision(
            torch.float32, path, None, f"{path}: bf16 does not pass the quality gate on this path"
        )
    result = probe()
    if result is None:
        return CpuPrecision(torch.float32, path, None, f"{path}: bf16 probe ran out of time")
    if result.ratio <= BF16_MIN_SPEEDUP:
        return CpuPrecision(
            torch.bfloat16, path, result, f"{path}: bf16 took {result.ratio:.2f}x fp32's time"
        )
    return CpuPrecision(
        torch.float32, path, result, f"{path}: bf16 took {result.ratio:.2f}x fp32's time"
    )


def _probe_network() -> nn.Module:
    """Four 3x3 convolutions of 64 channels with LeakyReLU: the bulk of both catalogue nets.

    SRVGGNetCompact is exactly such a stack; RRDBNet's dense blocks are 3x3 convolutions of
    64-192 channels in, 32-64 out. Random weights: only the speed is measured.
    """
    gen = torch.Generator().manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(4):
        conv = nn.Conv2d(64, 64, 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * 0.05)
        layers += [conv, nn.LeakyReLU(0.2, inplace=True)]
    return nn.Sequential(*layers).eval().requires_grad_(False)


def probe_bf16(
    side: int = 48, budget_s: float = PROBE_BUDGET_S, max_runs: int = 5
) -> ProbeResult | None:
    """Time the probe network on a ``side``² input in fp32 and bf16 (channels_last, alternating).

    Each precision is warmed up once, then timed alternately until ``max_runs`` each or the
    ``budget_s`` is spent; the fastest run of each counts (the least disturbed by other load).
    Returns None when not even one timed run of each fitted in the budget.
    """
    deadline = time.perf_counter() + budget_s
    base = _probe_network()
    nets, inputs = {}, {}
    for dtype in (torch.float32, torch.bfloat16):
        net = _probe_network()
        net.load_state_dict(base.state_dict())
        nets[dtype] = net.to(dtype=dtype).to(memory_format=torch.channels_last)
        x = torch.rand((1, 64, side, side), generator=torch.Generator().manual_seed(1))
        inputs[dtype] = x.to(dtype).contiguous(memory_format=torch.channels_last)
    best = {dtype: float("inf") for dtype in nets}
    runs = 0
    with torch.inference_mode():
        for dtype, net in nets.items():  # warm-up: oneDNN builds its kernels on first use
            net(inputs[dtype])
            if time.perf_counter() > deadline:
                return None
        while runs < max_runs:
            for dtype, net in nets.items():
                start = time.perf_counter()
                net(inputs[dtype])
                best[dtype] = min(best[dtype], time.perf_counter() - start)
            runs += 1
            if time.perf_counter() > deadline:
                break
    return ProbeResult(best[torch.float32], best[torch.bfloat16], runs)


@functools.cache
def cpu_precision() -> CpuPrecision:
    """This CPU's decision for ``WORKER_PRECISION=auto``, made once per process."""
    return decide_cpu_precision(cpu_flags(), probe_bf16)
