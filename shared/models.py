"""The model catalogue as the gateway sees it: names and native scales, no torch.

The worker maps each (model, native scale) pair to a network in ``worker.engine.catalog``; a
test checks that the two agree. Clients may ask any scale from 1 to the gateway's cap for any
model: the worker runs the native scales and resizes (``worker.scaling``).
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
#: ``model=auto``: the worker picks the photo or the drawn-art model by looking at the image
#: (``worker.autoselect``); the job report names the one it ran.
AUTO_MODEL = "auto"
AUTO_PHOTO_MODEL, AUTO_DRAWN_MODEL = "realesrgan-x4plus", "realesrgan-x4plus-anime"

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
