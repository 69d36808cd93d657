"""Fidelity on real files: each sample from ``samples.py`` goes decode → x2 → encode.

The "model" is bicubic interpolation (``fakes.BicubicUpscaler``) so that every expectation can
be computed exactly; ``test_jobs.py`` runs some of the same files through the real networks.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.unit.worker import icc, samples
from tests.unit.worker.fakes import BicubicUpscaler
from worker import imaging
from worker.imaging import AlphaMode
from worker.scaling import upscale_to


def run(
    data: bytes,
    fmt: str = "png",
    *,
    alpha_mode: AlphaMode = "bicubic",
    quality: int | None = None,
) -> tuple[bytes, imaging.Fidelity]:
    """What a job does, with a bicubic x2 "model"."""
    decoded = imaging.decode(data)
    model = BicubicUpscaler(2)
    pixels = upscale_to(decoded.rgb, 2, [model])
    size = (pixels.shape[1], pixels.shape[0])
    alpha = imaging.upscale_alpha(
        decoded, size, alpha_mode, lambda a: upscale_to(a, 2, [BicubicUpscaler(2)])
    )
    encoded = imaging.encode(pixels, alpha, decoded, fmt, quality=quality)
    return encoded.data, encoded.fidelity


def opened(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def bicubic2(pixels: np.ndarray) -> np.ndarray:
    h, w = pixels.shape[:2]
    return np.asarray(Image.fromarray(pixels).resize((w * 2, h * 2), Image.Resampling.BICUBIC))


def mean_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_orientation_applied_and_personal_metadata_stripped(fmt: str) -> None:
    data = samples.jpeg_with_metadata()
    out, fidelity = run(data, fmt)
    result = opened(out)
    assert result.size == (64 * 2, 96 * 2)  # stored 96x64, displayed rotated: 64 wide
    upright = np.rot90(np.asarray(samples.photo("chelsea", 96)), -1)
    assert mean_error(np.asarray(imaging.decode(data).rgb), upright) < 3
    for secret in samples.SECRETS:
        assert secret not in out
    assert not result.getexif() and not {"exif", "xmp", "comment"} & set(result.info)
    assert fidelity.dropped == ["exif", "gps", "serial_number", "comment", "xmp"]
    assert fidelity.converted == ["exif_orientation_applied"]


@pytest.mark.parametrize("fmt", ["png", "webp"])
@pytest.mark.parametrize("alpha_mode", ["bicubic", "model"])
def test_alpha_is_upscaled_and_kept(fmt: str, alpha_mode: AlphaMode) -> None:
    out, fidelity = run(samples.png_with_alpha(), fmt, alpha_mode=alpha_mode)
    result = opened(out)
    assert result.mode == "RGBA" and result.size == (128, 128)
    expected = samples.soft_disc_alpha(64, 64)
    if alpha_mode == "bicubic":
        expected = np.asarray(
            Image.fromarray(expected).resize((128, 128), Image.Resampling.BICUBIC)
        )
    else:  # through the "model" as RGB, one channel kept
        expected = bicubic2(np.repeat(expected[:, :, None], 3, axis=2))[:, :, 1]
    tolerance = 0 if fmt == "png" else 3  # WebP is lossy
    assert mean_error(np.asarray(result.getchannel("A")), expected) <= tolerance
    assert "alpha" in fidelity.kept


def test_alpha_is_flattened_onto_white_for_jpeg() -> None:
    out, fidelity = run(samples.png_with_alpha(), "jpeg")
    result = np.asarray(opened(out).convert("RGB"))
    assert result[:4, :4].min() >= 250  # the transparent corner is white, not black or red
    assert fidelity.converted == ["alpha_flattened_on_white"] and "alpha" not in fidelity.kept


@pytest.mark.parametrize(("source", "fmt"), [("JPEG", "png"), ("JPEG", "jpeg"), ("PNG", "png")])
def test_grayscale_stays_grayscale(source: str, fmt: str) -> None:
    out, fidelity = run(samples.grayscale(source), fmt)
    assert opened(out).mode == "L" and "grayscale" in fidelity.kept


def test_grayscale_to_webp_is_grey_rgb_and_says_so() -> None:
    out, fidelity = run(samples.grayscale("PNG"), "webp")
    pixels = np.asarray(opened(out).convert("RGB")).astype(int)
    assert np.abs(pixels[:, :, 0] - pixels[:, :, 2]).max() <= 2
    assert fidelity.converted == ["grayscale_to_rgb"]


def test_16bit_grey_png_gives_16bit_png_with_its_fine_bits() -> None:
    out, fidelity = run(samples.png16_grey())
    result = opened(out)
    assert result.mode == "I;16" and result.size == (128, 86)
    values = np.asarray(result).astype(np.int64)
    assert (values % 257 != 0).mean() > 0.9  # not just 8-bit values times 257
    fine = Image.fromarray(samples.fine_grey_16bit().astype(np.float32))
    reference = np.asarray(fine.resize((128, 86), Image.Resampling.BICUBIC))
    assert mean_error(values, reference) < 128  # within half an 8-bit step of the truth
    # ... and closer than the 8-bit result scaled up: the input's fine bits were added back.
    assert mean_error(values, reference) < mean_error(np.rint(values / 257) * 257, reference)
    assert {"16bit", "grayscale"} <= set(fidelity.kept)
    assert any(note.startswith("precision:") for note in fidelity.notes)


def test_16bit_rgba_png_with_profile_gives_16bit_rgba_png_with_it() -> None:
    out, fidelity = run(samples.png16_rgb(with_alpha=True, with_icc=True))
    pixels = cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_UNCHANGED)
    assert pixels is not None and pixels.dtype == np.uint16 and pixels.shape == (96, 96, 4)
    alpha16 = samples.soft_disc_alpha(48, 48).astype(np.uint16) * 257
    expected = np.asarray(Image.fromarray(alpha16).resize((96, 96), Image.Resampling.BICUBIC))
    assert mean_error(pixels[:, :, 3], expected) < 1
    assert opened(out).info["icc_profile"] == icc.display_p3_profile()
    assert fidelity.kept == ["16bit", "alpha", "icc_profile"]


def test_16bit_png_to_jpeg_is_8bit_and_says_so() -> None:
    out, fidelity = run(samples.png16_rgb(), "jpeg")
    assert opened(out).mode == "RGB" and fidelity.converted == ["16bit_to_8bit"]


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_icc_profile_is_carried_byte_identical(fmt: str) -> None:
    out, fidelity = run(samples.jpeg_with_icc(), fmt)
    assert opened(out).info["icc_profile"] == icc.display_p3_profile()
    assert fidelity.kept == ["icc_profile"]


def test_a_profile_that_does_not_fit_the_pixels_is_dropped() -> None:
    buf = io.BytesIO()
    samples.photo("coffee", 40).convert("L").save(buf, "PNG", icc_profile=icc.display_p3_profile())
    out, fidelity = run(buf.getvalue())
    assert "icc_profile" not in opened(out).info and fidelity.dropped == ["icc_profile"]


def test_adobe_inverted_cmyk_without_profile_converts_to_the_right_colours() -> None:
    out, fidelity = run(samples.cmyk_jpeg(with_profile=False))
    result = np.asarray(opened(out))
    assert result.shape == (128, 192, 3)
    assert mean_error(result, bicubic2(np.asarray(samples.photo("chelsea", 96)))) < 4
    assert fidelity.converted == ["cmyk_to_rgb"]


def test_cmyk_with_profile_converts_through_the_profile() -> None:
    data = samples.cmyk_jpeg(with_profile=True)
    out, fidelity = run(data)
    result = np.asarray(opened(out)).astype(np.float64)
    cmyk = np.asarray(opened(data)).astype(np.float64)  # as decoded (Adobe inversion undone)
    printed = bicubic2(np.clip(np.rint(icc.cmyk_on_paper_to_rgb(cmyk)), 0, 255).astype(np.uint8))
    naive = bicubic2(np.asarray(opened(data).convert("RGB")))
    assert mean_error(result, printed) < 2
    assert naive[:, :, 2].mean() - result[:, :, 2].mean() > 10  # the paper's warmth is there
    assert fidelity.converted == ["cmyk_to_srgb_icc"]
    assert "icc_profile" not in opened(out).info  # the CMYK profile was used up, not copied


@pytest.mark.parametrize("source", ["PNG", "GIF"])
def test_palette_with_transparency(source: str) -> None:
    data = samples.palette_png_with_transparency()
    if source == "GIF":
        buf = io.BytesIO()
        opened(data).save(buf, "GIF", transparency=200)
        data = buf.getvalue()
    out, fidelity = run(data)
    result = opened(out)
    assert result.mode == "RGBA"
    alpha = np.asarray(result.getchannel("A"))
    assert alpha[:, :44].max() == 0 and alpha[:, 52:].min() == 255  # left quarter transparent
    assert fidelity.converted == ["palette_to_rgb"] and fidelity.kept == ["alpha"]


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_quality_sets_the_lossy_encoders(fmt: str) -> None:
    data = samples.jpeg_with_icc()
    low, _ = run(data, fmt, quality=20)
    default, _ = run(data, fmt)
    high, _ = run(data, fmt, quality=100)
    assert len(low) < len(default) < len(high)


def test_quality_does_not_change_a_png() -> None:
    data = samples.grayscale("PNG")
    assert run(data, "png", quality=10)[0] == run(data, "png")[0]
