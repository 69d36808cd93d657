"""16-bit PNG: every colour type round-trips exactly, with its ICC profile."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.unit.worker import icc
from worker import png16


@pytest.mark.parametrize(
    ("grey", "alpha"), [(True, False), (True, True), (False, False), (False, True)]
)
def test_write_then_read_is_exact(grey: bool, alpha: bool) -> None:
    rng = np.random.default_rng(7)
    shape = (300, 37) if grey else (300, 37, 3)  # 300 rows: more than one compression block
    colour = rng.integers(0, 65536, shape, dtype=np.uint16)
    alpha_plane = rng.integers(0, 65536, (300, 37), dtype=np.uint16) if alpha else None
    profile = icc.display_p3_profile()
    data = png16.write(colour, alpha_plane, icc_profile=profile)
    assert png16.is_16bit_png(data)
    back = png16.read(data)
    assert back.grayscale is grey
    assert np.array_equal(back.colour, colour)
    if alpha_plane is None:
        assert back.alpha is None
    else:
        assert back.alpha is not None and np.array_equal(back.alpha, alpha_plane)
    with Image.open(io.BytesIO(data)) as img:  # a second decoder agrees on size and profile
        assert img.size == (37, 300) and img.info["icc_profile"] == profile


def test_8bit_files_are_not_taken_for_16bit() -> None:
    for fmt in ("PNG", "JPEG"):
        buf = io.BytesIO()
        Image.new("RGB", (4, 4)).save(buf, fmt)
        assert not png16.is_16bit_png(buf.getvalue())


def test_depth_split_and_restore_are_lossless() -> None:
    pixels = np.arange(0, 65536, 97, dtype=np.uint16)[:672].reshape(-1, 8)
    eight, residual = png16.split_depth(pixels)
    assert eight.dtype == np.uint8 and residual is not None
    assert np.abs(residual).max() <= 128
    assert np.array_equal(png16.restore_depth(eight, residual), pixels)
    assert png16.split_depth(eight) == (eight, None)
