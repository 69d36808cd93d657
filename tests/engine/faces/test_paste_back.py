"""Align → restore → paste back onto an upscaled image: geometry, colour, edges, fidelity.

The upscaled image here is ``cv2.resize(INTER_LINEAR)`` of the photo, so an identity
restorer's faces should land back on it almost exactly. Measured round-trip error in the
changed pixels (mean / 99th percentile / max, 0..255 levels; astronaut and group photo):
x2: 0.40-0.75 / 1-3 / 1-9; x3.5: 0.53-0.54 / 2 / 11-20; x4: 0.48-0.49 / 1-2 / 5-11.
At x1 the same round trip blurs (two resamplings at the photo's own resolution): mean
3.2-3.6, max 54-115. facexlib's half-pixel paste offset measured 2.0-3.5 mean at x2/x4.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.engine.faces.conftest import CountingRestorer
from tests.engine.faces.photos import astronaut, group_photo
from worker.faces import FaceEnhancer
from worker.faces.blend import face_mask, paste_face
from worker.faces.geometry import face_affine, pixel_scale_map

PHOTOS = {"astronaut": astronaut, "group": group_photo}


def _upscaled(image: np.ndarray, scale: float) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)


def _changed(out: np.ndarray, up: np.ndarray) -> np.ndarray:
    return np.abs(out.astype(int) - up.astype(int))


@pytest.mark.parametrize("scale", [2.0, 3.5, 4.0])
@pytest.mark.parametrize("photo", sorted(PHOTOS))
def test_identity_round_trip_lands_on_the_upscaled_image(
    detector, identity_restorer, photo: str, scale: float
) -> None:
    image = PHOTOS[photo]()
    up = _upscaled(image, scale)
    out, report = FaceEnhancer(detector, identity_restorer).enhance(image, up, fidelity=0.0)
    assert report.restored == report.found == {"astronaut": 1, "group": 5}[photo]
    diff = _changed(out, up)
    touched = diff.any(axis=2)
    assert touched.sum() > 1000 * scale  # the faces really went through the paste
    assert diff[touched].mean() <= 1.0
    assert np.percentile(diff[touched], 99) <= 4


def test_identity_round_trip_at_scale_one_only_blurs(detector, identity_restorer) -> None:
    image = astronaut()
    out, _ = FaceEnhancer(detector, identity_restorer).enhance(image, image, fidelity=0.0)
    diff = _changed(out, image)
    assert diff[diff.any(axis=2)].mean() <= 4.5


def _cast_and_texture(crop: np.ndarray) -> np.ndarray:
    """A restorer that shifts colours (as GFPGAN does) and adds fine detail."""
    yy, xx = np.mgrid[0:512, 0:512]
    texture = 20.0 * np.sign(np.sin(xx * np.pi / 4) * np.sin(yy * np.pi / 4))
    return crop.astype(np.float32) + texture[:, :, None] + np.array([40.0, 0.0, -30.0])


def _face_core(report_box: tuple[float, float, float, float], scale: float) -> tuple[slice, ...]:
    x1, y1, x2, y2 = (v * scale for v in report_box)
    cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 5
    return slice(int(cy - half), int(cy + half)), slice(int(cx - half), int(cx + half))


def test_restorer_colour_cast_is_removed_and_detail_kept(detector) -> None:
    image, scale = astronaut(), 4.0
    up = _upscaled(image, scale)
    restorer = CountingRestorer("cast", _cast_and_texture)
    out, _ = FaceEnhancer(detector, restorer).enhance(image, up, fidelity=0.0)
    core = _face_core(detector.detect(image)[0].box, scale)
    shift = out[core].astype(float).mean(axis=(0, 1)) - up[core].astype(float).mean(axis=(0, 1))
    assert np.abs(shift).max() < 3.0, shift  # the restorer's +40 red / -30 blue is gone
    assert (out[core].astype(float) - up[core]).std() > 8.0  # its texture is not


def test_fidelity_one_leaves_the_upscaled_image_bit_for_bit(detector) -> None:
    image = group_photo()
    up = _upscaled(image, 2.0)
    restorer = CountingRestorer("cast", _cast_and_texture)
    out, report = FaceEnhancer(detector, restorer).enhance(image, up, fidelity=1.0)
    assert report.restored == 5 and restorer.calls == 5
    assert np.array_equal(out, up)


def test_fidelity_weighs_restored_against_upscaled(detector) -> None:
    image, scale = astronaut(), 2.0
    up = _upscaled(image, scale)
    enhancer = FaceEnhancer(detector, CountingRestorer("cast", _cast_and_texture))
    full, _ = enhancer.enhance(image, up, fidelity=0.0)
    half, _ = enhancer.enhance(image, up, fidelity=0.5)
    core = _face_core(detector.detect(image)[0].box, scale)
    expected = up[core] + 0.5 * (full[core].astype(float) - up[core])
    assert np.abs(half[core] - expected).max() <= 1.0  # rounding of the two results


def test_the_mask_has_no_edge_and_stays_inside_the_crop() -> None:
    mask = face_mask()
    assert mask.max() == 1.0
    assert mask[:24].max() == mask[-24:].max() == mask[:, :24].max() == mask[:, -24:].max() == 0
    steepest = max(np.abs(np.diff(mask, axis=0)).max(), np.abs(np.diff(mask, axis=1)).max())
    assert steepest < 0.025  # smoothstep over ~65 px: no seam


def test_pasted_edge_is_soft_in_the_output(detector) -> None:
    """A flat white face pasted on black shows the paste weight itself, in output pixels."""
    image, scale = astronaut(), 2.0
    to_crop = face_affine(detector.detect(image)[0].landmarks)
    to_canvas = pixel_scale_map(scale, scale) @ np.linalg.inv(np.vstack([to_crop, [0, 0, 1]]))
    canvas = np.zeros((1024, 1024, 3), dtype=np.uint8)
    white = np.full((512, 512, 3), 255.0, dtype=np.float32)
    assert paste_face(canvas, white, face_mask(), to_canvas[:2], fidelity=0.0)
    grey = canvas[:, :, 0].astype(int)
    assert grey.max() == 255 and grey.sum() > 255 * 20_000
    steepest = max(np.abs(np.diff(grey, axis=0)).max(), np.abs(np.diff(grey, axis=1)).max())
    assert steepest <= 16  # a square paste's edge would jump by up to 255
