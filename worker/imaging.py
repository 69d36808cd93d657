"""Decoding uploads into arrays for the engine, and encoding results, faithfully.

Pure functions over bytes and arrays (no storage, no model). What happens to an upload, with
the words the job report uses (``kept`` / ``converted`` / ``dropped``):

- EXIF orientation is applied to the pixels (converted ``exif_orientation_applied``).
- Alpha is kept at the input's depth (kept ``alpha``), upscaled bicubically or by the model
  (:func:`upscale_alpha`); JPEG has no alpha: flattened onto white
  (converted ``alpha_flattened_on_white``).
- Grayscale stays grayscale in PNG and JPEG (kept ``grayscale``); WebP has no grey mode
  (converted ``grayscale_to_rgb``).
- 16-bit PNG gives 16-bit PNG (kept ``16bit``): the model runs at 8 bits, and the input's
  low-order bits are restored by bicubic upscaling of its residual (a note says so). Other
  output formats are 8-bit (converted ``16bit_to_8bit``).
- The ICC profile is carried byte-identical to PNG (iCCP), JPEG (APP2) and WebP (ICCP)
  (kept ``icc_profile``); a profile that does not describe the output's colours is dropped.
- CMYK becomes sRGB through its embedded profile (converted ``cmyk_to_srgb_icc``), else by
  Pillow's formula (``cmyk_to_rgb``); Pillow's decoder un-inverts Adobe's inverted CMYK JPEGs.
- Palette images become RGB, or RGBA when they have transparency (``palette_to_rgb``).
- Metadata is never written to the result; what was there is listed as dropped
  (``exif``, ``gps``, ``serial_number``, ``comment``, ``xmp``, ``iptc``; see
  ``worker.metadata``).

Hostile or broken uploads (see ``tests/hostile``): only the formats the gateway accepts are
opened (never, say, PostScript, which Pillow would hand to Ghostscript); an EXIF block that
cannot be parsed is dropped (orientation 1) rather than failing a decodable image; an ICC
profile that LittleCMS cannot load is dropped rather than copied into the result, and a CMYK
image with such a profile is converted by the formula. Pillow's metadata warnings are
silenced; its decompression-bomb warning is an error.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image, ImageCms

from shared.formats import INPUT_FORMATS, OUTPUT_FORMATS
from worker import metadata, png16

AlphaMode = Literal["bicubic", "model"]
PRECISION_NOTE = (
    "precision: the model ran at 8 bits; the 16-bit output adds the input's low-order bits "
    "back by bicubic interpolation"
)
_SRGB = ImageCms.createProfile("sRGB")


class ImageDecodeError(Exception):
    """Raised when a stored input cannot be decoded (it passed the gateway, so it is rare)."""


@dataclass
class Fidelity:
    """What was kept, converted and dropped; filled by :func:`decode` and :func:`encode`."""

    kept: list[str] = field(default_factory=list)
    converted: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, kind: Literal["kept", "converted", "dropped", "notes"], item: str) -> None:
        """Record ``item`` under ``kind`` once."""
        entries: list[str] = getattr(self, kind)
        if item not in entries:
            entries.append(item)

    def copy(self) -> Fidelity:
        """An independent copy (encoding adds to a copy, never to the decoder's findings)."""
        return Fidelity(list(self.kept), list(self.converted), list(self.dropped), list(self.notes))


@dataclass(frozen=True)
class Encoded:
    """An encoded result and the whole account of fidelity: the decoder's plus the encoder's."""

    data: bytes
    fidelity: Fidelity


@dataclass
class DecodedImage:
    """An upload ready for the engine: 8-bit RGB pixels plus what must be restored afterwards."""

    rgb: np.ndarray  # uint8 H x W x 3, what the model sees (grey repeated in 3 channels)
    alpha: np.ndarray | None  # H x W, uint8 or uint16 like the input
    grayscale: bool
    bit_depth: int  # 8 or 16
    residual: np.ndarray | None  # int16: a 16-bit input minus 257 x its 8-bit version
    icc_profile: bytes | None
    fidelity: Fidelity


def decode(data: bytes) -> DecodedImage:
    """Decode an upload into 8-bit RGB for the model, upright, with what to restore later."""
    try:
        with warnings.catch_warnings():
            # Pillow's decompression-bomb warning is a refusal here, as in the gateway; its
            # metadata warnings ("Tag data larger than file", one per bad EXIF tag) are noise.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=INPUT_FORMATS) as img:
                img.load()  # PNG text chunks after the pixels are read only now
                return _decode_opened(img, data)
    except Exception as exc:
        raise ImageDecodeError(type(exc).__name__) from exc


def _decode_opened(img: Image.Image, data: bytes) -> DecodedImage:
    fidelity = Fidelity()
    try:
        found = metadata.personal_metadata(img)
        turn = metadata.orientation(img)
    except Exception:  # an EXIF block Pillow cannot parse: the pixels are still good
        found, turn = ["exif"], 1
    for item in found:
        fidelity.add("dropped", item)
    icc: bytes | None = img.info.get("icc_profile") or None
    if icc and not _icc_loads(icc):
        fidelity.add("dropped", "icc_profile")  # corrupt: copying it would break the result
        icc = None
    if png16.is_16bit_png(data):
        png = png16.read(data)
        colour, alpha, grey = png.colour, png.alpha, png.grayscale
    else:
        colour, alpha, grey, icc = _pixels(img, icc, fidelity)
    if turn != 1:
        colour = metadata.apply_orientation(colour, turn)
        alpha = None if alpha is None else metadata.apply_orientation(alpha, turn)
        fidelity.add("converted", "exif_orientation_applied")
    if icc and metadata.icc_colour_space(icc) != ("GRAY" if grey else "RGB"):
        fidelity.add("dropped", "icc_profile")  # describes other colours than these pixels
        icc = None
    eight, residual = png16.split_depth(colour)
    rgb = np.repeat(eight[:, :, None], 3, axis=2) if grey else eight
    return DecodedImage(
        rgb=np.ascontiguousarray(rgb),
        alpha=None if alpha is None else np.ascontiguousarray(alpha),
        grayscale=grey,
        bit_depth=16 if residual is not None else 8,
        residual=residual,
        icc_profile=icc,
        fidelity=fidelity,
    )


def _icc_loads(profile: bytes) -> bool:
    """True when LittleCMS can load ``profile`` (a profile it cannot load is garbage)."""
    try:
        ImageCms.ImageCmsProfile(io.BytesIO(profile))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return False
    return True


def _pixels(
    img: Image.Image, icc: bytes | None, fidelity: Fidelity
) -> tuple[np.ndarray, np.ndarray | None, bool, bytes | None]:
    """(colour, alpha, grayscale, icc) from a Pillow image: colour HxW or HxWx3."""
    mode = img.mode
    if mode == "CMYK":
        return _from_cmyk(img, icc, fidelity), None, False, None
    if mode in ("P", "PA"):
        fidelity.add("converted", "palette_to_rgb")
        has_alpha = mode == "PA" or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
    elif mode == "1":
        img = img.convert("L")
    elif mode == "La":
        img = img.convert("LA")
    mode = img.mode
    if mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16), None, True, icc
    if mode in ("I", "F"):
        values = np.asarray(img, dtype=np.float64)
        top = 65535 if values.max(initial=0) > 255 else 255
        dtype = np.uint16 if top > 255 else np.uint8
        return np.clip(np.rint(values), 0, top).astype(dtype), None, True, icc
    if mode in ("L", "LA"):
        grey = np.asarray(img)
        if grey.ndim == 3:
            return grey[:, :, 0], grey[:, :, 1], True, icc
        return grey, None, True, icc
    if "A" in img.getbands() or mode == "RGBa":
        rgba = np.asarray(img.convert("RGBA"))
        return rgba[:, :, :3], rgba[:, :, 3], False, icc
    return np.asarray(img.convert("RGB")), None, False, icc


