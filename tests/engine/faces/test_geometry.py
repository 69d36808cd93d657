"""Alignment geometry: exact pixel-centre scaling, area-averaged shrinking, the template fit."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.engine.faces.photos import astronaut
from worker.faces.geometry import (
    FFHQ_TEMPLATE_512,
    face_affine,
    footprint,
    pixel_scale_map,
    warp_region,
)


@pytest.mark.parametrize("scale", [2.0, 3.0, 4.0])
def test_scale_map_upsamples_like_cv2_resize(scale: float) -> None:
    image = astronaut()[100:228, 150:278]
    side = int(128 * scale)
    ours = warp_region(image, pixel_scale_map(scale, scale), (0, 0, side, side))
    reference = cv2.resize(image, (side, side), interpolation=cv2.INTER_LINEAR)
    # Same sample positions; only the last bit of cv2's fixed-point rounding differs. The
    # outermost half pixel differs by design: resize repeats the edge, the warp fades into
    # its border value (a face crop's edge is outside the paste mask anyway).
    edge = int(scale)
    inner = (slice(edge, side - edge), slice(edge, side - edge))
    assert np.abs(ours[inner].astype(int) - reference[inner].astype(int)).max() <= 1


@pytest.mark.parametrize("scale", [0.25, 0.125])
def test_shrinking_averages_areas_like_inter_area(scale: float) -> None:
    image = astronaut()
    side = int(512 * scale)
    ours = warp_region(image, pixel_scale_map(scale, scale), (0, 0, side, side))
    reference = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    assert np.array_equal(ours, reference)


def test_a_box_is_cut_from_the_same_map() -> None:
    image = astronaut()
    whole = warp_region(image, pixel_scale_map(3.0, 3.0), (0, 0, 1536, 1536))
    part = warp_region(image, pixel_scale_map(3.0, 3.0), (700, 400, 900, 650))
    assert np.array_equal(part, whole[400:650, 700:900])


def test_footprint_is_clipped_and_can_be_empty() -> None:
    shift = np.array([[1.0, 0, 90], [0, 1.0, -20]])
    assert footprint(shift, (20, 30), (100, 100)) == (89, 0, 100, 11)
    assert footprint(shift, (20, 30), (50, 50)) is None


def test_face_affine_puts_landmarks_on_the_template() -> None:
    angle, scale = np.deg2rad(17.0), 0.23
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = FFHQ_TEMPLATE_512 @ rotation.T + [300.0, 120.0]
    matrix = face_affine(landmarks)
    mapped = np.hstack([landmarks, np.ones((5, 1))]) @ matrix.T
    assert np.abs(mapped - FFHQ_TEMPLATE_512).max() < 0.05
