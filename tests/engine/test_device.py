"""Device and precision selection."""

from __future__ import annotations

import pytest
import torch

from worker.engine import device as device_module
from worker.engine import precision_for, select_device
from worker.engine.precision import CpuPrecision


def test_select_device() -> None:
    assert select_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device().type == expected
    with pytest.raises(ValueError):
        select_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_demanding_cuda_without_it_fails_early() -> None:
    with pytest.raises(RuntimeError):
        select_device("cuda")


@pytest.mark.parametrize("bf16_wins", [True, False])
def test_precision_for(monkeypatch: pytest.MonkeyPatch, bf16_wins: bool) -> None:
    choice = CpuPrecision(torch.bfloat16 if bf16_wins else torch.float32, "amx", None, "test")
    monkeypatch.setattr(device_module, "cpu_precision", lambda: choice)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    # The CPU: "auto" follows the flags-and-probe decision; asked for, always; fp16 never.
    assert precision_for(cpu) == (torch.bfloat16 if bf16_wins else torch.float32)
    assert precision_for(cpu, "bf16") == torch.bfloat16
    assert precision_for(cpu, "fp16") == precision_for(cpu, "fp32") == torch.float32
    assert precision_for(cuda) == torch.float16
    assert precision_for(cuda, "bf16") == torch.bfloat16
    assert precision_for(cuda, "fp32") == torch.float32
    with pytest.raises(ValueError):
        precision_for(cuda, "int4")
