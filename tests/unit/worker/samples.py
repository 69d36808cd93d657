"""Real image files for the fidelity tests, made with Pillow from scikit-image's photos.

Each function returns the bytes of one file, as a camera, editor or web page would write it.
``python -m tests.unit.worker.samples DIR`` writes them all to DIR, to open and inspect.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from tests.unit.worker import icc
from worker import png16

#: Personal data planted in the metadata; none of it may reach a result.
SECRETS = (
    b"SecretCam",
    b"SN-4242-SECRET",
    b"LENS-0099-SECRET",
    b"my private comment",
    b"user words",
    b"secret-xmp-payload",
)


def photo(name: str, width: int) -> Image.Image:
    """A scikit-image sample photo ("astronaut", "chelsea", "coffee"), ``width`` px wide."""
    from skimage import data

    img = Image.fromarray(getattr(data, name)())
    return img.resize((width, round(img.height * width / img.width)), Image.Resampling.LANCZOS)


def _save(img: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def jpeg_with_metadata() -> bytes:
    """chelsea, 96x64 as stored, EXIF orientation 6 (display rotated 90° clockwise), GPS,
    body and lens serial numbers, a user comment, a JPEG comment and XMP."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F], exif[0x0110] = "SecretCam", "Model 7"
    exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 22.0, 7.5), 3: "E", 4: (4.0, 53.0, 1.0)})
    exif.get_ifd(0x8769).update(
        {0xA431: "SN-4242-SECRET", 0xA435: "LENS-0099-SECRET", 0x9286: b"ASCII\0\0\0user words"}
    )
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">secret-xmp-payload</x:xmpmeta>'
    return _save(
        photo("chelsea", 96), "JPEG", quality=95, exif=exif, comment=b"my private comment", xmp=xmp
    )


def soft_disc_alpha(width: int, height: int) -> np.ndarray:
    """A disc, opaque in the middle and fading out at its rim, as uint8."""
    y, x = np.mgrid[0:height, 0:width]
    r = np.hypot((x - width / 2) / (width / 2), (y - height / 2) / (height / 2))
    return np.clip((1.0 - r) * 4 * 255, 0, 255).astype(np.uint8)


def png_with_alpha() -> bytes:
    """astronaut 64x64 cut out as a soft-edged disc (RGBA)."""
    img = photo("astronaut", 64).convert("RGBA")
    img.putalpha(Image.fromarray(soft_disc_alpha(64, 64)))
    return _save(img, "PNG")


def grayscale(fmt: str) -> bytes:
    """coffee 80x53 in grey, as JPEG ("JPEG") or PNG ("PNG")."""
    return _save(photo("coffee", 80).convert("L"), fmt)


def fine_grey_16bit(width: int = 64) -> np.ndarray:
    """coffee in grey at 16 bits with real low-order bits (resized in floating point)."""
    grey = photo("coffee", 400).convert("L")
    fine = Image.fromarray(np.asarray(grey, np.float32) * 257.0)
    fine = fine.resize((width, round(grey.height * width / grey.width)), Image.Resampling.BOX)
    return np.clip(np.rint(np.asarray(fine)), 0, 65535).astype(np.uint16)


def png16_grey() -> bytes:
    """coffee 64x43, 16-bit greyscale PNG (Pillow mode I;16)."""
    return _save(Image.fromarray(fine_grey_16bit()), "PNG")


def png16_rgb(with_alpha: bool = False, with_icc: bool = False) -> bytes:
    """astronaut 48x48, 16-bit RGB(A) PNG, optionally with the Display P3 profile."""
    src = photo("astronaut", 384)
    planes = [
        np.asarray(
            Image.fromarray(np.asarray(band, np.float32) * 257.0).resize(
                (48, 48), Image.Resampling.BOX
            )
        )
        for band in src.split()
    ]
    rgb = np.clip(np.rint(np.stack(planes, axis=2)), 0, 65535).astype(np.uint16)
    alpha = soft_disc_alpha(48, 48).astype(np.uint16) * 257 if with_alpha else None
    return png16.write(rgb, alpha, icc_profile=icc.display_p3_profile() if with_icc else None)


