"""The hostile corpus: crafted uploads and requests, generated here, each with its expected answer.

Every entry is built by the tests themselves (Pillow, numpy, raw bytes, zlib); nothing is
downloaded and nothing is checked in. Builders are lazy (the costly ones cached), so a run pays
only for the entries it sends. The large "real" bombs are written chunk by chunk with zlib over a
reused zero buffer, so a 20000x20000 PNG costs about 50 KB and a fraction of a second.

The limits are the gateway's defaults (``shared.settings.JobSettings``): 25 MB per upload,
16 megapixels in, 64 megapixels out.

Expected answers, per the fixed contract: 413 for too many bytes or pixels, 415 for anything
that is not one of the accepted image formats (content sniffed, whatever the name or
Content-Type say), 422 for undecodable or animated images, files too intricate to parse cheaply
(``gateway.images.structure_problem``) and bad options, 202 for the rest.
"""

from __future__ import annotations

import functools
import io
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

#: The gateway's default limits, which the corpus is sized against.
MAX_UPLOAD_BYTES = 25_000_000
MAX_INPUT_PIXELS = 16_000_000
MAX_OUTPUT_PIXELS = 64_000_000

BOUNDARY = "hostile0boundary7c1e"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
#: Options for accepted entries that also run end to end: the small, cheap model.
CHEAP = (("model", "realesr-animevideov3"), ("scale", "2"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class RawRequest:
    """A POST /v1/jobs request as sent: headers and either a body or a chunk stream.

    ``chunks`` (a factory, so the stream can be replayed) is sent with chunked transfer
    encoding and no Content-Length.
    """

    headers: dict[str, str]
    body: bytes = b""
    chunks: Callable[[], Iterator[bytes]] | None = None


@dataclass(frozen=True)
class Entry:
    """One hostile case: what is sent and what the gateway must answer."""

    name: str
    what: str
    status: int
    code: str | None = None
    data: Callable[[], bytes] | None = None
    fields: tuple[tuple[str, str], ...] = ()
    filename: str = "upload.png"
    content_type: str = "image/png"
    raw: Callable[[], RawRequest] | None = None
    #: Accepted, and the job must also succeed through the worker with the real model.
    end_to_end: bool = False
    #: Why the expectation does not hold yet (the test marks the entry xfail, strictly).
    known_gap: str | None = None

    @property
    def accepted(self) -> bool:
        """True when the gateway must answer 202."""
        return self.status == 202

    def file_bytes(self) -> bytes | None:
        """The uploaded file's bytes (None for entries that are a raw request)."""
        return None if self.data is None else self.data()

    def request(self) -> RawRequest:
        """The request to send: the raw one, or a well-formed multipart form with the file."""
        if self.raw is not None:
            return self.raw()
        body = multipart(self.fields, self.file_bytes(), self.filename, self.content_type)
        return RawRequest(headers={"Content-Type": MULTIPART}, body=body)


# --- encoding helpers -------------------------------------------------------------------


def multipart(
    fields: tuple[tuple[str, str], ...],
    file: bytes | None,
    filename: str = "upload.png",
    content_type: str = "image/png",
    *,
    file_field: str = "file",
) -> bytes:
    """A multipart/form-data body (fields may repeat) with ``BOUNDARY``."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields
    ]
    if file is not None:
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{file_field}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
            + file
            + b"\r\n"
        )
    parts.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(parts)


def save(img: Image.Image, fmt: str, **params: Any) -> bytes:
    """Encode ``img`` with Pillow."""
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def noise(width: int, height: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    """A noisy image (noise does not compress, so truncation cuts real pixel data)."""
    rng = np.random.default_rng(seed)
    bands = len(Image.new(mode, (1, 1)).getbands())
    return Image.frombytes(mode, (width, height), rng.bytes(width * height * bands))


def gradient(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A smooth test picture (what a model sees in a photo) in ``mode``."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    rgb = np.stack(
        [np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)), (x + y) / 2],
        axis=2,
    ).astype(np.uint8)
    img = Image.frombytes("RGB", (width, height), rgb.tobytes())
    if mode in ("RGBA", "LA"):
        img.putalpha(Image.frombytes("L", (width, height), rgb[:, :, 0].tobytes()))
    return img.convert(mode)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_file(
    width: int,
    height: int,
    idat: bytes,
    *,
    bit_depth: int = 8,
    colour_type: int = 2,
    before: tuple[bytes, ...] = (),
    after: tuple[bytes, ...] = (),
) -> bytes:
    """A PNG written by hand: IHDR, ``before`` chunks, one IDAT, ``after`` chunks, IEND."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"".join(
        [
            PNG_SIGNATURE,
            png_chunk(b"IHDR", ihdr),
            *before,
            png_chunk(b"IDAT", idat),
            *after,
            png_chunk(b"IEND", b""),
        ]
    )


def zero_stream(total: int, *, level: int = 9) -> bytes:
    """zlib of ``total`` zero bytes, compressed from one reused 1 MiB buffer (memory-light)."""
    block = bytes(1 << 20)
    compressor = zlib.compressobj(level)
    pieces = []
    remaining = total
    while remaining > 0:
        n = min(remaining, len(block))
        pieces.append(compressor.compress(block if n == len(block) else block[:n]))
        remaining -= n
    pieces.append(compressor.flush())
    return b"".join(pieces)


def png_filled(width: int, height: int, *, bit_depth: int = 1, colour_type: int = 0) -> bytes:
    """A PNG of one colour (all zero samples) that really decodes to width x height pixels."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row_bytes = (width * channels * bit_depth + 7) // 8
    return png_file(
        width,
        height,
        zero_stream((row_bytes + 1) * height),
        bit_depth=bit_depth,
        colour_type=colour_type,
    )


def png16(width: int, height: int, *, alpha: bool = False) -> bytes:
    """A 16-bit RGB(A) PNG written by hand (Pillow cannot write 16-bit colour)."""
    x = np.linspace(0, 65535, width, dtype=np.float64)[None, :]
    y = np.linspace(0, 65535, height, dtype=np.float64)[:, None]
    planes = [np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width))]
    planes.append((planes[0] + planes[1]) / 2)
    if alpha:
        planes.append(np.full((height, width), 50000.0))
    pixels = np.stack(planes, axis=2).astype(">u2")
    rows = pixels.reshape(height, -1).view(np.uint8)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()
    return png_file(width, height, zlib.compress(raw), bit_depth=16, colour_type=6 if alpha else 2)


#: LZW data of a one-pixel GIF frame: minimum code size 2; one sub-block: clear, 0, end.
_GIF_ONE_PIXEL = b"\x02\x02\x44\x01\x00"


def gif_file(screen: tuple[int, int], frame: tuple[int, int]) -> bytes:
    """A GIF written by hand: logical screen ``screen``, one frame declared ``frame`` big."""
    return b"".join(
        [
            b"GIF89a",
            struct.pack("<HHBBB", *screen, 0x80, 0, 0),
            b"\x00\x00\x00\xff\xff\xff",  # global colour table: black, white
            b"\x2c" + struct.pack("<HHHHB", 0, 0, *frame, 0),
            _GIF_ONE_PIXEL,
            b"\x3b",
        ]
    )


def tiff_file(width: int, height: int) -> bytes:
    """A baseline grey TIFF written by hand; its header may declare any size."""
    entries = [
        (256, 4, 1, width),  # ImageWidth, LONG
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample, SHORT
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # PhotometricInterpretation: black is zero
        (273, 4, 1, 0),  # StripOffsets (patched below)
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, 16),  # StripByteCounts
    ]
    data_offset = 8 + 2 + 12 * len(entries) + 4
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        value = data_offset if tag == 273 else value
        packed = struct.pack("<H", value) + b"\0\0" if typ == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, typ, count) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\0\0\0\0" + bytes(16)


def bmp_rle8(width: int, height: int) -> bytes:
    """An 8-bit RLE BMP whose only data is 'end of bitmap': tiny, and width x height pixels."""
    rle = b"\x00\x01"
    palette = b"\x00\x00\x00\x00" * 256
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(rle), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(rle), 0, 0, offset) + info + palette + rle


def bmp_declared(width: int, height: int) -> bytes:
    """A 24-bit BMP header declaring width x height, with 16 bytes of pixels."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + 16, 0, 0, 54) + info + bytes(16)


def jpeg_with_size(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) is patched to declare width x height."""
    data = bytearray(save(gradient(16, 16), "JPEG", quality=80))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_lossy_with_size(width: int, height: int) -> bytes:
    """A small real lossy WebP whose VP8 frame header is patched to declare width x height."""
    data = bytearray(save(gradient(16, 16), "WEBP", quality=50))
    vp8 = data.index(b"\x9d\x01\x2a")  # the VP8 key frame start code
    data[vp8 + 3 : vp8 + 7] = struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
    return bytes(data)


def exif_block(entries: list[tuple[int, int, int, bytes]], *, tail: bytes = b"") -> bytes:
    """An APP1/eXIf payload: little-endian TIFF header and one IFD (tag, type, count, value)."""
    ifd = [struct.pack("<H", len(entries))]
    ifd += [
        struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\0")[:4]
        for tag, typ, count, value in entries
    ]
    return b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + b"".join(ifd) + b"\0\0\0\0" + tail


def fake_icc(colour_space: bytes, size: int = 600) -> bytes:
    """An ICC "profile" with a plausible header (signature, colour space) and garbage after."""
    rng = np.random.default_rng(7)
    body = bytearray(rng.bytes(size))
    body[0:4] = struct.pack(">I", size)
    body[16:20] = colour_space
    body[36:40] = b"acsp"
    body[128:132] = struct.pack(">I", 0x7FFFFFFF)  # tag count: two billion
    return bytes(body)


# --- the files ----------------------------------------------------------------------------


@functools.cache
def small_png() -> bytes:
    """A normal 64x48 RGB PNG: the carrier for option and framing cases."""
    return save(gradient(64, 48), "PNG")


@functools.cache
def png_real_bomb() -> bytes:
    """20000 x 20000 = 400 megapixels of black, about 50 KB on the wire."""
    return png_filled(20_000, 20_000)


@functools.cache
def png_just_over() -> bytes:
    """4001 x 4000: 4000 pixels over the input limit."""
    return png_filled(4001, 4000)


@functools.cache
def png_at_limit() -> bytes:
    """4000 x 4000: exactly the input limit."""
    return png_filled(4000, 4000)


def png_declared_bomb() -> bytes:
    """IHDR declares 100000 x 100000; the data is a few bytes."""
    return png_file(100_000, 100_000, zlib.compress(bytes(64)), colour_type=0)


@functools.cache
def png_ztxt_bomb() -> bytes:
    """A normal PNG with a zTXt chunk that inflates to 20 MB of text."""
    ztxt = png_chunk(b"zTXt", b"Comment\x00\x00" + zero_stream(20_000_000))
    return _insert_before_iend(small_png(), ztxt)


@functools.cache
def png_iccp_bomb() -> bytes:
    """A normal PNG whose iCCP (ICC profile) chunk inflates to 20 MB."""
    iccp = png_chunk(b"iCCP", b"icc\x00\x00" + zero_stream(20_000_000))
    return _insert_after_ihdr(small_png(), iccp)


@functools.cache
def png_overlong_idat() -> bytes:
    """A 64x64 grey PNG whose IDAT stream goes on to inflate to 30 MB (only 4 KB are needed)."""
    return png_file(64, 64, zero_stream(30_000_000), colour_type=0)


def _insert_after_ihdr(png: bytes, chunk: bytes) -> bytes:
    at = 8 + 25  # signature, IHDR (4 length + 4 type + 13 data + 4 crc)
    return png[:at] + chunk + png[at:]


def _insert_before_iend(png: bytes, chunk: bytes) -> bytes:
    at = png.rindex(b"IEND") - 4
    return png[:at] + chunk + png[at:]


@functools.cache
def gif_real_bomb() -> bytes:
    """5000 x 5000 single-colour GIF (25 megapixels), about 20 KB."""
    img = Image.new("P", (5000, 5000), 0)
    img.putpalette([0, 0, 0, 255, 255, 255])
    return save(img, "GIF")


@functools.cache
def webp_real_bomb() -> bytes:
    """4100 x 4100 single-colour lossless WebP (16.8 megapixels) in a few dozen bytes."""
    return save(Image.new("RGB", (4100, 4100), (10, 20, 30)), "WEBP", lossless=True, method=0)


@functools.cache
def noisy_jpeg() -> bytes:
    """A 256x256 noisy JPEG (the truncation carrier)."""
    return save(noise(256, 256), "JPEG", quality=90)


@functools.cache
def noisy_png() -> bytes:
    """A 256x256 noisy PNG (the truncation carrier)."""
    return save(noise(256, 256), "PNG")


def minimal_pdf() -> bytes:
    """A one-page PDF."""
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/MediaBox[0 0 612 792]/Parent 2 0 R>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="48">'
    b'<script>alert(document.cookie)</script><rect width="64" height="48"/></svg>'
)
HTML = b"<!doctype html><html><body><script>alert(document.domain)</script></body></html>\n"
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 48\n(%pipe%id) (w) file\nshowpage\n"


def zip_bytes() -> bytes:
    """A ZIP archive holding an HTML page."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("index.html", HTML)
    return buf.getvalue()


@functools.cache
def gif_js_polyglot() -> bytes:
    """A GIF that is also JavaScript: width 10799 is the bytes ``/*``, a comment to ``*/``."""
    img = Image.new("P", (10799, 1), 1)
    img.putpalette([0, 0, 0, 200, 120, 40])
    gif = save(img, "GIF")
    assert gif[6:8] == b"/*" and b"*/" not in gif
    return gif + b"*/=1;alert(document.domain);//"


def gif_frame() -> bytes:
    """One 1x1 frame (image descriptor and data) for hand-written GIFs."""
    return b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + _GIF_ONE_PIXEL


def gif_many(body: bytes) -> bytes:
    """A 1x1-screen GIF with ``body`` (frames, extensions) between the header and trailer."""
    header = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00" * 3 + b"\xff" * 3
    return header + body + b"\x3b"


def gif_many_frames(frames: int = 150_000) -> bytes:
    """A GIF of ``frames`` one-pixel frames (15 bytes each)."""
    return gif_many(gif_frame() * frames)


def gif_comment_subblocks(count: int) -> bytes:
    """One 1x1 frame after a comment of ``count`` one-byte sub-blocks (Pillow reads each one)."""
    return gif_many(b"\x21\xfe" + b"\x01A" * count + b"\x00" + gif_frame())


def png_many_chunks(count: int) -> bytes:
    """A normal PNG with ``count`` empty ancillary chunks before its pixels."""
    return _insert_after_ihdr(small_png(), png_chunk(b"vpAg", b"") * count)


def tiff_row_strips(height: int) -> bytes:
    """A 1-pixel-wide grey TIFF of ``height`` rows, one strip per row (a strip table per row)."""
    entries = [
        (256, 4, 1, 1),  # ImageWidth
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # PhotometricInterpretation
        (273, 4, height, 0),  # StripOffsets (array, placed below)
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, 1),  # RowsPerStrip
        (279, 4, height, 0),  # StripByteCounts (array)
    ]
    offsets_at = 8 + 2 + 12 * len(entries) + 4
    counts_at = offsets_at + 4 * height
    pixels_at = counts_at + 4 * height
    ifd = [struct.pack("<H", len(entries))]
    for tag, typ, count, value in entries:
        value = {273: offsets_at, 279: counts_at}.get(tag, value)
        packed = struct.pack("<H", value) + b"\0\0" if typ == 3 else struct.pack("<I", value)
        ifd.append(struct.pack("<HHI", tag, typ, count) + packed)
    offsets = (pixels_at + np.arange(height, dtype=np.uint32)).astype("<u4").tobytes()
    counts = np.ones(height, "<u4").tobytes()
    return (
        b"II*\x00"
        + struct.pack("<I", 8)
        + b"".join(ifd)
        + b"\0" * 4
        + offsets
        + counts
        + bytes(height)
    )


