"""A model provider for job tests: the real engine around a tiny network, no weights.

Job processing depends on :class:`worker.provider.ModelProvider`; this one serves every model
name and native scale of the real catalogue through the real :class:`worker.engine.Upscaler`
(tiles, blending, progress, stop checks between tiles), but its network is a fixed 3x3
convolution and a pixel shuffle: an upscale in milliseconds, so the tests of the job's life
need neither the Real-ESRGAN weights nor seconds of CPU per image. What the weights do is
tested with the engine (``tests/engine``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn

from shared.models import MODELS
from worker.engine import Upscaler


class TinyNetwork(nn.Module):
    """``scale``x enlargement: each output pixel is a smoothed copy of its input pixel."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(3, 3 * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        with torch.no_grad():
            weight = torch.zeros(3 * scale * scale, 3, 3, 3)
            smooth = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
            for out in range(3 * scale * scale):
                weight[out, out // (scale * scale)] = smooth
            self.conv.weight.copy_(weight)
            self.conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Enlarge a batch of RGB images in [0, 1]."""
        return self.shuffle(self.conv(x))


class TinyModels:
    """The catalogue's names and native scales, each served by a :class:`TinyNetwork`."""

    def __init__(self, *, tile_size: int = 16, tile_overlap: int = 4) -> None:
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        self._upscalers: dict[tuple[str, int], Upscaler] = {}

    def available(self) -> dict[str, tuple[int, ...]]:
        """Every built-in model name with its native scales."""
        return {name: info.scales for name, info in MODELS.items()}

    def native_scales(self, model: str) -> tuple[int, ...]:
        """The native scales of ``model`` (empty when unknown)."""
        return self.available().get(model, ())

    def get(self, model: str, scale: int) -> Upscaler:
        """The engine around a tiny network; KeyError for a model or scale not in the catalogue."""
        if scale not in self.native_scales(model):
            raise KeyError((model, scale))
        key = (model, scale)
        if key not in self._upscalers:
            self._upscalers[key] = Upscaler(
                TinyNetwork(scale),
                scale=scale,
                device=torch.device("cpu"),
                dtype=torch.float32,
                tile_size=self.tile_size,
                tile_overlap=self.tile_overlap,
            )
        return self._upscalers[key]

    def describe(self, model: str, scale: int) -> dict[str, Any]:
        """What "ran", in the report's shape."""
        return {
            "model": model,
            "scale": scale,
            "source": "builtin",
            "arch": "TinyNetwork",
            "file": "tiny-network",
            "sha256": hashlib.sha256(f"{model}-x{scale}".encode()).hexdigest(),
        }
