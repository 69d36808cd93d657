"""The face stage's bounds and account: the cap, the report, progress, cancellation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from tests.engine.faces.conftest import CountingRestorer
from tests.engine.faces.photos import crowd_photo, group_photo
from worker.engine import UpscaleCancelled
from worker.faces import DEFAULT_MAX_FACES, FaceEnhancer


def _x2(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)


def _grey(crop: np.ndarray) -> np.ndarray:
    return np.full(crop.shape, 128.0)


def _untouched(out: np.ndarray, up: np.ndarray, box: tuple[float, ...], scale: float) -> bool:
    x1, y1, x2, y2 = (int(round(v * scale)) for v in box)
    return np.array_equal(out[y1:y2, x1:x2], up[y1:y2, x1:x2])


def test_the_cap_restores_the_largest_faces_and_counts_the_rest(detector) -> None:
    image = group_photo()
    up = _x2(image)
    restorer = CountingRestorer("grey", _grey)
    out, report = FaceEnhancer(detector, restorer, max_faces=2).enhance(image, up, fidelity=0.0)
    assert (report.found, report.restored, report.skipped_over_cap) == (5, 2, 3)
    assert restorer.calls == 2
    by_size = sorted(detector.detect(image), key=lambda f: f.area, reverse=True)
    assert not any(_untouched(out, up, face.box, 2.0) for face in by_size[:2])
    assert all(_untouched(out, up, face.box, 2.0) for face in by_size[2:])


def test_a_crowd_costs_at_most_the_default_cap(detector) -> None:
    image = crowd_photo()
    restorer = CountingRestorer("identity")
    _, report = FaceEnhancer(detector, restorer).enhance(image, _x2(image), fidelity=0.0)
    assert DEFAULT_MAX_FACES == 16
    assert report.found == 32
    assert restorer.calls == report.restored == 16
    assert report.skipped_over_cap == 16 and report.skipped_small == 0


def test_faces_with_eyes_too_close_are_left_alone(detector) -> None:
    """GFPGANer's rule (eyes under 5 px apart), here raised to 30 px to hit real faces."""
    image = group_photo()
    up = _x2(image)
    restorer = CountingRestorer("grey", _grey)
    enhancer = FaceEnhancer(detector, restorer, min_eye_distance=30.0)
    out, report = enhancer.enhance(image, up, fidelity=0.0)
    assert (report.found, report.restored, report.skipped_small) == (5, 1, 4)
    for face in detector.detect(image):
        assert _untouched(out, up, face.box, 2.0) == (face.eye_distance < 30.0)


def test_a_picture_without_faces_comes_back_unchanged(detector) -> None:
    image = data.coffee()
    up = _x2(image)
    restorer = CountingRestorer("grey", _grey)
    out, report = FaceEnhancer(detector, restorer).enhance(image, up, fidelity=0.0)
    assert report.found == report.restored == restorer.calls == 0
    assert np.array_equal(out, up)


def test_progress_runs_from_zero_to_one(detector, identity_restorer) -> None:
    image = group_photo()
    seen: list[float] = []
    FaceEnhancer(detector, identity_restorer).enhance(
        image, _x2(image), fidelity=0.0, progress=seen.append
    )
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert seen == sorted(seen)
    assert len(seen) >= 2 + 5  # detection, then each face


def test_should_stop_cancels_between_faces(detector) -> None:
    image = group_photo()
    restorer = CountingRestorer("identity")
    asked = []

    def stop_after_two_faces() -> bool:
        asked.append(True)
        return restorer.calls >= 2

    with pytest.raises(UpscaleCancelled):
        FaceEnhancer(detector, restorer).enhance(
            image, _x2(image), fidelity=0.0, should_stop=stop_after_two_faces
        )
    assert restorer.calls == 2 and len(asked) == 4  # before detection, then before faces 1-3


def test_the_report_names_the_restorer(detector, identity_restorer) -> None:
    image = group_photo()
    _, report = FaceEnhancer(detector, identity_restorer).enhance(image, _x2(image), fidelity=0.25)
    record = report.as_dict()
    assert record["restorer"] == "identity" and record["restorer_sha256"] == "0" * 64
    assert record["fidelity"] == 0.25 and record["max_faces"] == 16 and record["seconds"] > 0


@pytest.mark.parametrize("fidelity", [-0.1, 1.5])
def test_fidelity_outside_zero_to_one_is_refused(detector, identity_restorer, fidelity) -> None:
    image = group_photo()
    with pytest.raises(ValueError, match="fidelity"):
        FaceEnhancer(detector, identity_restorer).enhance(image, image, fidelity=fidelity)
