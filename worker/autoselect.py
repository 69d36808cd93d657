"""``model=auto``: photo model or anime model, by a cheap look at the decoded image.

Drawn art (anime, cartoons, flat illustrations) is made of flat areas of few colours bounded
by sharp outlines; photos are textured and noisy everywhere, and even their smooth areas
(sky, skin, bokeh) drift through many colours. The heuristic measures exactly that, on a
thumbnail of at most 256 px (box-averaged) after a 3x3 median filter that removes JPEG
ringing and noise:

- ``flat``: share of pixels whose largest channel difference to the right and lower
  neighbours is <= 4 (of 255);
- ``mid``: share with a difference in (4, 32], i.e. texture and soft gradients;
- ``edges``: share with a difference > 32, i.e. outlines;
- ``flat_colours``: how many colours (5 bits per channel) cover 90 % of the flat pixels.

The image is drawn art when ``flat >= 0.70``, ``mid <= 0.15``, ``edges >= 0.02`` and
``flat_colours <= 16``. Measured on scikit-image's samples (PNG and JPEG q75): astronaut,
coffee, chelsea, rocket, camera, coins, moon, brick, retina, grass, gravel, text, page come
out "photo"; the flat-colour cartoon of the tests "drawn" (also as JPEG q80, not at q50), as
do the binary blobs, horse silhouette, checkerboard and phantom. Near misses: the Hubble deep
field PNG (black sky and points) counts as drawn. It errs towards the photo model, which
handles drawn art acceptably, while the anime model paints photos over. Cost: 10-40 ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from shared.models import AUTO_DRAWN_MODEL, AUTO_MODEL, AUTO_PHOTO_MODEL

AUTO = AUTO_MODEL

_THUMBNAIL = 256
_FLAT, _EDGE = 4, 32


@dataclass(frozen=True)
class ArtStatistics:
    """The measurements the choice is made from (shares are of thumbnail pixels)."""

    flat: float
    mid: float
    edges: float
    flat_colours: int

    @property
    def drawn(self) -> bool:
        """True when the image looks like drawn art rather than a photo."""
        return (
            self.flat >= 0.70
            and self.mid <= 0.15
            and self.edges >= 0.02
            and self.flat_colours <= 16
        )


def art_statistics(rgb: np.ndarray) -> ArtStatistics:
    """Measure a uint8 HxWx3 image (see the module docstring)."""
    img = Image.fromarray(rgb)
    img.thumbnail((_THUMBNAIL, _THUMBNAIL), Image.Resampling.BOX)
    pixels = np.asarray(img.filter(ImageFilter.MedianFilter(3)), dtype=np.int16)
    if pixels.shape[0] < 2 or pixels.shape[1] < 2:
        return ArtStatistics(flat=0.0, mid=0.0, edges=0.0, flat_colours=0)
    right = np.abs(np.diff(pixels, axis=1)).max(axis=2)[:-1, :]
    down = np.abs(np.diff(pixels, axis=0)).max(axis=2)[:, :-1]
    change = np.maximum(right, down)
    flat = change <= _FLAT
    q = pixels[:-1, :-1].astype(np.int32) >> 3
    codes = ((q[:, :, 0] << 10) | (q[:, :, 1] << 5) | q[:, :, 2])[flat]
    flat_colours = 0
    if codes.size:
        counts = np.sort(np.bincount(codes))[::-1]
        flat_colours = int(np.searchsorted(np.cumsum(counts), 0.9 * codes.size)) + 1
    return ArtStatistics(
        flat=float(flat.mean()),
        mid=float(((change > _FLAT) & (change <= _EDGE)).mean()),
        edges=float((change > _EDGE).mean()),
        flat_colours=flat_colours,
    )


def choose_model(rgb: np.ndarray) -> str:
    """The model ``auto`` resolves to for this image."""
    return AUTO_DRAWN_MODEL if art_statistics(rgb).drawn else AUTO_PHOTO_MODEL