def jpeg_many_scans(size: int, copies: int) -> bytes:
    """A progressive ``size`` x ``size`` JPEG with its smallest scan repeated ``copies`` times.

    Every scan is decoded over the whole image, however few bytes it has: a 14-byte scan
    repeated 10,000 times makes a 4000x4000 JPEG of 276 KB that takes seconds to decode.
    """
    data = save(gradient(size, size), "JPEG", quality=75, progressive=True)
    end = data.rindex(b"\xff\xd9")
    scans = []
    start = data.find(b"\xff\xda")
    while 0 <= start < end:
        following = [data.find(m, start + 2) for m in (b"\xff\xda", b"\xff\xc4")]
        stop = min([i for i in following if i > 0] + [end])
        scans.append(data[start:stop])
        start = data.find(b"\xff\xda", start + 2)
    smallest = min(scans, key=len)
    return data[:end] + smallest * copies + data[end:]


def animated(fmt: str, **params: Any) -> bytes:
    """Three 32x32 frames in ``fmt``."""
    frames = [Image.new("RGB", (32, 32), colour) for colour in ("red", "green", "blue")]
    return save(frames[0], fmt, save_all=True, append_images=frames[1:], **params)


def palette_with_transparency() -> bytes:
    """A palette PNG whose index 0 is transparent (tRNS)."""
    img = Image.new("P", (40, 30), 0)
    img.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255])
    img.paste(1, (5, 5, 20, 25))
    img.paste(2, (20, 5, 35, 25))
    return save(img, "PNG", transparency=0)


