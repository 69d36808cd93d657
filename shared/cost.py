"""What a job costs in model work, known before it is accepted (admission prices jobs by it).

The work of a network is counted analytically from its architecture (multiply-adds of its
convolutions per input pixel, times two for FLOP): for Real-ESRGAN x4plus this gives 35.9
MFLOP per input pixel, the figure measured with PyTorch's FLOP counter (``docs/performance``).
A job costs the sum over its passes (:mod:`shared.passes`) of the pass's input pixels times
the network's work per input pixel. Operator models are priced as x4plus, the costliest
built-in architecture, since the gateway reads only their names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.models import MODELS, BuiltinNetwork, ModelInfo
from shared.passes import pass_inputs, plan_passes


def flops_per_input_pixel(network: BuiltinNetwork) -> float:
    """FLOP of one forward pass per input pixel (2 x multiply-adds of its convolutions)."""
    return 2.0 * _macs(network.arch, network.arch_kwargs)


def _macs(arch: str, kw: Mapping[str, Any]) -> float:
    if arch == "srvgg":
        feat, convs, scale = kw["num_feat"], kw["num_conv"], kw["upscale"]
        last = feat * kw["num_out_ch"] * scale**2  # the conv before the pixel shuffle
        return 9 * (kw["num_in_ch"] * feat + convs * feat * feat + last)
    if arch == "rrdb":
        feat, grow, blocks = kw["num_feat"], kw["num_grow_ch"], kw["num_block"]
        # Each residual dense block: five 3x3 convs over the growing concatenation.
        rdb = sum((feat + i * grow) * grow for i in range(4)) + (feat + 4 * grow) * feat
        body = 3 * blocks * rdb + feat * feat  # three RDBs per RRDB, then conv_body
        # conv_up1 at 2x (4 px), conv_up2 and conv_hr at 4x (16 px), conv_last at 4x.
        upsample = feat * feat * (4 + 16 + 16) + feat * kw["num_out_ch"] * 16
        return 9 * (kw["num_in_ch"] * feat + body + upsample)
    raise ValueError(f"unknown architecture {arch!r}")


#: The price of a model whose architecture the gateway does not know (an operator's).
OPERATOR_FLOPS_PER_PIXEL = flops_per_input_pixel(MODELS["realesrgan-x4plus"].networks[4])


def job_gflop(model: ModelInfo, width: int, height: int, scale: int) -> float:
    """Model work of upscaling a ``width`` x ``height`` image ``scale`` times, in GFLOP."""
    scales = plan_passes(model.scales, scale)
    total = 0.0
    for native, (w, h) in zip(scales, pass_inputs(width, height, scales, scale), strict=True):
        network = model.networks.get(native)
        per_pixel = flops_per_input_pixel(network) if network else OPERATOR_FLOPS_PER_PIXEL
        total += w * h * per_pixel
    return total / 1e9
