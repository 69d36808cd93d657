"""Decoding details: orientation on arrays, refusals, what counts as personal metadata."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps, PngImagePlugin

from worker import imaging, metadata


def encoded(img: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_array_orientation_matches_pillow(orientation: int) -> None:
    pixels = np.arange(5 * 3 * 3, dtype=np.uint8).reshape(5, 3, 3) * 5
    img = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[metadata.ORIENTATION] = orientation
    img.info["exif"] = exif.tobytes()
    expected = np.asarray(ImageOps.exif_transpose(img))
    assert np.array_equal(metadata.apply_orientation(pixels, orientation), expected)
    # And through decode(), from a PNG's eXIf chunk.
    decoded = imaging.decode(encoded(img, exif=exif))
    assert np.array_equal(decoded.rgb, expected)


def test_garbage_and_bombs_are_decode_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(imaging.ImageDecodeError):
        imaging.decode(b"\x89PNG\r\n\x1a\n broken")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(imaging.ImageDecodeError):
        imaging.decode(encoded(Image.new("RGB", (20, 20))))  # 400 px: over 2x the limit


def test_png_text_chunks_count_as_comments_and_tiff_tags_do_not_as_exif() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "written by someone")
    assert imaging.decode(encoded(Image.new("RGB", (4, 4)), pnginfo=info)).fidelity.dropped == [
        "comment"
    ]
    assert imaging.decode(encoded(Image.new("RGB", (4, 4)), "TIFF")).fidelity.dropped == []


def test_bilevel_and_la_images_are_grey() -> None:
    assert imaging.decode(encoded(Image.new("1", (4, 4), 1))).grayscale
    la = imaging.decode(encoded(Image.new("LA", (4, 4), (9, 128))))
    assert la.grayscale and la.alpha is not None and la.alpha.max() == 128