def jpeg_with_icc() -> bytes:
    """astronaut 64x64 tagged with a Display P3 profile."""
    return _save(photo("astronaut", 64), "JPEG", quality=95, icc_profile=icc.display_p3_profile())


def cmyk_jpeg(with_profile: bool) -> bytes:
    """chelsea 96x64 as CMYK. Pillow writes CMYK JPEGs Adobe-style (APP14, inverted values).

    With ``with_profile`` it embeds the warm-paper CMYK profile of ``tests.unit.worker.icc``.
    """
    cmyk = photo("chelsea", 96).convert("CMYK")
    extra = {"icc_profile": icc.warm_paper_cmyk_profile()} if with_profile else {}
    return _save(cmyk, "JPEG", quality=95, **extra)


def palette_png_with_transparency() -> bytes:
    """chelsea 96x64 in 64 colours, its left quarter transparent (a tRNS palette entry)."""
    img = photo("chelsea", 96).quantize(64)
    palette = img.getpalette() or []
    img.putpalette(palette[: 64 * 3] + [0, 0, 0] * 192)
    ImageDraw.Draw(img).rectangle((0, 0, 23, 63), fill=200)  # index 200: the transparent one
    return _save(img, "PNG", transparency=200)


def cartoon(width: int = 96, height: int = 72) -> Image.Image:
    """A flat-colour drawing with dark outlines, like a cartoon frame."""
    img = Image.new("RGB", (width, height), (135, 200, 250))
    draw = ImageDraw.Draw(img)
    w, h = width, height
    line = max(2, round(width / 80))  # outlines scale with the drawing, as an artist's would
    draw.rectangle((0, h * 0.7, w, h), fill=(90, 170, 70), outline=(20, 20, 20), width=line)
    draw.ellipse(
        (w * 0.6, h * 0.08, w * 0.8, h * 0.08 + w * 0.2),
        fill=(255, 220, 40),
        outline=(30, 30, 30),
        width=line,
    )
    draw.ellipse(
        (w * 0.2, h * 0.3, w * 0.45, h * 0.85),
        fill=(250, 210, 180),
        outline=(10, 10, 10),
        width=line,
    )
    draw.ellipse((w * 0.26, h * 0.42, w * 0.3, h * 0.48), fill=(30, 30, 60))
    draw.ellipse((w * 0.35, h * 0.42, w * 0.39, h * 0.48), fill=(30, 30, 60))
    draw.polygon(
        [(w * 0.5, h * 0.9), (w * 0.7, h * 0.45), (w * 0.9, h * 0.9)],
        fill=(200, 60, 90),
        outline=(15, 15, 15),
        width=line,
    )
    return img


ALL: dict[str, Callable[[], bytes]] = {
    "exif-orientation6-gps-serial-comment-xmp.jpg": jpeg_with_metadata,
    "alpha-soft-disc.png": png_with_alpha,
    "grey.jpg": lambda: grayscale("JPEG"),
    "grey.png": lambda: grayscale("PNG"),
    "grey-16bit.png": png16_grey,
    "rgb-16bit.png": png16_rgb,
    "rgba-16bit-p3.png": lambda: png16_rgb(with_alpha=True, with_icc=True),
    "display-p3.jpg": jpeg_with_icc,
    "cmyk-adobe-inverted.jpg": lambda: cmyk_jpeg(False),
    "cmyk-warm-paper-profile.jpg": lambda: cmyk_jpeg(True),
    "palette-transparent.png": palette_png_with_transparency,
    "cartoon.png": lambda: _save(cartoon(), "PNG"),
}


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "var/fidelity-samples")
    out.mkdir(parents=True, exist_ok=True)
    for filename, make in ALL.items():
        (out / filename).write_bytes(make())
        print(out / filename)
