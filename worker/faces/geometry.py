"""Alignment geometry: the FFHQ 5-point template, affine fits, and area-aware warps.

Follows facexlib's ``FaceRestoreHelper`` (``align_warp_face``, ``get_inverse_affine``,
``paste_faces_to_input_image``) with three corrections, each a known source of artefacts:

* **Pixel centres.** The helper maps a face back with ``inverse_affine * upscale`` plus an
  ``extra_offset`` of ``0.5 * upscale``; with pixel centres at integers, an image scaled by
  ``s`` maps ``x`` to ``s * (x + 0.5) - 0.5``, an offset of ``0.5 * (s - 1)``. The helper's
  paste lands half an output pixel off; here the map is exact for any scale, also
  non-integer and different per axis.
* **Shrinking without aliasing.** ``cv2.warpAffine`` samples bilinearly with no pre-filter,
  so a face shrunk on the way (a 512 crop pasted into a 120-pixel footprint, or a big face
  cropped to 512) aliases into jagged edges and moire. ``warp_region`` shrinks the source
  with ``INTER_AREA`` first whenever the map shrinks below half.
* **Bounded memory.** The helper warps every face onto a full-size output canvas (three
  float images per face: 768 MB each at 64 megapixels). ``warp_region`` only produces the
  face's footprint, and cuts only the part of the source it needs.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "FACE_SIZE",
    "FFHQ_TEMPLATE_512",
    "face_affine",
    "footprint",
    "pixel_scale_map",
    "warp_region",
]

FACE_SIZE = 512
#: The standard 5 landmarks of FFHQ-aligned 512x512 faces (facexlib's FaceRestoreHelper,
#: ``face_template`` without ``template_3points``): eyes, nose tip, mouth corners.
FFHQ_TEMPLATE_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.1936],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ],
    dtype=np.float32,
)
#: Below this linear scale a warp pre-shrinks its source with INTER_AREA.
_AREA_BELOW = 0.5


def _as3x3(matrix: np.ndarray) -> np.ndarray:
    return np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]])


def _corners(width: float, height: float) -> np.ndarray:
    """Outer corners of a width x height pixel grid (centres at integers), homogeneous."""
    right, bottom = width - 0.5, height - 0.5
    return np.array([[-0.5, -0.5, 1], [right, -0.5, 1], [-0.5, bottom, 1], [right, bottom, 1]])


def face_affine(landmarks: np.ndarray, size: int = FACE_SIZE) -> np.ndarray:
    """2x3 similarity mapping image pixels onto the ``size`` template (facexlib's fit).

    ``cv2.estimateAffinePartial2D`` with LMEDS, as FaceRestoreHelper does (rotation, uniform
    scale and translation; robust to one bad landmark).
    """
    template = FFHQ_TEMPLATE_512 * (size / 512.0)
    matrix, _ = cv2.estimateAffinePartial2D(
        np.asarray(landmarks, dtype=np.float32), template, method=cv2.LMEDS
    )
    if matrix is None:
        raise ValueError("degenerate landmarks: no similarity transform fits them")
    return matrix.astype(np.float64)


def pixel_scale_map(scale_x: float, scale_y: float) -> np.ndarray:
    """2x3 map from an image's pixels to the same image resized by (scale_x, scale_y)."""
    return np.array([[scale_x, 0.0, 0.5 * (scale_x - 1.0)], [0.0, scale_y, 0.5 * (scale_y - 1.0)]])


def footprint(
    matrix: np.ndarray, src_size: tuple[int, int], dst_size: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """Integer box (x0, y0, x1, y1) of the destination pixels that ``matrix`` can reach from a
    source of ``src_size`` (w, h), clipped to ``dst_size`` (w, h); ``None`` when empty."""
    mapped = _corners(*src_size) @ np.asarray(matrix, dtype=np.float64).T
    x0 = max(0, int(np.floor(mapped[:, 0].min())))
    y0 = max(0, int(np.floor(mapped[:, 1].min())))
    x1 = min(dst_size[0], int(np.ceil(mapped[:, 0].max())) + 1)
    y1 = min(dst_size[1], int(np.ceil(mapped[:, 1].max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def warp_region(
    src: np.ndarray,
    matrix: np.ndarray,
    box: tuple[int, int, int, int],
    *,
    border_value: float | tuple[float, ...] = 0.0,
) -> np.ndarray:
    """The pixels of ``box`` (x0, y0, x1, y1) of the image that ``matrix`` (2x3, source to
    destination pixels) makes of ``src``; bilinear, area-averaged where it shrinks."""
    x0, y0, x1, y1 = box
    to_box = _as3x3(matrix)
    to_box[0, 2] -= x0
    to_box[1, 2] -= y0
    # Only the part of the source that lands in the box (plus a margin for the filters).
    back = np.linalg.inv(to_box)
    corners = _corners(x1 - x0, y1 - y0) @ back.T
    height, width = src.shape[:2]
    margin = 2 + int(np.ceil(1.0 / max(np.sqrt(abs(np.linalg.det(to_box[:2, :2]))), 1e-6)))
    sx0 = max(0, int(np.floor(corners[:, 0].min())) - margin)
    sy0 = max(0, int(np.floor(corners[:, 1].min())) - margin)
    sx1 = min(width, int(np.ceil(corners[:, 0].max())) + margin + 1)
    sy1 = min(height, int(np.ceil(corners[:, 1].max())) + margin + 1)
    size = (x1 - x0, y1 - y0)
    if sx1 <= sx0 or sy1 <= sy0:  # the box sees none of the source: all border
        shape = (size[1], size[0]) + src.shape[2:]
        return np.broadcast_to(np.asarray(border_value, dtype=src.dtype), shape).copy()
    part = src[sy0:sy1, sx0:sx1]
    to_box = to_box @ np.array([[1.0, 0, sx0], [0, 1.0, sy0], [0, 0, 1.0]])
    shrink = float(np.sqrt(abs(np.linalg.det(to_box[:2, :2]))))
    if shrink < _AREA_BELOW:
        ph, pw = part.shape[:2]
        small = (max(1, round(pw * shrink)), max(1, round(ph * shrink)))
        part = cv2.resize(part, small, interpolation=cv2.INTER_AREA)
        # Map from the shrunk part's pixels back to the part's: x = (x' + 0.5) * pw/w' - 0.5.
        fx, fy = pw / small[0], ph / small[1]
        to_box = to_box @ np.array([[fx, 0, 0.5 * (fx - 1)], [0, fy, 0.5 * (fy - 1)], [0, 0, 1.0]])
    border = border_value if isinstance(border_value, tuple) else (border_value,) * 4
    return cv2.warpAffine(
        part,
        to_box[:2],
        size,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border,
    )
