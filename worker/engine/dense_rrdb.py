"""RRDBNet with concatenation-free dense blocks: one feature buffer, read and written in slices.

BasicSR's ``ResidualDenseBlock`` concatenates its growing features before each convolution
(``cat(x, x1)``, ``cat(x, x1, x2)``, ...), copying 96 + 128 + 160 + 192 channels per block,
69 blocks per x4plus pass. Here each block owns nothing: the trunk allocates one buffer of
``num_feat + 4 * num_grow_ch`` channels per forward pass; channels [0, F) hold the block's
input, each of conv1..conv4 reads the prefix written so far as a channel slice and its
output is written into the next ``num_grow_ch`` channels, and conv5 reads the whole buffer.
The block's residual (``x5 * 0.2 + x``) is added in place into channels [0, F), which makes
it the next block's input without a copy. The RRDB residual keeps one 64-channel copy per
three blocks. On the CPU each of conv1..conv4 also runs with its LeakyReLU fused (oneDNN's
``mkldnn::_convolution_pointwise``, the op Inductor emits for conv + activation).

Where the copies really disappear depends on the memory format: in NCHW with one image per
pass a channel prefix is contiguous, so convolutions read it in place; in channels_last
(the engine's default, much faster with oneDNN) a prefix is strided and PyTorch's oneDNN
binding makes it contiguous first, a copy of the same size as the concatenation it replaces.
Measured on a 2-core AVX2 EPYC (docs/performance.md): equal to BasicSR's output within
float reassociation and through the quality gate, but not faster when the machine was
quiet (1.05x BasicSR's time in channels_last, 1.22x in NCHW; it looked 0.63x under heavy
load from other processes, a contention artefact). So the worker does not use it; it stays
for ``bench/engine.py`` (``engine:<precision>:dense``) and a measurement on a GPU.

The parameter names are BasicSR's (``conv_first``, ``body.N.rdbK.convJ``, ...), so the same
state dicts load strictly; ``from_basicsr`` converts a loaded ``RRDBNet``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from worker.engine.budget import architecture_int

__all__ = ["DenseBufferRRDBNet"]

_SLOPE = 0.2  # LeakyReLU's negative slope and both residual scales, as in ESRGAN


class _DenseBlock(nn.Module):
    """The five convolutions of a BasicSR ``ResidualDenseBlock`` (names kept)."""

    def __init__(self, feat: int, grow: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(feat, grow, 3, 1, 1)
        self.conv2 = nn.Conv2d(feat + grow, grow, 3, 1, 1)
        self.conv3 = nn.Conv2d(feat + 2 * grow, grow, 3, 1, 1)
        self.conv4 = nn.Conv2d(feat + 3 * grow, grow, 3, 1, 1)
        self.conv5 = nn.Conv2d(feat + 4 * grow, feat, 3, 1, 1)

    def run(self, buf: torch.Tensor, feat: int, grow: int) -> None:
        """Apply the block to ``buf[:, :feat]`` in place (the buffer holds its dense features)."""
        end = feat
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            buf[:, end : end + grow] = _conv_lrelu(buf[:, :end], conv)
            end += grow
        # x <- x + 0.2 * conv5(all features): conv5 has read the buffer before it changes.
        buf[:, :feat].add_(self.conv5(buf), alpha=_SLOPE)


class _RRDB(nn.Module):
    """Three dense blocks and the outer residual (BasicSR ``RRDB``; names kept)."""

    def __init__(self, feat: int, grow: int) -> None:
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (_DenseBlock(feat, grow) for _ in range(3))

    def run(self, buf: torch.Tensor, feat: int, grow: int) -> None:
        """Apply the RRDB to ``buf[:, :feat]`` in place."""
        x0 = buf[:, :feat].clone()
        for block in (self.rdb1, self.rdb2, self.rdb3):
            block.run(buf, feat, grow)
        buf[:, :feat].mul_(_SLOPE).add_(x0)


def _conv_lrelu(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """LeakyReLU(conv(x)): fused by oneDNN on the CPU, two steps elsewhere.

    The fused op has no bf16 kernels where oneDNN has none (AVX2 without AVX-NE-CONVERT);
    there the unfused ops emulate bf16 as PyTorch's convolutions do.
    """
    fused_ok = x.dtype != torch.bfloat16 or torch.ops.mkldnn._is_mkldnn_bf16_supported()
    if x.device.type == "cpu" and torch.backends.mkldnn.is_available() and fused_ok:
        one = [1, 1]
        return torch.ops.mkldnn._convolution_pointwise(
            x, conv.weight, conv.bias, one, one, one, 1, "leaky_relu", [_SLOPE], ""
        )
    return F.leaky_relu(conv(x), _SLOPE, inplace=True)


class DenseBufferRRDBNet(nn.Module):
    """BasicSR's ``RRDBNet`` (same arguments, parameters and output), concat-free trunk."""

    def __init__(
        self,
        num_in_ch: int,
        num_out_ch: int,
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
    ) -> None:
        super().__init__()
        self.scale, self.num_feat, self.num_grow_ch = scale, num_feat, num_grow_ch
        unshuffle = {2: 4, 1: 16}.get(scale, 1)
        self.conv_first = nn.Conv2d(num_in_ch * unshuffle, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(_RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    @classmethod
    def from_basicsr(cls, net: nn.Module) -> DenseBufferRRDBNet:
        """The same network as a loaded BasicSR ``RRDBNet`` (weights copied, eval mode)."""
        scale = architecture_int(net, "scale")
        feat = architecture_int(net, "conv_first.out_channels")
        grow = architecture_int(net, "body.0.rdb1.conv1.out_channels")
        in_ch = architecture_int(net, "conv_first.in_channels") // {2: 4, 1: 16}.get(scale, 1)
        out_ch = architecture_int(net, "conv_last.out_channels")
        blocks = sum(1 for _ in net.get_submodule("body").children())
        dense = cls(in_ch, out_ch, scale, feat, blocks, grow)
        dense.load_state_dict(net.state_dict(), strict=True)
        first = next(net.parameters())
        return dense.to(device=first.device, dtype=first.dtype).eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, out, H*s, W*s), as ``RRDBNet.forward``."""
        if self.scale in (1, 2):
            x = F.pixel_unshuffle(x, 4 if self.scale == 1 else 2)
        feat = self.conv_first(x)
        n, _, h, w = feat.shape
        channels = self.num_feat + 4 * self.num_grow_ch
        # One buffer per pass, in the input's memory format (see the module docstring).
        fmt = (
            torch.channels_last
            if feat.is_contiguous(memory_format=torch.channels_last) and n * h * w > 1
            else torch.contiguous_format
        )
        buf = torch.empty(
            (n, channels, h, w), dtype=feat.dtype, device=feat.device, memory_format=fmt
        )
        buf[:, : self.num_feat] = feat
        for rrdb in self.body:
            assert isinstance(rrdb, _RRDB)
            rrdb.run(buf, self.num_feat, self.num_grow_ch)
        feat = feat + self.conv_body(buf[:, : self.num_feat])
        feat = _conv_lrelu(F.interpolate(feat, scale_factor=2, mode="nearest"), self.conv_up1)
        feat = _conv_lrelu(F.interpolate(feat, scale_factor=2, mode="nearest"), self.conv_up2)
        return self.conv_last(_conv_lrelu(feat, self.conv_hr))
