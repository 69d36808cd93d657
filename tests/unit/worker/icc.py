"""Small, valid ICC v2 profiles built byte by byte, for the colour fidelity tests.

Pillow's ImageCms can only create sRGB, LAB and XYZ profiles, and no other profile ships on
this machine; these two are real profiles that LittleCMS loads and uses:

- :func:`display_p3_profile`: a matrix/TRC display profile with Display P3 primaries;
- :func:`warm_paper_cmyk_profile`: a CMYK output profile (a lut8 A2B0 table to Lab) for a
  simple press printing on warm, yellowish paper, so that a conversion that honours the
  profile is visibly different from Pillow's profile-less formula.
"""

from __future__ import annotations

import itertools
import struct

import numpy as np
from PIL import Image, ImageCms

_D50 = (0.9642, 1.0, 0.8249)
#: Display P3 primaries, adapted to D50 as ICC profiles store them.
_P3 = ((0.5151, 0.2412, -0.0011), (0.2919, 0.6922, 0.0419), (0.1572, 0.0666, 0.7841))
#: The paper's colour (sRGB) for the CMYK profile: no ink gives this, not white.
PAPER = (255, 236, 200)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + b"\0" * 4 + _s15(x) + _s15(y) + _s15(z)


def _desc(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    body = b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_text)) + ascii_text
    return body + b"\0" * 8 + b"\0" * 3 + b"\0" * 67  # empty Unicode and ScriptCode parts


def _text(text: str) -> bytes:
    return b"text" + b"\0" * 4 + text.encode("ascii") + b"\0"


def _profile(
    device_class: bytes, space: bytes, pcs: bytes, tags: list[tuple[bytes, bytes]]
) -> bytes:
    table_end = 128 + 4 + 12 * len(tags)
    table, data = struct.pack(">I", len(tags)), b""
    for signature, body in tags:
        data += b"\0" * (-(table_end + len(data)) % 4)  # tag data starts on 4-byte boundaries
        table += struct.pack(">4sII", signature, table_end + len(data), len(body))
        data += body
    header = struct.pack(
        ">I4sI4s4s4s", table_end + len(data), b"lcms", 0x02100000, device_class, space, pcs
    )
    header += struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 4  # date, platform
    header += b"\0" * 24 + _xyz(*_D50)[8:] + b"lcms"  # flags .. intent, illuminant, creator
    return header.ljust(128, b"\0") + table + data


def display_p3_profile() -> bytes:
    """A Display P3 display profile (gamma 2.2 curves)."""
    gamma = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    tags = [
        (b"desc", _desc("PicUpscaler test Display P3")),
        (b"cprt", _text("No copyright, test data")),
        (b"wtpt", _xyz(*_D50)),
        (b"rXYZ", _xyz(*_P3[0])),
        (b"gXYZ", _xyz(*_P3[1])),
        (b"bXYZ", _xyz(*_P3[2])),
        (b"rTRC", gamma),
        (b"gTRC", gamma),
        (b"bTRC", gamma),
    ]
    return _profile(b"mntr", b"RGB ", b"XYZ ", tags)


def cmyk_on_paper_to_rgb(cmyk: np.ndarray) -> np.ndarray:
    """What the press of :func:`warm_paper_cmyk_profile` prints, as float sRGB 0..255."""
    ink = 1.0 - cmyk[..., :3] / 255.0
    black = 1.0 - cmyk[..., 3:4] / 255.0
    return ink * black * np.asarray(PAPER, dtype=np.float64)


def warm_paper_cmyk_profile(grid: int = 9) -> bytes:
    """A CMYK -> Lab profile: ideal inks multiplying the warm paper colour (``PAPER``)."""
    axis = np.linspace(0, 255, grid)
    nodes = np.array(list(itertools.product(axis, repeat=4)))  # cyan varies slowest, as ICC
    rgb = np.clip(np.rint(cmyk_on_paper_to_rgb(nodes)), 0, 255).astype(np.uint8)
    to_lab = ImageCms.buildTransform(
        ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB"
    )
    lab_img = ImageCms.applyTransform(Image.fromarray(rgb[None, :, :]), to_lab)
    assert lab_img is not None
    lab = np.asarray(lab_img).reshape(-1, 3).copy()
    # Pillow's LAB holds a/b as signed bytes; lut8 wants them offset by 128 (L: 0..255 = 0..100).
    lab[:, 1:] = (lab[:, 1:].view(np.int8).astype(np.int16) + 128).astype(np.uint8)
    identity = bytes(range(256))
    lut = b"mft1" + b"\0" * 4 + struct.pack(">BBBB", 4, 3, grid, 0)
    lut += b"".join(_s15(1.0 if i % 4 == 0 else 0.0) for i in range(9))  # identity matrix
    lut += identity * 4 + lab.astype(np.uint8).tobytes() + identity * 3
    tags = [
        (b"desc", _desc("PicUpscaler test CMYK on warm paper")),
        (b"cprt", _text("No copyright, test data")),
        (b"wtpt", _xyz(*_D50)),
        (b"A2B0", lut),
    ]
    return _profile(b"prtr", b"CMYK", b"Lab ", tags)
