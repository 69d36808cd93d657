"""Checking that an upload is a real, decodable image within the limits, before a job exists.

The content decides, not the file name or Content-Type: the first bytes are sniffed, the header
is read for the size (refused before decoding if too many pixels), then the image is decoded
fully, in memory, with Pillow's decompression-bomb checks turned into errors.

Before Pillow sees a file, its structure is counted (PNG chunks, GIF data blocks, TIFF strips,
JPEG scans): Pillow handles each of those in Python, or (JPEG scans) over the whole image, so a
small file made of millions of them costs seconds of CPU; such files are refused with 422.

Other Pillow warnings are not refusals: they are about metadata (a camera's broken maker note
gives "Tag data larger than file"), which the worker drops anyway, and pixel data that cannot
be decoded raises on its own. Only ``DecompressionBombWarning`` is made an error, so that if
two requests' ``catch_warnings`` blocks interleave (the filters are process-wide; this runs in
a thread pool) the worst that leaks is that one benign filter, never "every warning raises".
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image

from gateway.errors import ApiError
from shared.formats import INPUT_FORMATS, OUTPUT_FORMATS, OutputFormatName

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
#: Every sniffed format is one the worker opens (a unit test checks the two agree).
ACCEPTED_FORMATS = sorted(INPUT_FORMATS)


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


#: Upper bounds on a file's structure, whatever its size. Pillow walks PNG chunks, GIF
#: sub-blocks and TIFF strips one by one in Python, and libjpeg decodes every progressive scan
#: over the whole image: a 10 MB file of a million empty chunks, one-byte sub-blocks or one-row
#: strips cost 5-20 s of CPU, in the gateway and again in the worker. Real files stay far
#: below these (libpng writes 8 KB IDAT chunks; encoders write about 10 progressive scans).
MAX_PNG_CHUNKS = 50_000
MAX_GIF_SUBBLOCKS = 200_000
MAX_TIFF_STRIPS = 50_000
MAX_JPEG_SCANS = 100


def _png_chunks(data: bytes, limit: int) -> int:
    """Chunks up to IEND (counting stops just past ``limit``)."""
    pos, count = 8, 0
    while pos + 8 <= len(data) and count <= limit:
        count += 1
        if data[pos + 4 : pos + 8] == b"IEND":
            break
        pos += 12 + int.from_bytes(data[pos : pos + 4], "big")
    return count


def _gif_subblocks(data: bytes, limit: int) -> int:
    """Data sub-blocks of all extensions and frames (counting stops just past ``limit``)."""
    if len(data) < 13:
        return 0
    pos, count = 13, 0
    if data[10] & 0x80:  # global colour table
        pos += 3 << ((data[10] & 7) + 1)
    while pos < len(data):
        block = data[pos]
        if block == 0x21:  # extension: introducer, label, sub-blocks
            pos += 2
        elif block == 0x2C and pos + 10 <= len(data):  # frame: descriptor, table, code size
            flags = data[pos + 9]
            pos += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0) + 1
        else:  # trailer, or something Pillow will judge
            return count
        while pos < len(data):
            size = data[pos]
            pos += 1 + size
            if size == 0:
                break
            count += 1
            if count > limit:
                return count
    return count


def _tiff_strips(data: bytes) -> int:
    """The number of strips or tiles of the first image (StripOffsets / TileOffsets count)."""
    order = "<" if data[:2] == b"II" else ">"
    if len(data) < 8:
        return 0
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    if ifd + 2 > len(data):
        return 0
    (entries,) = struct.unpack_from(order + "H", data, ifd)
    most = 0
    for at in range(ifd + 2, min(ifd + 2 + 12 * entries, len(data) - 11), 12):
        tag, _, count = struct.unpack_from(order + "HHI", data, at)
        if tag in (273, 324):
            most = max(most, count)
    return most


def structure_problem(fmt: str, data: bytes) -> str | None:
    """Why ``data`` (sniffed as ``fmt``) is too intricate to decode, or None if it is not."""
    if fmt == "PNG" and _png_chunks(data, MAX_PNG_CHUNKS) > MAX_PNG_CHUNKS:
        return f"The PNG file has more than {MAX_PNG_CHUNKS} chunks."
    if fmt == "GIF" and _gif_subblocks(data, MAX_GIF_SUBBLOCKS) > MAX_GIF_SUBBLOCKS:
        return f"The GIF file has more than {MAX_GIF_SUBBLOCKS} data blocks."
    if fmt == "TIFF" and _tiff_strips(data) > MAX_TIFF_STRIPS:
        return f"The TIFF file has more than {MAX_TIFF_STRIPS} strips or tiles."
    if fmt == "JPEG" and data.count(b"\xff\xda") > MAX_JPEG_SCANS:
        return f"The JPEG file has more than {MAX_JPEG_SCANS} scans."
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
    problem = structure_problem(fmt, data)
    if problem is not None:
        raise ApiError(422, "undecodable_image", problem)
    with warnings.catch_warnings():
        # A bomb warning becomes a refusal; metadata warnings are not reasons to refuse.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
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
                # is_animated looks for a second frame; n_frames would walk all of them, and a
                # GIF of a million one-pixel frames kept a gateway thread busy for seconds. A
                # multi-picture JPEG (MPO: a phone's HDR gain map, a preview) is one photo.
                if getattr(img, "is_animated", False) and img.format != "MPO":
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


def check_output_size(
    facts: ImageFacts, scale: int, output_format: OutputFormatName, *, max_output_pixels: int
) -> None:
    """Refuse (422 ``output_too_large``) a result the service could not deliver.

    Too many pixels for the configured limit, or a side longer than the output format can
    encode (a panorama upscaled to WebP or JPEG): the worker would spend the whole upscale and
    then fail to encode, so the client is told now and can pick a smaller scale or PNG.
    """
    width, height = facts.width * scale, facts.height * scale
    if width * height > max_output_pixels:
        raise ApiError(
            422,
            "output_too_large",
            f"A {scale}x result of this {facts.width}x{facts.height} image would have "
            f"{width * height} pixels; the limit is {max_output_pixels}. "
            "Choose a smaller scale or image.",
        )
    side = OUTPUT_FORMATS[output_format].max_side
    if max(width, height) > side:
        raise ApiError(
            422,
            "output_too_large",
            f"A {scale}x result of this {facts.width}x{facts.height} image would be "
            f"{width}x{height}; {output_format.upper()} images can be at most {side} pixels "
            "wide and high. Choose a smaller scale or PNG.",
        )
