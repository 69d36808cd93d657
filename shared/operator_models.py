"""Operator models by file name alone: what the gateway may offer, without torch or the worker.

An operator drops official BasicSR checkpoints into the model directory, named
``<name>-x<scale>.pth`` or ``<name>-x<scale>.safetensors`` (e.g. ``realesr-general-x4v3-x4.pth``).
The worker loads and verifies every such file at start-up and refuses to start on a bad one;
the gateway only needs the names and scales, which this module reads off the file names.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["MODEL_SUFFIXES", "parse_model_filename", "scan_operator_models"]

#: File endings that make a file in the model directory a model.
MODEL_SUFFIXES = (".pth", ".safetensors")
_NAME = re.compile(r"(?P<name>[a-z0-9][a-z0-9._-]{0,62}?)-x(?P<scale>[1-8])")


def parse_model_filename(filename: str) -> tuple[str, int] | None:
    """Return (name, scale) for a model file name, ``None`` for a file that is not a model.

    Raises ``ValueError`` for a model file (``.pth``/``.safetensors``) whose name does not
    follow ``<name>-x<scale>``: lower-case letters, digits, ``.``, ``_``, ``-``; scale 1-8.
    """
    path = Path(filename)
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES or filename.startswith("."):
        return None
    match = _NAME.fullmatch(path.name[: -len(suffix)])
    if match is None:
        raise ValueError(
            f"model file {filename!r} must be named <name>-x<scale>{suffix} "
            "(name: lower-case letters, digits, '.', '_', '-'; scale: 1 to 8)"
        )
    return match["name"], int(match["scale"])


def scan_operator_models(model_dir: str | Path | None) -> dict[str, tuple[int, ...]]:
    """Map each operator model name in ``model_dir`` to its sorted scales.

    Only file names are read (no torch, no file contents). A missing or unset directory gives
    ``{}``; misnamed model files are skipped here (the worker refuses to start on them).
    """
    if model_dir is None or not Path(model_dir).is_dir():
        return {}
    found: dict[str, set[int]] = {}
    for entry in Path(model_dir).iterdir():
        if not entry.is_file():
            continue
        try:
            parsed = parse_model_filename(entry.name)
        except ValueError:
            continue
        if parsed is not None:
            found.setdefault(parsed[0], set()).add(parsed[1])
    return {name: tuple(sorted(scales)) for name, scales in sorted(found.items())}