def _from_cmyk(img: Image.Image, icc: bytes | None, fidelity: Fidelity) -> np.ndarray:
    """CMYK -> RGB through the embedded CMYK profile when there is a usable one."""
    if icc and metadata.icc_colour_space(icc) == "CMYK":
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(img, source, _SRGB, outputMode="RGB")
            if converted is not None:
                fidelity.add("converted", "cmyk_to_srgb_icc")
                return np.asarray(converted)
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a profile LittleCMS cannot use: the generic formula it is
    if icc:
        fidelity.add("dropped", "icc_profile")
    fidelity.add("converted", "cmyk_to_rgb")
    return np.asarray(img.convert("RGB"))


def upscale_alpha(
    decoded: DecodedImage,
    size: tuple[int, int],
    mode: AlphaMode = "bicubic",
    model: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray | None:
    """The alpha channel at ``size`` (width, height), at its own depth; None without alpha.

    ``mode="model"`` runs the alpha, repeated into 3 channels, through ``model`` (the same
    scaling as the colour) and keeps one channel; ``"bicubic"`` interpolates.
    """
    alpha = decoded.alpha
    if alpha is None:
        return None
    if mode == "bicubic" or model is None:
        return np.asarray(Image.fromarray(alpha).resize(size, Image.Resampling.BICUBIC))
    eight, residual = png16.split_depth(alpha)
    # One channel, not the mean: a float copy of the whole output would cost 8x its size.
    out = np.ascontiguousarray(model(np.repeat(eight[:, :, None], 3, axis=2))[:, :, 1])
    return out if residual is None else png16.restore_depth(out, residual)


def encode(
    pixels: np.ndarray,
    alpha: np.ndarray | None,
    decoded: DecodedImage,
    output_format: str,
    *,
    quality: int | None = None,
) -> Encoded:
    """Encode the model's RGB output with the upscaled ``alpha``, without input metadata.

    Restores grayscale, 16-bit depth and the ICC profile where the format allows; the result
    carries what was kept or converted (``decoded`` is left as it was).
    """
    fidelity = decoded.fidelity.copy()
    colour = np.asarray(Image.fromarray(pixels).convert("L")) if decoded.grayscale else pixels
    icc = decoded.icc_profile
    if decoded.bit_depth == 16 and decoded.residual is not None:
        if output_format == "png":
            return Encoded(_encode_png16(colour, alpha, decoded, fidelity), fidelity)
        fidelity.add("converted", "16bit_to_8bit")
    img = Image.fromarray(colour)
    if alpha is not None:
        if output_format == "jpeg":
            # JPEG has no alpha: flatten onto white rather than lose the shape to black.
            background = Image.new(img.mode, img.size, "white")
            background.paste(img, mask=Image.fromarray(png16.to_8bit(alpha)))
            img = background
            fidelity.add("converted", "alpha_flattened_on_white")
        else:
            img.putalpha(Image.fromarray(png16.to_8bit(alpha)))
            fidelity.add("kept", "alpha")
    if img.mode in ("L", "LA") and output_format == "webp":
        img = img.convert("RGBA" if img.mode == "LA" else "RGB")
        fidelity.add("converted", "grayscale_to_rgb")
        if icc:
            fidelity.add("dropped", "icc_profile")  # a grey profile cannot describe RGB
            icc = None
    elif img.mode in ("L", "LA"):
        fidelity.add("kept", "grayscale")
    options: dict[str, object] = {"icc_profile": icc} if icc else {}
    if icc:
        fidelity.add("kept", "icc_profile")
    buf = io.BytesIO()
    if output_format == "png":
        img.save(buf, "PNG", compress_level=4, **options)  # lossless: quality does not apply
    elif output_format == "jpeg":
        q = OUTPUT_FORMATS["jpeg"].quality(quality)
        img.save(buf, "JPEG", quality=q, subsampling=0 if q >= 90 else 2, **options)
    elif output_format == "webp":
        q = OUTPUT_FORMATS["webp"].quality(quality)
        img.save(buf, "WEBP", quality=q, method=4, **options)
    else:
        raise ValueError(f"unknown output format {output_format!r}")
    return Encoded(buf.getvalue(), fidelity)


def _encode_png16(
    colour: np.ndarray, alpha: np.ndarray | None, decoded: DecodedImage, fidelity: Fidelity
) -> bytes:
    assert decoded.residual is not None
    fidelity.add("kept", "16bit")
    fidelity.add("notes", PRECISION_NOTE)
    if decoded.grayscale:
        fidelity.add("kept", "grayscale")
    if alpha is not None:
        fidelity.add("kept", "alpha")
        if alpha.dtype == np.uint8:
            alpha = alpha.astype(np.uint16) * np.uint16(257)
    if decoded.icc_profile:
        fidelity.add("kept", "icc_profile")
    colour16 = png16.restore_depth(colour, decoded.residual)
    return png16.write(colour16, alpha, icc_profile=decoded.icc_profile)
