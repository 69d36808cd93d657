"""16-bit pixels: PNG in and out (Pillow reduces 16-bit colour to 8 bits), and the depth maths.

Reading uses OpenCV's libpng decoder (a worker dependency through BasicSR). Writing is done
here, because OpenCV can neither embed an ICC profile nor write grey + alpha: the encoder is
plain PNG (IHDR, iCCP, IDAT, IEND) with the "Up" filter, compressed in row blocks so that
memory stays near the size of the pixels.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour types, by (grey, alpha).
_COLOUR_TYPE = {(True, False): 0, (False, False): 2, (True, True): 4, (False, True): 6}
_ROWS_PER_BLOCK = 256


@dataclass
class Png16:
    """A decoded 16-bit PNG: colour (HxW grey or HxWx3 RGB) and alpha (HxW or None), uint16."""

    colour: np.ndarray
    alpha: np.ndarray | None
    grayscale: bool


def is_16bit_png(data: bytes) -> bool:
    """True for a PNG whose IHDR declares 16 bits per sample."""
    return data[:8] == SIGNATURE and data[12:16] == b"IHDR" and len(data) > 25 and data[24] == 16


def read(data: bytes) -> Png16:
    """Decode a 16-bit PNG at full depth (raises ValueError if it cannot be decoded)."""
    import cv2  # the worker's dependency only; imported here to keep module import light

    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint16:
        raise ValueError("not a decodable 16-bit PNG")
    grayscale = data[25] in (0, 4)  # IHDR colour type: grey or grey + alpha
    alpha = None
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        alpha = np.ascontiguousarray(pixels[:, :, 3])
        pixels = pixels[:, :, :3]
    if pixels.ndim == 3:
        # OpenCV gives BGR; a grey PNG with alpha comes back as BGRA with equal channels.
        pixels = pixels[:, :, 0] if grayscale else pixels[:, :, ::-1]
    return Png16(colour=np.ascontiguousarray(pixels), alpha=alpha, grayscale=grayscale)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def write(
    colour: np.ndarray,
    alpha: np.ndarray | None = None,
    *,
    icc_profile: bytes | None = None,
    compress_level: int = 4,
) -> bytes:
    """Encode uint16 grey (HxW) or RGB (HxWx3) pixels, optional alpha and ICC, as a PNG."""
    if colour.dtype != np.uint16 or (alpha is not None and alpha.dtype != np.uint16):
        raise ValueError("16-bit PNG pixels must be uint16")
    grey = colour.ndim == 2
    height, width = colour.shape[:2]
    planes = [colour[:, :, None] if grey else colour]
    if alpha is not None:
        planes.append(alpha[:, :, None])
    header = struct.pack(
        ">IIBBBBB", width, height, 16, _COLOUR_TYPE[(grey, alpha is not None)], 0, 0, 0
    )
    parts = [SIGNATURE, _chunk(b"IHDR", header)]
    if icc_profile:
        parts.append(_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile)))
    compressor = zlib.compressobj(compress_level)
    previous: np.ndarray | None = None
    for start in range(0, height, _ROWS_PER_BLOCK):
        block = np.concatenate([p[start : start + _ROWS_PER_BLOCK] for p in planes], axis=2)
        rows = block.astype(">u2").reshape(block.shape[0], -1).view(np.uint8)
        above = np.empty_like(rows)
        above[0] = 0 if previous is None else previous
        above[1:] = rows[:-1]
        filtered = np.empty((rows.shape[0], rows.shape[1] + 1), np.uint8)
        filtered[:, 0] = 2  # filter type "Up": each byte minus the byte above, modulo 256
        np.subtract(rows, above, out=filtered[:, 1:])
        previous = rows[-1].copy()
        piece = compressor.compress(filtered.tobytes())
        if piece:
            parts.append(_chunk(b"IDAT", piece))
    parts.append(_chunk(b"IDAT", compressor.flush()))
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    """uint16 -> nearest uint8 (v / 257 rounded); uint8 unchanged."""
    if pixels.dtype == np.uint8:
        return pixels
    return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)


def split_depth(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(8-bit pixels, int16 residual = pixels - 257 x 8-bit) for uint16; (pixels, None) else."""
    eight = to_8bit(pixels)
    if pixels.dtype != np.uint16:
        return eight, None
    return eight, (pixels.astype(np.int32) - eight.astype(np.int32) * 257).astype(np.int16)


def restore_depth(eight: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """16-bit pixels: upscaled 8-bit ones x 257 plus the bicubically upscaled residual."""
    size = (eight.shape[1], eight.shape[0])
    out = eight.astype(np.uint16) * np.uint16(257)
    out_planes = out[:, :, None] if out.ndim == 2 else out
    res_planes = residual[:, :, None] if residual.ndim == 2 else residual
    for c in range(res_planes.shape[2]):  # one plane at a time bounds the float temporaries
        plane = Image.fromarray(res_planes[:, :, c].astype(np.float32))
        up = np.asarray(plane.resize(size, Image.Resampling.BICUBIC)) + out_planes[:, :, c]
        out_planes[:, :, c] = np.clip(np.rint(up), 0, 65535)
    return out
