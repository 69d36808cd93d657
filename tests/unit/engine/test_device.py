"""Device and precision selection."""

from __future__ import annotations

import pytest
import torch

from worker.engine import precision_for, select_device
from worker.engine.device import cpu_has_bf16_matrix_unit


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


@pytest.mark.parametrize("amx", [True, False])
def test_precision_for(monkeypatch: pytest.MonkeyPatch, amx: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    # The CPU: bf16 by default only with a bf16 matrix unit; asked for, always; fp16 never.
    assert precision_for(cpu) == (torch.bfloat16 if amx else torch.float32)
    assert precision_for(cpu, "bf16") == torch.bfloat16
    assert precision_for(cpu, "fp16") == precision_for(cpu, "fp32") == torch.float32
    assert precision_for(cuda) == torch.float16
    assert precision_for(cuda, "bf16") == torch.bfloat16
    assert precision_for(cuda, "fp32") == torch.float32
    with pytest.raises(ValueError):
        precision_for(cuda, "int4")


def test_bf16_probe_survives_a_torch_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert cpu_has_bf16_matrix_unit() is False
    assert precision_for(torch.device("cpu")) == torch.float32
