"""The model catalogue as the gateway sees it: names and scales, no torch.

The worker maps each (model, scale) pair to a network in ``worker.engine.catalog``; a test
checks that the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInfo:
    """A model a client may ask for."""

    name: str
    scales: tuple[int, ...]
    default_scale: int
    description: str


DEFAULT_MODEL = "realesrgan-x4plus"

MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo("realesrgan-x4plus", (4,), 4, "Real-ESRGAN x4plus: photos (default)."),
        ModelInfo("realesrgan-x4plus-anime", (4,), 4, "Real-ESRGAN x4plus anime (6 blocks)."),
        ModelInfo(
            "realesr-animevideov3", (2, 3, 4), 4, "Real-ESRGAN AnimeVideo v3: fast, drawn art."
        ),
    )
}