def png_extreme(width: int, height: int) -> bytes:
    """A grey gradient of an extreme aspect ratio."""
    return save(gradient(width, height, "L"), "PNG")


def jpeg_exif(exif: bytes, size: tuple[int, int] = (64, 48)) -> bytes:
    """A JPEG carrying ``exif`` (an APP1 payload) and no JFIF density, so Pillow reads it."""
    return save(gradient(*size), "JPEG", quality=85, exif=exif)


def exif_orientation(value: bytes, typ: int = 3) -> bytes:
    """EXIF with only an Orientation tag of type ``typ`` holding ``value``."""
    return exif_block([(0x0112, typ, 1 if typ == 3 else len(value), value)])


def exif_bad_offsets() -> bytes:
    """EXIF whose tags point far past its end (a typical broken maker note)."""
    return exif_block(
        [
            (0x010F, 2, 4000, struct.pack("<I", 60_000)),  # Make: ASCII, 4000 bytes, out of range
            (0x0112, 3, 1, struct.pack("<H", 1)),
            (0x927C, 7, 1_000_000, struct.pack("<I", 10)),  # MakerNote: 1 MB from offset 10
        ]
    )


def exif_loop() -> bytes:
    """EXIF whose Exif sub-IFD pointer and next-IFD pointer both lead back to IFD0."""
    block = bytearray(exif_block([(0x8769, 4, 1, struct.pack("<I", 8))]))
    block[6 + 8 + 2 + 12 : 6 + 8 + 2 + 12 + 4] = struct.pack("<I", 8)  # next IFD = IFD0
    return bytes(block)


