"""WORKER_PRECISION=auto on the CPU: the CPU flags name oneDNN's bf16 path, a probe confirms it."""

from __future__ import annotations

import pytest
import torch

from worker.engine.precision import (
    BF16_MIN_SPEEDUP,
    GATED_BF16_PATHS,
    ProbeResult,
    bf16_path_from_flags,
    cpu_flags,
    decide_cpu_precision,
    probe_bf16,
)

# Flag sets as /proc/cpuinfo prints them (abridged) on the CPUs named.
SAPPHIRE_RAPIDS = {"avx2", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "amx_bf16", "amx_tile"}
ZEN4 = {"avx2", "avx512f", "avx512bw", "avx512vl", "avx512_bf16"}
ARROW_LAKE = {"avx2", "avx_vnni", "avx_ne_convert"}
ZEN3 = {"avx2", "fma"}  # this development machine's kind: no bf16 path


@pytest.mark.parametrize(
    ("flags", "path"),
    [
        (SAPPHIRE_RAPIDS, "amx"),
        (ZEN4, "avx512_bf16"),
        (ARROW_LAKE, "avx2_vnni_2"),
        (ZEN3, None),
        ({"amx_tile", "avx2"}, None),  # a tile unit without its bf16 instructions
        ({"avx512_bf16"}, None),  # bf16 dot products without the AVX-512 they extend
    ],
)
def test_flags_name_the_onednn_bf16_path(flags: set[str], path: str | None) -> None:
    assert bf16_path_from_flags(flags) == path


def _probe(ratio: float | None):
    calls: list[int] = []

    def probe() -> ProbeResult | None:
        calls.append(1)
        return None if ratio is None else ProbeResult(1.0, ratio, 5)

    return probe, calls


def test_bf16_where_a_gated_path_is_in_the_flags_and_the_probe_confirms() -> None:
    probe, calls = _probe(0.45)
    choice = decide_cpu_precision(SAPPHIRE_RAPIDS, probe)
    assert choice.dtype == torch.bfloat16 and choice.bf16_path == "amx" and calls == [1]
    assert choice.probe is not None and choice.probe.ratio == 0.45


@pytest.mark.parametrize(("flags", "path"), [(ZEN4, "avx512_bf16"), (ARROW_LAKE, "avx2_vnni_2")])
def test_fp32_where_bf16_did_not_pass_the_quality_gate(flags: set[str], path: str) -> None:
    """Faster is not enough: bf16 on Zen 4's AVX512-BF16 measured 0.56x fp32's time and moved
    NIQE by up to 0.11 (the gate allows 0.05); the probe is not even asked."""
    assert path not in GATED_BF16_PATHS
    probe, calls = _probe(0.45)
    choice = decide_cpu_precision(flags, probe)
    assert choice.dtype == torch.float32 and choice.bf16_path == path and calls == []
    assert "quality gate" in choice.reason


@pytest.mark.parametrize("ratio", [BF16_MIN_SPEEDUP + 0.01, 1.0, 3.0, None])
def test_fp32_when_the_probe_does_not_confirm(ratio: float | None) -> None:
    """A flag says the kernels exist, not that they win here (a masked or memory-bound CPU,
    or a probe that ran out of time)."""
    probe, calls = _probe(ratio)
    choice = decide_cpu_precision(SAPPHIRE_RAPIDS, probe)
    assert choice.dtype == torch.float32 and choice.bf16_path == "amx" and calls == [1]


def test_no_probe_without_a_bf16_path() -> None:
    probe, calls = _probe(0.1)  # even a probe that would say yes is not asked
    choice = decide_cpu_precision(ZEN3, probe)
    assert choice.dtype == torch.float32 and choice.bf16_path is None and calls == []


@pytest.mark.slow
def test_this_cpu_decides_from_its_real_flags_and_probe() -> None:
    """On this machine, for real: the probe stays within its budget and, where the flags
    offer no bf16 path (the AVX2 development machines), measures bf16 slower than fp32."""
    result = probe_bf16(budget_s=3.0)
    assert result is not None and result.fp32_s > 0 and result.bf16_s > 0
    flags = cpu_flags()
    choice = decide_cpu_precision(flags, lambda: result)
    print(f"flags path {bf16_path_from_flags(flags)}: bf16/fp32 {result.ratio:.2f} -> {choice}")
    if bf16_path_from_flags(flags) is None:
        assert choice.dtype == torch.float32
        assert result.ratio > 1.0  # emulated bf16 loses: the probe would say fp32 as well
