"""Decoding uploads into arrays for the engine, and encoding results.

Pure functions over bytes and arrays. The EXIF orientation is applied; alpha is kept (upscaled
with bicubic interpolation and re-attached); grayscale stays grayscale; metadata is not copied
to the result.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps


class ImageDecodeError(Exception):
    """Raised when a stored input cannot be decoded (it passed the gateway, so it is rare)."""


@dataclass
class DecodedImage:
    """An upload ready for the engine: RGB pixels plus what must be restored afterwards."""

    rgb: np.ndarray  # uint8, H x W x 3
    alpha: Image.Image | None
    grayscale: bool


def decode(data: bytes) -> DecodedImage:
    """Decode an uploaded image into RGB uint8 pixels with orientation applied."""
    try:
        with warnings.catch_warnings():
            # Pillow's decompression-bomb warning is a refusal here, as in the gateway.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                img = ImageOps.exif_transpose(opened)
                img.load()
    except Exception as exc:
        raise ImageDecodeError(type(exc).__name__) from exc
    grayscale = img.mode in ("1", "L", "LA", "I", "I;16", "F")
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    alpha = None
    if has_alpha:
        img = img.convert("RGBA")
        alpha = img.getchannel("A")
    if img.mode in ("I", "I;16", "F"):
        # 16-bit and float grayscale: scale to 8 bits before the 8-bit network.
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    rgb = np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))
    return DecodedImage(rgb=rgb, alpha=alpha, grayscale=grayscale)


def encode(
    pixels: np.ndarray, decoded: DecodedImage, output_format: str, *, quality: int = 92
) -> bytes:
    """Encode the engine's output, restoring alpha and grayscale, without input metadata."""
    img = Image.fromarray(pixels, "RGB")
    if decoded.grayscale:
        img = img.convert("L")
    if decoded.alpha is not None:
        alpha = decoded.alpha.resize(img.size, Image.Resampling.BICUBIC)
        if output_format == "jpeg":
            # JPEG has no alpha: flatten onto white rather than lose the shape to black.
            background = Image.new(img.mode, img.size, 255)
            background.paste(img, mask=alpha)
            img = background
        else:
            img.putalpha(alpha)
    buf = io.BytesIO()
    if output_format == "png":
        img.save(buf, "PNG", compress_level=4)
    elif output_format == "jpeg":
        img.save(buf, "JPEG", quality=quality, subsampling=0 if quality >= 90 else 2)
    elif output_format == "webp":
        img.save(buf, "WEBP", quality=quality, method=4)
    else:
        raise ValueError(f"unknown output format {output_format!r}")
    return buf.getvalue()