def exif_huge() -> bytes:
    """A maximal APP1 (64 KB) with 5000 tags: every one a 4-byte value, all unknown."""
    entries = [(0xC000 + i, 4, 1, struct.pack("<I", i)) for i in range(5000)]
    return exif_block(entries)


@functools.cache
def png_huge_exif() -> bytes:
    """A PNG with an 8 MB eXIf chunk: 65535 tags, each asking for 4 GB of data."""
    entries = [(0xC000 + i % 0x3FFF, 4, 0x3FFFFFFF, struct.pack("<I", 8)) for i in range(65535)]
    block = exif_block(entries, tail=bytes(8_000_000 - 65535 * 12))[6:]
    return _insert_after_ihdr(small_png(), png_chunk(b"eXIf", block))


def cmyk_jpeg(icc: bytes | None = None) -> bytes:
    """A CMYK JPEG, optionally with an ICC profile."""
    img = gradient(48, 32, "CMYK")
    return save(img, "JPEG", quality=90, **({"icc_profile": icc} if icc else {}))


def truncated(data: bytes, fraction: float = 0.5) -> bytes:
    """The first ``fraction`` of ``data``."""
    return data[: int(len(data) * fraction)]


# --- raw requests ---------------------------------------------------------------------------


def _raw(body: bytes, content_type: str | None = MULTIPART, **headers: str) -> RawRequest:
    all_headers = dict(headers)
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    return RawRequest(headers=all_headers, body=body)


