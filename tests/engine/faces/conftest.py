"""Shared fixtures: the real detector (loaded once) and tiny stand-in restorers.

The stand-ins are real ``FaceRestorer`` implementations with known behaviour (identity, a
colour cast, a flat grey), so the paste-back can be measured exactly; the real GFPGAN is
exercised in test_restorer.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worker.faces import FaceDetector, load_face_detector
from worker.faces.restorer import RestorerInfo


class CountingRestorer:
    """Returns ``transform(crop)`` and counts its calls."""

    face_size = 512

    def __init__(self, name: str, transform=None) -> None:
        self.info = RestorerInfo(path=Path(name), sha256="0" * 64, architecture=name)
        self.transform = transform or (lambda crop: crop.astype(np.float32))
        self.calls = 0

    def restore(self, crop: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.asarray(self.transform(crop), dtype=np.float32)


@pytest.fixture(scope="session")
def detector() -> FaceDetector:
    return load_face_detector("cpu")


@pytest.fixture
def identity_restorer() -> CountingRestorer:
    return CountingRestorer("identity")
