"""Decoding and encoding around the engine keep what the user uploaded."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from worker import imaging


def encoded(img: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    decoded = imaging.decode(encoded(img, "JPEG", exif=exif.tobytes()))
    assert decoded.rgb.shape == (40, 20, 3)


def test_alpha_is_kept_and_upscaled() -> None:
    img = Image.new("RGBA", (8, 8), (10, 200, 30, 0))
    img.paste((10, 200, 30, 255), (0, 0, 4, 8))
    decoded = imaging.decode(encoded(img))
    assert decoded.alpha is not None
    big = np.repeat(np.repeat(decoded.rgb, 2, axis=0), 2, axis=1)
    out = Image.open(io.BytesIO(imaging.encode(big, decoded, "png")))
    assert out.mode == "RGBA" and out.size == (16, 16)
    alpha = np.asarray(out.getchannel("A"))
    assert alpha[:, :4].min() == 255 and alpha[:, 12:].max() == 0


def test_grayscale_stays_grayscale_and_metadata_is_dropped() -> None:
    img = Image.new("L", (8, 8), 128)
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    decoded = imaging.decode(encoded(img, "JPEG", exif=exif.tobytes()))
    assert decoded.grayscale
    out_bytes = imaging.encode(decoded.rgb, decoded, "jpeg")
    out = Image.open(io.BytesIO(out_bytes))
    assert out.mode == "L"
    assert b"SecretCam" not in out_bytes


def test_palette_with_transparency() -> None:
    img = Image.new("P", (8, 8), 0)
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.info["transparency"] = 0
    decoded = imaging.decode(encoded(img, transparency=0))
    assert decoded.alpha is not None and decoded.rgb.shape == (8, 8, 3)
