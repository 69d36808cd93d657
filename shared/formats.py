"""Image formats and the pixel guard: one home for what the services must agree on.

The gateway accepts :data:`INPUT_FORMATS` (sniffed from the content), the worker decodes
exactly those, and both encode and serve :data:`OUTPUT_FORMATS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from PIL import Image

#: Formats an upload may be in, as Pillow names them; nothing else is ever opened.
INPUT_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")

OutputFormatName = Literal["png", "jpeg", "webp"]


@dataclass(frozen=True)
class OutputFormat:
    """A format results can be delivered in."""

    name: OutputFormatName
    media_type: str
    extension: str
    #: The longest side the format can encode (WebP stores 14 bits, JPEG 16).
    max_side: int
    #: Quality when the client gives none (None: lossless, quality does not apply).
    default_quality: int | None

    def quality(self, requested: int | None) -> int:
        """The encoder quality for a lossy format: the client's, or the default."""
        if requested is not None:
            return requested
        if self.default_quality is None:
            raise ValueError(f"{self.name} is lossless: it has no quality")
        return self.default_quality


OUTPUT_FORMATS: dict[OutputFormatName, OutputFormat] = {
    "png": OutputFormat("png", "image/png", "png", 2**31 - 1, None),
    "jpeg": OutputFormat("jpeg", "image/jpeg", "jpg", 65_535, 92),
    "webp": OutputFormat("webp", "image/webp", "webp", 16_383, 90),
}
#: What clients may write for an output format (``jpg`` is common).
OUTPUT_FORMAT_ALIASES: dict[str, OutputFormatName] = {
    **{name: name for name in OUTPUT_FORMATS},
    "jpg": "jpeg",
}


def apply_pixel_limit(max_pixels: int) -> None:
    """Make Pillow's decompression-bomb guard follow the configured input limit.

    Pillow's default (89 MP) only warns; both the gateway and the worker decode uploads, so
    both call this at start-up with ``JOBS_MAX_INPUT_PIXELS``.
    """
    Image.MAX_IMAGE_PIXELS = max_pixels
