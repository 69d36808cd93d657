"""Operator models by file name: one naming rule for the worker (which loads them) and the
gateway (which only offers their names, without torch and without reading the files).

An operator drops official BasicSR checkpoints into the model directory, named
``<name>-x<scale>.pth`` or ``<name>-x<scale>.safetensors`` (e.g. ``realesr-general-x4v3-x4.pth``).
The worker loads and verifies every such file at start-up and refuses to start on a bad one;
the gateway reads the same directory's names and refuses to start on a misnamed model file
too, so the two never disagree about what a name means.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = [
    "MODEL_SUFFIXES",
    "OperatorModelError",
    "operator_model_files",
    "parse_model_filename",
    "scan_operator_models",
]

#: File endings that make a file in the model directory a model.
MODEL_SUFFIXES = (".pth", ".safetensors")
_NAME = re.compile(r"(?P<name>[a-z0-9][a-z0-9._-]{0,62}?)-x(?P<scale>[1-8])")


class OperatorModelError(Exception):
    """An operator model file is misnamed, unreadable or not a supported checkpoint."""


def parse_model_filename(filename: str) -> tuple[str, int] | None:
    """Return (name, scale) for a model file name, ``None`` for a file that is not a model.

    Hidden files (``.name``) and other endings are not models. Raises ``ValueError`` for a
    model file (``.pth``/``.safetensors``) whose name does not follow ``<name>-x<scale>``:
    lower-case letters, digits, ``.``, ``_``, ``-``; scale 1-8.
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


def operator_model_files(model_dir: str | Path) -> list[tuple[Path, str, int]]:
    """Every model file in ``model_dir`` as (path, name, scale), sorted by file name.

    Raises ``OperatorModelError`` when the directory does not exist, when a model file is
    misnamed, and when two files claim the same name and scale (``a-x4.pth`` and
    ``a-x4.safetensors``): an operator's mistake is reported at start-up, never mid-job.
    """
    directory = Path(model_dir)
    if not directory.is_dir():
        raise OperatorModelError(f"model directory {directory} is not a directory")
    found: list[tuple[Path, str, int]] = []
    seen: dict[tuple[str, int], Path] = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        try:
            parsed = parse_model_filename(path.name)
        except ValueError as exc:
            raise OperatorModelError(f"{path}: {exc}") from exc
        if parsed is None:
            continue
        if parsed in seen:
            raise OperatorModelError(
                f"{path}: {parsed[0]} x{parsed[1]} is also {seen[parsed].name}; keep one"
            )
        seen[parsed] = path
        found.append((path, *parsed))
    return found


def scan_operator_models(model_dir: str | Path | None) -> dict[str, tuple[int, ...]]:
    """Map each operator model name in ``model_dir`` to its sorted scales (``{}`` when unset).

    Only file names are read (no torch, no file contents); errors as ``operator_model_files``.
    """
    if model_dir is None:
        return {}
    found: dict[str, set[int]] = {}
    for _, name, scale in operator_model_files(model_dir):
        found.setdefault(name, set()).add(scale)
    return {name: tuple(sorted(scales)) for name, scales in sorted(found.items())}


#: The face restorer's folder inside the model directory (one checkpoint: GFPGAN v1.2-v1.4).
FACE_MODEL_SUBDIR = "faces"


def face_restorer_file(model_dir: str | Path | None) -> tuple[Path | None, str]:
    """The face restorer checkpoint in ``<model_dir>/faces``, or None and why there is none.

    Only names are looked at, so the gateway (no torch) and the worker (which then loads the
    file) agree on whether face enhancement is offered. Several checkpoints are refused (which
    one was meant is the operator's to say), as is an empty or missing folder.
    """
    if model_dir is None:
        return None, "no model directory is configured (MODEL_DIR)"
    folder = Path(model_dir) / FACE_MODEL_SUBDIR
    if not folder.is_dir():
        return None, f"no face model folder {folder}"
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in MODEL_SUFFIXES and not p.name.startswith(".")
    )
    if not files:
        return None, f"no face restorer checkpoint (.pth/.safetensors) in {folder}"
    if len(files) > 1:
        names = ", ".join(p.name for p in files)
        return None, f"several face checkpoints in {folder} ({names}): keep one"
    return files[0], f"face restorer {files[0].name}"
