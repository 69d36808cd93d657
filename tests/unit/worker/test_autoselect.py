"""model=auto: photos get the photo model, flat-colour drawings the anime model."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from shared.models import AUTO_DRAWN_MODEL, AUTO_PHOTO_MODEL
from tests.unit.worker.samples import cartoon, photo
from worker.autoselect import art_statistics, choose_model


def as_jpeg(img: Image.Image, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_photos_get_the_photo_model(name: str) -> None:
    img = photo(name, 256)
    assert choose_model(np.asarray(img)) == AUTO_PHOTO_MODEL
    assert choose_model(as_jpeg(img, 80)) == AUTO_PHOTO_MODEL
    grey = np.asarray(img.convert("L").convert("RGB"))
    assert choose_model(grey) == AUTO_PHOTO_MODEL


@pytest.mark.parametrize("size", [(96, 72), (320, 240), (1600, 1200)])
def test_a_flat_colour_cartoon_gets_the_anime_model(size: tuple[int, int]) -> None:
    drawing = cartoon(*size)
    assert choose_model(np.asarray(drawing)) == AUTO_DRAWN_MODEL
    assert choose_model(np.asarray(drawing.convert("L").convert("RGB"))) == AUTO_DRAWN_MODEL


def test_a_compressed_cartoon_still_counts_as_drawn() -> None:
    assert choose_model(as_jpeg(cartoon(320, 240), 80)) == AUTO_DRAWN_MODEL


def test_the_statistics_say_why() -> None:
    drawn, real = (
        art_statistics(np.asarray(cartoon(320, 240))),
        art_statistics(np.asarray(photo("astronaut", 256))),
    )
    assert drawn.flat > 0.9 and drawn.flat_colours <= 8 and drawn.edges >= 0.02
    assert real.flat < 0.6 and real.mid > 0.3 and real.flat_colours > 100


def test_tiny_images_default_to_the_photo_model() -> None:
    assert choose_model(np.zeros((1, 1, 3), np.uint8)) == AUTO_PHOTO_MODEL
