"""The face stage of a job: detect on the input, restore each face, paste onto the upscaled image.

GFPGAN's ``GFPGANer.enhance`` flow (facexlib's FaceRestoreHelper): RetinaFace on the input →
5-point similarity onto the FFHQ 512 template → restorer → inverse map → soft paste onto the
background, here the image the upscaler already produced at any scale. The differences from
that helper are explained in ``geometry`` and ``blend``; this module orders the work, bounds
it and reports it.

Bounds: at most ``max_faces`` faces (default 16), the largest first, so a crowd costs at most
16 restorer passes; every intermediate image is one face's footprint, never a full canvas;
the only full-size allocation is the output copy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from worker.engine.upscaler import UpscaleCancelled
from worker.faces.blend import face_mask, keep_colours, paste_face
from worker.faces.detector import FaceDetector, load_face_detector
from worker.faces.geometry import face_affine, pixel_scale_map, warp_region
from worker.faces.restorer import RestorerInfo, find_face_restorer

__all__ = [
    "DEFAULT_MAX_FACES",
    "FaceEnhancer",
    "FaceReport",
    "FaceRestorer",
    "load_face_enhancer",
]

#: Faces restored per image at most; the rest are counted in the report, left as upscaled.
DEFAULT_MAX_FACES = 16
#: GFPGANer skips faces whose eyes are under 5 input pixels apart (side views, specks).
MIN_EYE_DISTANCE = 5.0
#: Share of the stage's progress that detection stands for.
_DETECT_SHARE = 0.1
#: facexlib's crop padding (135, 133, 132) in BGR, here in RGB.
_PAD_RGB = (132.0, 133.0, 135.0)


class FaceRestorer(Protocol):
    """Restores one aligned face: uint8 RGB ``face_size`` square in, float32 RGB 0..255 out."""

    face_size: int
    info: RestorerInfo

    def restore(self, crop: np.ndarray) -> np.ndarray: ...


@dataclass
class FaceReport:
    """What the face stage did, for the job report."""

    found: int = 0  #: faces the detector returned
    restored: int = 0  #: faces restored and pasted
    skipped_over_cap: int = 0  #: faces beyond ``max_faces``, left as upscaled
    skipped_small: int = 0  #: faces with eyes under ``MIN_EYE_DISTANCE`` px apart
    skipped_unaligned: int = 0  #: faces whose landmarks fit no similarity transform
    max_faces: int = DEFAULT_MAX_FACES
    fidelity: float = 0.0
    restorer: str = ""
    restorer_sha256: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)


class FaceEnhancer:
    """Detector + restorer + the paste-back rules. Pure: arrays in, arrays out."""

    def __init__(
        self,
        detector: FaceDetector,
        restorer: FaceRestorer,
        *,
        max_faces: int = DEFAULT_MAX_FACES,
        min_eye_distance: float = MIN_EYE_DISTANCE,
    ) -> None:
        """``max_faces`` >= 0 caps the faces restored per image (largest faces first)."""
        if max_faces < 0:
            raise ValueError("max_faces must be >= 0")
        self.detector, self.restorer = detector, restorer
        self.max_faces, self.min_eye_distance = max_faces, min_eye_distance
        self._mask = face_mask(restorer.face_size)

    def enhance(
        self,
        original_rgb: np.ndarray,
        upscaled_rgb: np.ndarray,
        *,
        fidelity: float,
        progress: Callable[[float], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> tuple[np.ndarray, FaceReport]:
        """Restore the faces of ``original_rgb`` into a copy of ``upscaled_rgb``.

        Both are HxWx3 uint8 RGB; the upscaled image may have any size (its scale per axis is
        read from the two shapes). ``fidelity`` in [0, 1]: 0 pastes the restored faces fully,
        1 leaves the upscaled pixels exactly as they are. ``progress`` gets 0..1 over the
        stage; ``should_stop()`` is asked before detection and before each face, and raises
        ``UpscaleCancelled`` (the engine's cancellation) when it answers True.
        """
        for name, image in (("original_rgb", original_rgb), ("upscaled_rgb", upscaled_rgb)):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"{name} must be an HxWx3 uint8 RGB image")
        if not 0.0 <= fidelity <= 1.0:
            raise ValueError("fidelity must be within [0, 1]")
        started = time.perf_counter()
        report = FaceReport(
            max_faces=self.max_faces,
            fidelity=fidelity,
            restorer=self.restorer.info.architecture,
            restorer_sha256=self.restorer.info.sha256,
        )

        def step(fraction: float) -> None:
            if progress is not None:
                progress(min(max(fraction, 0.0), 1.0))

        def check() -> None:
            if should_stop is not None and should_stop():
                raise UpscaleCancelled("face enhancement cancelled")

        step(0.0)
        check()
        faces = self.detector.detect(original_rgb)
        report.found = len(faces)
        usable = [f for f in faces if f.eye_distance >= self.min_eye_distance]
        report.skipped_small = len(faces) - len(usable)
        usable.sort(key=lambda f: f.area, reverse=True)
        chosen = usable[: self.max_faces]
        report.skipped_over_cap = len(usable) - len(chosen)
        step(_DETECT_SHARE)

        canvas = upscaled_rgb.copy()
        height, width = original_rgb.shape[:2]
        to_upscaled = pixel_scale_map(canvas.shape[1] / width, canvas.shape[0] / height)
        inside = np.ones((height, width), dtype=np.float32)
        size = self.restorer.face_size
        for index, face in enumerate(chosen):
            check()
            try:
                to_crop = face_affine(face.landmarks, size)
            except ValueError:  # degenerate landmarks: leave the face as upscaled
                report.skipped_unaligned += 1
                continue
            box = (0, 0, size, size)
            crop = warp_region(original_rgb, to_crop, box, border_value=_PAD_RGB)
            valid = warp_region(inside, to_crop, box)
            restored = keep_colours(self.restorer.restore(crop), crop, valid)
            to_canvas = to_upscaled @ np.vstack([_invert(to_crop), [0.0, 0.0, 1.0]])
            if paste_face(canvas, restored, self._mask, to_canvas, fidelity):
                report.restored += 1
            step(_DETECT_SHARE + (1.0 - _DETECT_SHARE) * (index + 1) / len(chosen))
        step(1.0)
        report.seconds = round(time.perf_counter() - started, 3)
        return canvas, report


def _invert(affine: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine map."""
    full = np.vstack([affine, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def load_face_enhancer(
    model_dir: Path | str | None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    *,
    max_faces: int = DEFAULT_MAX_FACES,
) -> tuple[FaceEnhancer | None, str]:
    """The face enhancer for ``<model_dir>/faces``, or ``None`` and why face enhancement is off.

    Loads the restorer first and the detector only when a restorer exists; raises nothing
    for a missing or bad restorer (the reason says what to fix), so the caller can report
    availability instead of failing to start.
    """
    restorer, reason = find_face_restorer(model_dir, device, dtype)
    if restorer is None:
        return None, reason
    return FaceEnhancer(load_face_detector(device), restorer, max_faces=max_faces), reason
