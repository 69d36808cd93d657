"""Real photos for the face tests, from scikit-image's bundled data (no download).

``group_photo()`` composes one picture with several real faces of different sizes: the
astronaut (Eileen Collins) at three scales, one mirrored, and the cameraman, on a
background cut from ``coffee``. Deterministic: the same pixels every run.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage import data


def astronaut() -> np.ndarray:
    """scikit-image's ``astronaut``: 512x512 RGB, one frontal face."""
    return np.ascontiguousarray(data.astronaut())


def _resized(image: np.ndarray, side: int) -> np.ndarray:
    interpolation = cv2.INTER_AREA if side < image.shape[0] else cv2.INTER_CUBIC
    return cv2.resize(image, (side, side), interpolation=interpolation)


def group_photo() -> np.ndarray:
    """A 1280x720 RGB picture holding several real faces at different sizes."""
    canvas = cv2.resize(data.coffee(), (1280, 720), interpolation=cv2.INTER_CUBIC)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 6)  # a soft backdrop, like a room out of focus
    astro = astronaut()
    camera = np.repeat(data.camera()[:, :, None], 3, axis=2)
    placements = [
        (_resized(astro, 400), 20, 300),
        (_resized(astro[:, ::-1], 240), 460, 40),
        (_resized(astro, 150), 760, 60),
        (_resized(camera, 420), 820, 280),
        (_resized(astro[:, ::-1], 300), 480, 400),
    ]
    for picture, x, y in placements:
        h, w = picture.shape[:2]
        canvas[y : y + h, x : x + w] = picture
    return np.ascontiguousarray(canvas)


def crowd_photo(columns: int = 8, rows: int = 4) -> np.ndarray:
    """A grid of ``columns`` x ``rows`` real faces (the astronaut's head, sizes 100-160 px,
    every other one mirrored): more faces than the enhancer's cap."""
    head = astronaut()[20:230, 130:320]
    canvas = np.full((rows * 180, columns * 170, 3), 90, dtype=np.uint8)
    for index in range(columns * rows):
        side = 100 + 20 * (index % 4)
        tile = cv2.resize(
            head if index % 2 else head[:, ::-1], (side, side + 10), interpolation=cv2.INTER_AREA
        )
        y, x = (index // columns) * 180 + 5, (index % columns) * 170 + 5
        canvas[y : y + side + 10, x : x + side] = tile
    return np.ascontiguousarray(canvas)
