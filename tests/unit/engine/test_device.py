"""Device and precision selection."""

from __future__ import annotations

import pytest
import torch

from worker.engine import precision_for, select_device


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


def test_precision_for() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert {precision_for(cpu, r) for r in ("auto", "fp16", "bf16", "fp32")} == {torch.float32}
    assert precision_for(cuda) == torch.float16
    assert precision_for(cuda, "bf16") == torch.bfloat16
    assert precision_for(cuda, "fp32") == torch.float32
    with pytest.raises(ValueError):
        precision_for(cuda, "int4")
