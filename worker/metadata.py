"""What an upload carries besides pixels: orientation, ICC profile and personal metadata.

Nothing here is copied to the result except the ICC profile (colour, not personal data): the
result is written from bare pixels. These functions only find out what was there, so that the
job can report it as dropped, and apply the EXIF orientation to the pixels.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
#: EXIF tags holding serial numbers: BodySerialNumber, LensSerialNumber, CameraSerialNumber
#: (DNG), and the legacy ImageNumber/ImageUniqueID that cameras use to fingerprint a body.
_SERIAL_TAGS = (0xA431, 0xA435, 0xC62F)
_UNIQUE_ID_TAGS = (0xA420,)
#: EXIF tags holding free text: ImageDescription, Artist, Copyright, UserComment, XPComment.
_TEXT_TAGS = (0x010E, 0x013B, 0x8298, 0x9286, 0x9C9C)
#: Image.info keys that are metadata rather than decoding parameters.
_XMP_KEYS = ("xmp", "XML:com.adobe.xmp")
_IPTC_KEYS = ("photoshop", "iptc")
#: Text info keys some decoders set that describe decoding, not the picture's content.
_NOT_TEXT = {
    "jfif",
    "jfif_version",
    "jfif_unit",
    "jfif_density",
    "dpi",
    "adobe",
    "adobe_transform",
    "progressive",
    "progression",
    "interlace",
    "transparency",
    "gamma",
    "aspect",
    "compression",
    "srgb",
    "chromaticity",
    "background",
    "version",
    "duration",
    "loop",
    "icc_profile",
    "exif",
    "mp",
    "mpoffset",
}


def orientation(img: Image.Image) -> int:
    """The EXIF orientation (1..8) of ``img``; 1 when absent or invalid."""
    value = img.getexif().get(ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def apply_orientation(pixels: np.ndarray, value: int) -> np.ndarray:
    """Return ``pixels`` (HxW or HxWxC) turned upright for an EXIF orientation value.

    The same transforms as ``PIL.ImageOps.exif_transpose``, on arrays, so that 16-bit pixels
    (which Pillow cannot hold in colour) are turned the same way.
    """
    if value == 2:
        return pixels[:, ::-1]
    if value == 3:
        return pixels[::-1, ::-1]
    if value == 4:
        return pixels[::-1]
    if value == 5:
        return pixels.swapaxes(0, 1)
    if value == 6:
        return np.rot90(pixels, -1)
    if value == 7:
        return pixels[::-1, ::-1].swapaxes(0, 1)
    if value == 8:
        return np.rot90(pixels, 1)
    return pixels


def personal_metadata(img: Image.Image) -> list[str]:
    """Names of the personal metadata kinds present in ``img``, in a stable order.

    The vocabulary: ``exif`` (any EXIF block), ``gps``, ``serial_number``, ``comment``
    (JPEG/GIF comments, PNG text chunks, EXIF description/comment/artist), ``xmp``, ``iptc``.
    """
    found: set[str] = set()
    info = img.info
    exif = img.getexif()
    # A TIFF's "EXIF" is all its tags: only a real EXIF block or its sub-IFDs count.
    if info.get("exif") or _EXIF_IFD in exif or _GPS_IFD in exif:
        found.add("exif")
        if exif.get_ifd(_GPS_IFD):
            found.add("gps")
        sub = exif.get_ifd(_EXIF_IFD)
        if any(tag in sub or tag in exif for tag in _SERIAL_TAGS + _UNIQUE_ID_TAGS):
            found.add("serial_number")
        if any(tag in sub or tag in exif for tag in _TEXT_TAGS):
            found.add("comment")
    if any(info.get(key) for key in _XMP_KEYS):
        found.add("xmp")
    if any(info.get(key) for key in _IPTC_KEYS):
        found.add("iptc")
    texts = {k for k, v in info.items() if isinstance(v, str | bytes) and v}
    if info.get("comment") or texts - _NOT_TEXT - set(_XMP_KEYS) - set(_IPTC_KEYS):
        found.add("comment")
    order = ("exif", "gps", "serial_number", "comment", "xmp", "iptc")
    return [name for name in order if name in found]


def icc_colour_space(profile: bytes) -> str | None:
    """The data colour space of an ICC profile ("RGB", "GRAY", "CMYK", ...), or None."""
    if len(profile) < 128 or profile[36:40] != b"acsp":
        return None
    return profile[16:20].decode("ascii", "replace").strip() or None
