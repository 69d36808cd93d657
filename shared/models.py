"""The model catalogue as the gateway sees it: names and native scales, no torch.

The worker maps each (model, native scale) pair to a network in ``worker.engine.catalog``; a
test checks that the two agree. Clients may ask any scale from 1 to the gateway's cap for any
model: the worker runs the native scales and resizes (``worker.scaling``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace


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


def catalogue(operator: Mapping[str, Sequence[int]] | None = None) -> dict[str, ModelInfo]:
    """The built-in models plus operator ones (name -> native scales), as clients see them.

    An operator model with a new name becomes its own entry, its default scale the largest it
    runs; one that adds a scale to a built-in name (``realesrgan-x4plus-x2.pth``) extends that
    entry's scales and keeps its default.
    """
    models = dict(MODELS)
    for name, scales in sorted((operator or {}).items()):
        if not scales:
            continue
        known = models.get(name)
        if known is not None:
            merged = tuple(sorted({*known.scales, *scales}))
            models[name] = replace(known, scales=merged)
        else:
            ordered = tuple(sorted(set(scales)))
            scale_text = "/".join(f"x{s}" for s in ordered)
            models[name] = ModelInfo(name, ordered, ordered[-1], f"Operator model ({scale_text}).")
    return models
