"""The concat-free RRDB trunk computes BasicSR's RRDBNet from the same state dict."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from worker.engine import NETWORKS, NetworkSpec, build_network
from worker.engine.dense_rrdb import DenseBufferRRDBNet

Loader = Callable[[str, int], nn.Module]


def _tiny(scale: int) -> nn.Module:
    kwargs = {"num_in_ch": 3, "num_out_ch": 3, "scale": scale, "num_feat": 16, "num_block": 2}
    spec = NetworkSpec("tiny", "rrdb", scale, "", {**kwargs, "num_grow_ch": 8})
    torch.manual_seed(scale)
    return build_network(spec).eval().requires_grad_(False)


@pytest.mark.parametrize("scale", [4, 2, 1])
@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("batch", [1, 3])
def test_equals_basicsr_on_random_weights(scale: int, fmt: torch.memory_format, batch: int) -> None:
    basicsr = _tiny(scale)
    dense = DenseBufferRRDBNet.from_basicsr(basicsr)
    assert dense.state_dict().keys() == basicsr.state_dict().keys()
    x = torch.rand(batch, 3, 20, 28).contiguous(memory_format=fmt)
    with torch.inference_mode():
        want, got = basicsr(x), dense.to(memory_format=fmt)(x)
    assert got.shape == want.shape == (batch, 3, 20 * scale, 28 * scale)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-4), (got - want).abs().max()


def test_loads_an_rrdbnet_state_dict_strictly() -> None:
    basicsr = _tiny(4)
    dense = DenseBufferRRDBNet(3, 3, 4, num_feat=16, num_block=2, num_grow_ch=8)
    dense.load_state_dict(basicsr.state_dict(), strict=True)  # an official .pth loads too
    bigger = DenseBufferRRDBNet(3, 3, 4, num_feat=16, num_block=3, num_grow_ch=8)
    with pytest.raises(RuntimeError):
        bigger.load_state_dict(basicsr.state_dict(), strict=True)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_equals_basicsr_on_x4plus(network: Loader, dtype: torch.dtype) -> None:
    net = network("realesrgan-x4plus", 4)
    basicsr = build_network(NETWORKS[("realesrgan-x4plus", 4)])
    basicsr.load_state_dict(net.state_dict())
    basicsr = basicsr.eval().to(dtype=dtype).to(memory_format=torch.channels_last)
    dense = DenseBufferRRDBNet.from_basicsr(basicsr).to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0)).to(dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        diff = (dense(x).float() - basicsr(x).float()).abs()
    print(f"x4plus dense vs BasicSR {dtype}: max {diff.max():.2e}, mean {diff.mean():.2e}")
    # fp32: float reassociation only; bf16: rounding of the in-place residuals differs.
    assert diff.max() < (1e-4 if dtype == torch.float32 else 0.05)
