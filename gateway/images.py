"""Checking that an upload is a real, decodable image within the limits, before a job exists.

The content decides, not the file name or Content-Type: the first bytes are sniffed, the header
is read for the size (refused before decoding if too many pixels), then the image is decoded
fully, in memory, with Pillow's decompression-bomb checks turned into errors.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image

from gateway.errors import ApiError

#: Formats accepted, by their signature. Pillow is told to try only the sniffed one.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"WEBP", 8, "WEBP"),
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
    (b"BM", 0, "BMP"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
)
ACCEPTED_FORMATS = sorted({fmt for _, _, fmt in _SIGNATURES})


@dataclass(frozen=True)
class ImageFacts:
    """What the gateway learned about a valid upload."""

    format: str
    width: int
    height: int
    mode: str


def sniff_format(data: bytes) -> str | None:
    """Return the image format that ``data`` starts like, or None."""
    for magic, offset, fmt in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic and (fmt != "WEBP" or data[:4] == b"RIFF"):
            return fmt
    return None


def inspect_image(data: bytes, *, max_input_pixels: int) -> ImageFacts:
    """Validate ``data`` as an image; raise ApiError 413/415/422 with a clear reason if not."""
    if not data:
        raise ApiError(422, "empty_file", "The uploaded file is empty.")
    fmt = sniff_format(data)
    if fmt is None:
        raise ApiError(
            415,
            "unsupported_format",
            f"The file is not an image in a supported format ({', '.join(ACCEPTED_FORMATS)}).",
        )
    with warnings.catch_warnings():
        # DecompressionBombWarning (and any other decoder warning) becomes a refusal.
        warnings.simplefilter("error")
        try:
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                width, height = img.size
                if width < 1 or height < 1:
                    raise ApiError(422, "undecodable_image", "The image has no pixels.")
                if width * height > max_input_pixels:
                    raise ApiError(
                        413,
                        "image_too_large",
                        f"The image has {width}x{height} pixels; the limit is "
                        f"{max_input_pixels} pixels.",
                    )
                if getattr(img, "n_frames", 1) > 1:
                    raise ApiError(
                        422,
                        "animated_image_not_supported",
                        "Animated images are not supported; upload a single frame.",
                    )
                img.load()
                mode = img.mode
        except ApiError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ApiError(413, "image_too_large", "The image declares too many pixels.") from exc
        except (Warning, Exception) as exc:  # truncated, corrupt or hostile data
            raise ApiError(
                422, "undecodable_image", f"The {fmt} file could not be decoded."
            ) from exc
    return ImageFacts(format=fmt, width=width, height=height, mode=mode)