def oversized_stream() -> Iterator[bytes]:
    """A valid multipart start, then 26 MB of file data in 64 KiB chunks, never finished."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode() + PNG_SIGNATURE
    chunk = bytes(64 * 1024)
    for _ in range(26_000_000 // len(chunk) + 1):
        yield chunk


def duplicate_files() -> RawRequest:
    """Two file parts."""
    one = multipart((), small_png())
    two = multipart((), small_png())
    return _raw(one[: -len(f"--{BOUNDARY}--\r\n")] + two)


def boundary_mismatch() -> RawRequest:
    """The header names one boundary, the body uses another."""
    body = multipart((), small_png()).replace(BOUNDARY.encode(), b"someotherboundary")
    return _raw(body)


def no_closing_boundary() -> RawRequest:
    """The body stops in the middle of the file part."""
    return _raw(truncated(multipart((), small_png()), 0.6))


def garbage_part_headers() -> RawRequest:
    """A part whose header block is not headers at all."""
    body = (
        f"--{BOUNDARY}\r\n\x00\x01 no colon here \xff\r\n\r\n".encode("latin-1")
        + small_png()
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return _raw(body)


def too_many_fields() -> RawRequest:
    """Twenty fields before the file."""
    fields = tuple((f"field{i}", "x") for i in range(20))
    return _raw(multipart(fields, small_png()))


def file_under_other_name() -> RawRequest:
    """The image is sent as 'image', not 'file'."""
    return _raw(multipart((), small_png(), file_field="image"))


def header_bomb() -> RawRequest:
    """A part whose Content-Disposition header is 1 MB long."""
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
        + b"A" * 1_000_000
        + b'.png"\r\nContent-Type: image/png\r\n\r\n'
        + small_png()
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return _raw(body)


# --- the corpus ---------------------------------------------------------------------------


def _png_with(fields: tuple[tuple[str, str], ...], name: str, what: str, code: str) -> Entry:
    return Entry(name, what, 422, code, data=small_png, fields=fields)


CORPUS: tuple[Entry, ...] = (
    # Decompression bombs, declared (the header lies) and real (the data really decodes).
    Entry(
        "png-bomb-declared.png",
        "PNG, IHDR 100000x100000, a 12-byte IDAT",
        413,
        "image_too_large",
        data=png_declared_bomb,
    ),
    Entry(
        "png-bomb-real.png",
        "PNG, 20000x20000 black, really decodes (about 50 KB)",
        413,
        "image_too_large",
        data=png_real_bomb,
    ),
    Entry(
        "png-just-over-limit.png",
        "PNG 4001x4000 (16.004 MP > 16 MP)",
        413,
        "image_too_large",
        data=png_just_over,
    ),
    Entry(
        "png-at-limit-scale4.png",
        "PNG 4000x4000 (= 16 MP) at default scale 4 (256 MP out)",
        422,
        "output_too_large",
        data=png_at_limit,
    ),
    Entry(
        "png-at-limit-scale2.png",
        "PNG 4000x4000 at scale 2 (= 64 MP out)",
        202,
        data=png_at_limit,
        fields=(("scale", "2"),),
    ),
    Entry(
        "png-ztxt-bomb.png",
        "PNG with a zTXt chunk inflating to 20 MB",
        422,
        "undecodable_image",
        data=png_ztxt_bomb,
    ),
    Entry(
        "png-iccp-bomb.png",
        "PNG with an iCCP profile inflating to 20 MB",
        422,
        "undecodable_image",
        data=png_iccp_bomb,
    ),
    Entry(
        "png-overlong-idat.png",
        "PNG 64x64 whose IDAT inflates to 30 MB (4 KB used)",
        202,
        data=png_overlong_idat,
        fields=CHEAP,
        end_to_end=True,
    ),
    Entry(
        "gif-bomb-declared.gif",
        "GIF, screen 65535x65535, one 1x1 frame",
        413,
        "image_too_large",
        data=lambda: gif_file((65535, 65535), (1, 1)),
        content_type="image/gif",
    ),
    Entry(
        "gif-bomb-frame.gif",
        "GIF, screen 1x1, frame declares 65535x65535",
        413,
        "image_too_large",
        data=lambda: gif_file((1, 1), (65535, 65535)),
        content_type="image/gif",
    ),
    Entry(
        "gif-bomb-real.gif",
        "GIF 5000x5000 one colour (25 MP in about 20 KB)",
        413,
        "image_too_large",
        data=gif_real_bomb,
        content_type="image/gif",
    ),
    Entry(
        "webp-bomb-declared.webp",
        "WebP, VP8 header patched to 16383x16383",
        413,
        "image_too_large",
        data=lambda: webp_lossy_with_size(16383, 16383),
        content_type="image/webp",
    ),
    Entry(
        "webp-bomb-real.webp",
        "lossless WebP 4100x4100 one colour (16.8 MP in ~40 bytes)",
        413,
        "image_too_large",
        data=webp_real_bomb,
        content_type="image/webp",
    ),
    Entry(
        "jpeg-bomb-declared.jpg",
        "JPEG, SOF0 patched to 65500x65500",
        413,
        "image_too_large",
        data=lambda: jpeg_with_size(65500, 65500),
        content_type="image/jpeg",
    ),
    Entry(
        "bmp-bomb-declared.bmp",
        "BMP header 60000x60000, 16 bytes of pixels",
        413,
        "image_too_large",
        data=lambda: bmp_declared(60000, 60000),
        content_type="image/bmp",
    ),
    Entry(
        "bmp-bomb-rle.bmp",
        "RLE8 BMP 5000x5000 whose data is 'end of bitmap' (2 bytes)",
        413,
        "image_too_large",
        data=lambda: bmp_rle8(5000, 5000),
        content_type="image/bmp",
    ),
    Entry(
        "tiff-bomb-declared.tif",
        "TIFF, ImageWidth/Length 100000x100000",
        413,
        "image_too_large",
        data=lambda: tiff_file(100_000, 100_000),
        content_type="image/tiff",
    ),
    # Cheap to send, expensive to parse: millions of tiny structures.
    Entry(
        "png-million-chunks.png",
        "PNG with 1,000,000 empty ancillary chunks (12 MB)",
        422,
        "undecodable_image",
        data=lambda: png_many_chunks(1_000_000),
    ),
    Entry(
        "png-10k-chunks.png",
        "PNG with 10,000 empty ancillary chunks",
        202,
        data=lambda: png_many_chunks(10_000),
        fields=CHEAP,
    ),
    Entry(
        "gif-million-subblocks.gif",
        "1x1 GIF after a comment of 1,000,000 one-byte sub-blocks (2 MB)",
        422,
        "undecodable_image",
        data=lambda: gif_comment_subblocks(1_000_000),
        content_type="image/gif",
    ),
    Entry(
        "gif-100k-subblocks.gif",
        "1x1 GIF after a comment of 100,000 one-byte sub-blocks",
        202,
        data=lambda: gif_comment_subblocks(100_000),
        fields=CHEAP,
        content_type="image/gif",
    ),
    Entry(
        "tiff-million-strips.tif",
        "TIFF 1x1,000,000, one strip per row (9 MB)",
        422,
        "undecodable_image",
        data=lambda: tiff_row_strips(1_000_000),
        content_type="image/tiff",
    ),
    Entry(
        "tiff-20000-strips.tif",
        "TIFF 1x20000, one strip per row",
        202,
        data=lambda: tiff_row_strips(20_000),
        fields=CHEAP,
        content_type="image/tiff",
    ),
    Entry(
        "jpeg-10000-scans.jpg",
        "progressive JPEG 2000x2000 whose 14-byte scan is repeated 10,000 times (0.2 MB)",
        422,
        "undecodable_image",
        data=lambda: jpeg_many_scans(2000, 10_000),
        content_type="image/jpeg",
    ),
    Entry(
        "jpeg-progressive.jpg",
        "an ordinary progressive JPEG",
        202,
        data=lambda: jpeg_many_scans(64, 0),
        fields=CHEAP,
        content_type="image/jpeg",
        end_to_end=True,
    ),
    # Truncated and empty.
    Entry(
        "jpeg-truncated.jpg",
        "256x256 JPEG cut in half",
        422,
        "undecodable_image",
        data=lambda: truncated(noisy_jpeg()),
        content_type="image/jpeg",
    ),
    Entry(
        "jpeg-header-only.jpg",
        "the first 600 bytes of a JPEG (no scan)",
        422,
        "undecodable_image",
        data=lambda: noisy_jpeg()[:600],
        content_type="image/jpeg",
    ),
    Entry(
        "png-truncated.png",
        "256x256 PNG cut in half",
        422,
        "undecodable_image",
        data=lambda: truncated(noisy_png()),
    ),
    Entry(
        "png-no-idat.png",
        "PNG signature and IHDR only",
        422,
        "undecodable_image",
        data=lambda: noisy_png()[:33],
    ),
    Entry(
        "png-bad-ihdr-crc.png",
        "PNG whose IHDR checksum is wrong",
        422,
        "undecodable_image",
        data=lambda: small_png()[:29] + b"\0\0\0\0" + small_png()[33:],
    ),
    Entry("empty.png", "zero bytes", 422, "empty_file", data=lambda: b""),
    Entry("one-byte.png", "one byte (0x89)", 415, "unsupported_format", data=lambda: b"\x89"),
    # Not images, posing as PNG (name and Content-Type).
    Entry(
        "text.png",
        "plain text",
        415,
        "unsupported_format",
        data=lambda: b"hello, I am an image\n" * 10,
    ),
    Entry("html.png", "an HTML page with a script", 415, "unsupported_format", data=lambda: HTML),
    Entry("svg.png", "an SVG with a script", 415, "unsupported_format", data=lambda: SVG),
    Entry("pdf.png", "a one-page PDF", 415, "unsupported_format", data=minimal_pdf),
    Entry(
        "eps.png",
        "PostScript (Pillow would run Ghostscript on it)",
        415,
        "unsupported_format",
        data=lambda: EPS,
    ),
    Entry("zip.png", "a ZIP archive", 415, "unsupported_format", data=zip_bytes),
    Entry(
        "ico.png",
        "a real ICO image (a format Pillow reads, not accepted here)",
        415,
        "unsupported_format",
        data=lambda: save(gradient(32, 32), "ICO"),
    ),
    Entry(
        "png-magic-then-html.png",
        "the PNG signature followed by HTML",
        422,
        "undecodable_image",
        data=lambda: PNG_SIGNATURE + HTML,
    ),
    # Polyglots: valid images that are something else too. Accepted; the worker re-encodes.
    Entry(
        "polyglot-png-zip.png",
        "valid PNG with a ZIP appended",
        202,
        data=lambda: small_png() + zip_bytes(),
        fields=CHEAP,
        end_to_end=True,
    ),
    Entry(
        "polyglot-png-html.png",
        "valid PNG with HTML after IEND",
        202,
        data=lambda: small_png() + HTML,
        fields=CHEAP,
    ),
    Entry(
        "polyglot-gif-js.gif",
        "GIF 10799x1 that is also JavaScript",
        202,
        data=gif_js_polyglot,
        fields=CHEAP,
        content_type="image/gif",
    ),
    Entry(
        "png-script-in-text.png",
        "PNG with HTML/PHP in a tEXt chunk",
        202,
        data=lambda: _insert_before_iend(
            small_png(), png_chunk(b"tEXt", b"Comment\x00<?php system($_GET['c']); ?>" + HTML)
        ),
        fields=CHEAP,
    ),
    # Animation.
    Entry(
        "animated.gif",
        "animated GIF, 3 frames",
        422,
        "animated_image_not_supported",
        data=lambda: animated("GIF", duration=100, loop=0),
        content_type="image/gif",
    ),
    Entry(
        "animated.png",
        "APNG, 3 frames",
        422,
        "animated_image_not_supported",
        data=lambda: animated("PNG", duration=100),
    ),
    Entry(
        "animated.webp",
        "animated WebP, 3 frames",
        422,
        "animated_image_not_supported",
        data=lambda: animated("WEBP", duration=100, lossless=True),
        content_type="image/webp",
    ),
    Entry(
        "gif-150k-frames.gif",
        "GIF of 150,000 one-pixel frames (2 MB)",
        422,
        "animated_image_not_supported",
        data=gif_many_frames,
        content_type="image/gif",
    ),
    Entry(
        "multipage.tif",
        "TIFF with 3 pages",
        422,
        "animated_image_not_supported",
        data=lambda: animated("TIFF"),
        content_type="image/tiff",
    ),
    # Unusual but valid pixels.
    Entry(
        "jpeg-mpo.jpg",
        "multi-picture JPEG (MPO: a photo plus a gain map or preview, as phones write)",
        202,
        data=lambda: save(gradient(64, 48), "MPO", save_all=True, append_images=[gradient(32, 24)]),
        fields=CHEAP,
        content_type="image/jpeg",
        end_to_end=True,
    ),
    Entry(
        "cmyk.jpg",
        "CMYK JPEG",
        202,
        data=cmyk_jpeg,
        fields=CHEAP,
        content_type="image/jpeg",
        end_to_end=True,
    ),
    Entry(
        "cmyk-corrupt-icc.jpg",
        "CMYK JPEG whose CMYK profile is garbage",
        202,
        data=lambda: cmyk_jpeg(fake_icc(b"CMYK")),
        fields=CHEAP,
        content_type="image/jpeg",
        end_to_end=True,
    ),
    Entry(
        "rgb16.png",
        "16-bit RGB PNG",
        202,
        data=lambda: png16(40, 30),
        fields=CHEAP,
        end_to_end=True,
    ),
    Entry(
        "rgba16.png", "16-bit RGBA PNG", 202, data=lambda: png16(40, 30, alpha=True), fields=CHEAP
    ),
    Entry(
        "grey16.png",
        "16-bit grey PNG",
        202,
        data=lambda: save(Image.fromarray(np.full((30, 40), 40000, np.uint16)), "PNG"),
        fields=CHEAP,
    ),
    Entry(
        "palette-transparent.png",
        "palette PNG with a transparent index (tRNS)",
        202,
        data=palette_with_transparency,
        fields=CHEAP,
        end_to_end=True,
    ),
    Entry(
        "grey-alpha.png",
        "grey + alpha PNG",
        202,
        data=lambda: save(gradient(40, 30, "LA"), "PNG"),
        fields=CHEAP,
    ),
    Entry(
        "bilevel.bmp",
        "1-bit BMP",
        202,
        data=lambda: save(gradient(40, 30, "1"), "BMP"),
        fields=CHEAP,
        content_type="image/bmp",
    ),
    Entry(
        "float.tif",
        "32-bit float TIFF",
        202,
        data=lambda: save(gradient(40, 30, "F"), "TIFF"),
        fields=CHEAP,
        content_type="image/tiff",
    ),
    Entry(
        "rgba.webp",
        "RGBA WebP",
        202,
        data=lambda: save(gradient(40, 30, "RGBA"), "WEBP"),
        fields=CHEAP,
        content_type="image/webp",
    ),
    Entry(
        "1x1.png",
        "PNG 1x1",
        202,
        data=lambda: save(Image.new("RGB", (1, 1), "red"), "PNG"),
        fields=CHEAP,
        end_to_end=True,
    ),
    Entry(
        "1x1.gif",
        "hand-written GIF 1x1",
        202,
        data=lambda: gif_file((1, 1), (1, 1)),
        fields=CHEAP,
        content_type="image/gif",
    ),
    # Extreme aspect ratios.
    Entry(
        "1x20000.png",
        "PNG 1 wide, 20000 high",
        202,
        data=lambda: png_extreme(1, 20000),
        fields=CHEAP,
    ),
    Entry(
        "20000x1.png",
        "PNG 20000 wide, 1 high",
        202,
        data=lambda: png_extreme(20000, 1),
        fields=CHEAP,
        end_to_end=True,
    ),
    Entry(
        "20000x1-scale8.png",
        "PNG 20000x1 at scale 8 (160000x8 out)",
        202,
        data=lambda: png_extreme(20000, 1),
        fields=(("scale", "8"),),
    ),
    Entry(
        "20000x1-to-jpeg.png",
        "PNG 20000x1 at scale 4 to JPEG (80000 wide; JPEG max 65535)",
        422,
        "output_too_large",
        data=lambda: png_extreme(20000, 1),
        fields=(("output_format", "jpeg"),),
    ),
    Entry(
        "panorama-to-webp.png",
        "PNG 5000x500 at scale 4 to WebP (20000 wide; WebP max 16383)",
        422,
        "output_too_large",
        data=lambda: png_extreme(5000, 500),
        fields=(("output_format", "webp"),),
    ),
    # Metadata: corrupt, hostile or huge.
    Entry(
        "jpeg-corrupt-icc.jpg",
        "JPEG whose ICC profile is random bytes",
        202,
        data=lambda: save(gradient(64, 48), "JPEG", icc_profile=bytes(range(256)) * 3),
        fields=CHEAP,
        content_type="image/jpeg",
    ),
    Entry(
        "jpeg-fake-rgb-icc.jpg",
        "JPEG, ICC header says RGB, the rest is garbage",
        202,
        data=lambda: save(gradient(64, 48), "JPEG", icc_profile=fake_icc(b"RGB ")),
        fields=CHEAP,
        content_type="image/jpeg",
        end_to_end=True,
    ),
    Entry(
        "png-iccp-not-zlib.png",
        "PNG whose iCCP data is not zlib",
        202,
        data=lambda: _insert_after_ihdr(small_png(), png_chunk(b"iCCP", b"x\x00\x00garbage")),
        fields=CHEAP,
    ),
    Entry(
        "jpeg-exif-garbage.jpg",
        "JPEG, APP1 'Exif' then random bytes",
        202,
        data=lambda: jpeg_exif(b"Exif\x00\x00" + bytes(range(200))),
        fields=CHEAP,
        content_type="image/jpeg",
    ),
    Entry(
        "jpeg-exif-bad-offsets.jpg",
        "JPEG, EXIF tags pointing past the end (maker note)",
        202,
        data=lambda: jpeg_exif(exif_bad_offsets()),
        fields=CHEAP,
        content_type="image/jpeg",
        end_to_end=True,
    ),
    Entry(
        "jpeg-exif-loop.jpg",
        "JPEG, EXIF IFDs pointing back at themselves",
        202,
        data=lambda: jpeg_exif(exif_loop()),
        fields=CHEAP,
        content_type="image/jpeg",
    ),
    Entry(
        "jpeg-exif-orientation-99.jpg",
        "JPEG, EXIF Orientation 99",
        202,
        data=lambda: jpeg_exif(exif_orientation(struct.pack("<H", 99))),
        fields=CHEAP,
        content_type="image/jpeg",
    ),
    Entry(
        "jpeg-exif-orientation-text.jpg",
        "JPEG, EXIF Orientation as text",
        202,
        data=lambda: jpeg_exif(exif_orientation(b"6\x00", typ=2)),
        fields=CHEAP,
        content_type="image/jpeg",
    ),
    Entry(
        "jpeg-exif-rotated.jpg",
        "JPEG 64x48, EXIF Orientation 6 (upright: 48x64)",
        202,
        data=lambda: jpeg_exif(exif_orientation(struct.pack("<H", 6))),
        fields=CHEAP,
        content_type="image/jpeg",
        end_to_end=True,
    ),
    Entry(
        "jpeg-exif-huge.jpg",
        "JPEG with a full 64 KB APP1 of 5000 EXIF tags",
        202,
        data=lambda: jpeg_exif(exif_huge()),
        fields=CHEAP,
        content_type="image/jpeg",
    ),
    Entry(
        "png-exif-bad-header.png",
        "PNG whose eXIf block has a broken TIFF header",
        202,
        data=lambda: _insert_after_ihdr(
            small_png(), png_chunk(b"eXIf", b"IX*\x00" + struct.pack("<I", 8) + bytes(40))
        ),
        fields=CHEAP,
        end_to_end=True,
    ),
    Entry(
        "png-exif-8mb.png",
        "PNG, 8 MB eXIf: 65535 tags each asking for 4 GB",
        202,
        data=png_huge_exif,
        fields=CHEAP,
    ),
    # Bad option values (on a good image).
    _png_with((("model", "gpt-5"),), "model-unknown", "model=gpt-5", "unknown_model"),
    _png_with(
        (("model", "x" * 1000),), "model-1000-chars", "model of 1000 characters", "unknown_model"
    ),
    _png_with(
        (("model", "../../etc/passwd"),), "model-path", "model=../../etc/passwd", "unknown_model"
    ),
    _png_with((("scale", "0"),), "scale-0", "scale=0", "unsupported_scale"),
    _png_with((("scale", "-1"),), "scale-minus-1", "scale=-1", "unsupported_scale"),
    _png_with((("scale", "99"),), "scale-99", "scale=99", "unsupported_scale"),
    _png_with((("scale", "abc"),), "scale-abc", "scale=abc", "invalid_scale"),
    _png_with((("scale", "1e9"),), "scale-1e9", "scale=1e9", "invalid_scale"),
    _png_with((("scale", "2.5"),), "scale-2.5", "scale=2.5", "invalid_scale"),
    _png_with((("scale", "9" * 40),), "scale-40-digits", "scale of 40 nines", "unsupported_scale"),
    _png_with(
        (("scale", "\u0663"),),
        "scale-arabic-digit",
        "scale=\u0663 (Arabic-Indic 3)",
        "invalid_scale",
    ),
    _png_with((("scale", "1_0"),), "scale-underscore", "scale=1_0", "invalid_scale"),
    _png_with(
        (("output_format", "gif"),), "format-gif", "output_format=gif", "invalid_output_format"
    ),
    _png_with(
        (("output_format", "png\x00.exe"),),
        "format-nul",
        "output_format with a NUL",
        "invalid_output_format",
    ),
    _png_with((("quality", "0"),), "quality-0", "quality=0", "invalid_quality"),
    _png_with((("quality", "101"),), "quality-101", "quality=101", "invalid_quality"),
    _png_with((("quality", "high"),), "quality-high", "quality=high", "invalid_quality"),
    _png_with(
        (("face_enhance", "maybe"),), "face-maybe", "face_enhance=maybe", "invalid_face_enhance"
    ),
    _png_with(
        (("face_enhance", "true"),),
        "face-true",
        "face_enhance=true (no face model)",
        "face_enhance_unavailable",
    ),
    _png_with(
        (("callback_url", "http://169.254.169.254/"),),
        "unknown-field",
        "an unknown field callback_url",
        "unknown_option",
    ),
    _png_with(
        (("scale", "2" * 5000),), "field-5000-chars", "a 5000-character field", "invalid_request"
    ),
    _png_with(
        (("scale", "2"), ("scale", "8")),
        "duplicate-field",
        "scale sent twice (2, 8)",
        "invalid_request",
    ),
    Entry(
        "traversal-filename",
        "filename ../../../etc/cron.d/x.png (names are never used)",
        202,
        data=small_png,
        filename="../../../etc/cron.d/x.png",
        fields=CHEAP,
    ),
    Entry(
        "lying-content-type",
        "a real PNG sent as application/x-msdownload",
        202,
        data=small_png,
        content_type="application/x-msdownload",
        fields=CHEAP,
    ),
    # Framing of the request itself.
    Entry("duplicate-file-parts", "two 'file' parts", 422, "invalid_request", raw=duplicate_files),
    Entry(
        "too-many-fields", "20 fields before the file", 422, "invalid_request", raw=too_many_fields
    ),
    Entry(
        "file-under-other-name",
        "the image in a part named 'image'",
        422,
        "missing_file",
        raw=file_under_other_name,
    ),
    Entry(
        "boundary-mismatch",
        "body framed with another boundary than declared",
        422,
        "invalid_request",
        raw=boundary_mismatch,
    ),
    Entry(
        "no-closing-boundary",
        "body cut inside the file part",
        422,
        "missing_file",
        raw=no_closing_boundary,
    ),
    Entry(
        "garbage-part-headers",
        "part headers that are not headers",
        422,
        "invalid_request",
        raw=garbage_part_headers,
    ),
    Entry(
        "header-1mb",
        "a 1 MB part header (python-multipart caps headers)",
        422,
        "invalid_request",
        raw=header_bomb,
    ),
    Entry(
        "empty-multipart",
        "multipart/form-data with an empty body",
        422,
        "missing_file",
        raw=lambda: _raw(b""),
    ),
    Entry(
        "no-boundary",
        "multipart/form-data without a boundary",
        415,
        "unsupported_media_type",
        raw=lambda: _raw(multipart((), small_png()), "multipart/form-data"),
    ),
    Entry(
        "json-body",
        "a JSON body",
        415,
        "unsupported_media_type",
        raw=lambda: _raw(b'{"file": "iVBORw0KGgo="}', "application/json"),
    ),
    Entry(
        "urlencoded",
        "an application/x-www-form-urlencoded body",
        415,
        "unsupported_media_type",
        raw=lambda: _raw(b"file=%89PNG&scale=2", "application/x-www-form-urlencoded"),
    ),
    Entry(
        "no-content-type",
        "no Content-Type header",
        415,
        "unsupported_media_type",
        raw=lambda: _raw(multipart((), small_png()), None),
    ),
    Entry(
        "content-length-1tb",
        "Content-Length: 10^12 (refused before reading)",
        413,
        "upload_too_large",
        raw=lambda: _raw(multipart((), small_png()), **{"Content-Length": str(10**12)}),
    ),
    Entry(
        "content-length-abc",
        "Content-Length: abc",
        400,
        "invalid_request",
        raw=lambda: _raw(multipart((), small_png()), **{"Content-Length": "abc"}),
    ),
    Entry(
        "oversized-25mb",
        "26 MB file with an honest Content-Length",
        413,
        "upload_too_large",
        raw=lambda: _raw(multipart((), PNG_SIGNATURE + bytes(26_000_000))),
    ),
    Entry(
        "oversized-chunked",
        "26 MB streamed chunked, no Content-Length",
        413,
        "upload_too_large",
        raw=lambda: RawRequest(headers={"Content-Type": MULTIPART}, chunks=oversized_stream),
    ),
)


def by_name(name: str) -> Entry:
    """The corpus entry called ``name``."""
    for entry in CORPUS:
        if entry.name == name:
            return entry
    raise KeyError(name)
