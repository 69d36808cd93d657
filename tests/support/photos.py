"""Real photos for the tests (scikit-image's data) and the no-reference quality metric."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def astronaut_lr() -> tuple[np.ndarray, bytes]:
    """scikit-image's astronaut downscaled 4x (128x128): the pixels and a PNG of them."""
    from skimage import data

    hr = Image.fromarray(data.astronaut())
    lr = hr.resize((hr.width // 4, hr.height // 4), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    lr.save(buf, "PNG")
    return np.asarray(lr), buf.getvalue()


def niqe(rgb: np.ndarray) -> float:
    """NIQE (lower is better) of an RGB uint8 image, with BasicSR's bundled parameters."""
    from basicsr.metrics.niqe import calculate_niqe

    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    return float(calculate_niqe(bgr, crop_border=0, input_order="HWC", convert_to="y"))


def photo(width: int = 24, height: int = 16, fmt: str = "PNG") -> bytes:
    """scikit-image's astronaut resized to ``width`` x ``height``, encoded as ``fmt``."""
    from skimage import data

    img = Image.fromarray(data.astronaut()).resize((width, height))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()
