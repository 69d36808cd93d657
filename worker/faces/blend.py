"""Putting a restored face back: colour kept, soft edge, fidelity weight.

What users of GFPGAN's paste-back report, and what is done here instead:

* **A visible square around the face.** Without its face-parsing net (a download here), the
  helper pastes the whole 512 crop behind a square mask eroded and blurred by ~1/20 of the
  face: hair, ears and background from the restorer end in a square seam. ``face_mask`` is
  an ellipse over the face in template space whose weight falls smoothly (smoothstep, no
  step in value or slope) to zero well inside the crop.
* **Colour shift.** GFPGAN/CodeFormer move skin tone, white balance and shading (faces come
  out pinker, flatter or differently lit than the neck). ``keep_colours`` gives the restored
  face the low frequencies (Gaussian, sigma 5 % of the crop) of the crop it was made from:
  detail from the restorer, colour and lighting from the photo ("wavelet colour fix" in
  StableSR/chaiNNer uses the same split).
* **Fidelity.** ``face_fidelity`` in [0, 1] weighs the original (upscaled) pixels against the
  restored face, as CodeFormer's ``fidelity_weight`` does (1 = faithful to the photo):
  the face weight is ``mask * (1 - fidelity)``. At 1 the output is the upscaled image, bit
  for bit; at 0 the face is fully the restorer's (inside the mask).
"""

from __future__ import annotations

import cv2
import numpy as np

from worker.faces.geometry import FACE_SIZE, footprint, warp_region

__all__ = ["face_mask", "keep_colours", "paste_face"]

#: Ellipse of the mask in 512-template pixels: centre and semi-axes. The template puts the
#: eyes at y=240 and the mouth at y=371; the ellipse covers brows to chin, ear to ear, and
#: reaches zero at least 24 px inside the crop's edges (where the crop may hold padding).
_CENTRE = (256.0, 264.0)
_SEMI_AXES = (216.0, 224.0)
#: Full weight inside this fraction of the ellipse radius, zero at 1.
_SOLID = 0.7
#: Gaussian sigma of the colour transfer, as a fraction of the crop side.
_COLOUR_SIGMA = 0.05


def face_mask(size: int = FACE_SIZE) -> np.ndarray:
    """float32 ``size``x``size`` weight, 1 on the face, falling smoothly to 0 at the ellipse."""
    k = size / 512.0
    coords = (np.arange(size, dtype=np.float32) + 0.5) / k - 0.5  # in 512-template pixels
    dx = (coords[None, :] - _CENTRE[0]) / _SEMI_AXES[0]
    dy = (coords[:, None] - _CENTRE[1]) / _SEMI_AXES[1]
    radius = np.sqrt(dx * dx + dy * dy)
    t = np.clip((1.0 - radius) / (1.0 - _SOLID), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def keep_colours(restored: np.ndarray, crop: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``restored`` (float32 0..255) with the low frequencies of ``crop`` (the restorer's input).

    ``valid`` (float32 0..1) marks crop pixels that came from the photo rather than padding;
    the crop's low frequencies are a normalised convolution over those pixels only.
    """
    sigma = _COLOUR_SIGMA * restored.shape[0]

    def blur(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)

    weight = blur(valid)[:, :, None]
    crop_low = blur(crop.astype(np.float32) * valid[:, :, None]) / np.maximum(weight, 1e-3)
    out = restored + (crop_low - blur(restored)) * (weight > 1e-3)
    return np.clip(out, 0.0, 255.0, out=out)


def paste_face(
    canvas: np.ndarray,
    face: np.ndarray,
    mask: np.ndarray,
    to_canvas: np.ndarray,
    fidelity: float,
) -> bool:
    """Blend ``face`` (float32 crop, 0..255) into ``canvas`` (uint8, in place).

    ``to_canvas`` maps crop pixels to canvas pixels (2x3). Only the face's footprint is
    touched. Returns False when the footprint misses the canvas.
    """
    if not 0.0 <= fidelity <= 1.0:
        raise ValueError("fidelity must be within [0, 1]")
    height, width = canvas.shape[:2]
    box = footprint(to_canvas, (face.shape[1], face.shape[0]), (width, height))
    if box is None:
        return False
    x0, y0, x1, y1 = box
    weight = warp_region(mask, to_canvas, box) * np.float32(1.0 - fidelity)
    if not weight.any():
        return True
    pixels = warp_region(face, to_canvas, box)
    region = canvas[y0:y1, x0:x1]
    base = region.astype(np.float32)
    mixed = base + (pixels - base) * weight[:, :, None]
    region[...] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return True
