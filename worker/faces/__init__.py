"""Face enhancement: RetinaFace detection (weights converted offline), 5-point alignment,
GFPGAN restoration from the operator's model directory, soft paste-back at any scale.

Pure like ``worker.engine``: arrays in, arrays out; no storage, no settings object. Importing
this package imports torch, not facexlib/spandrel (they load with the models).
"""

from worker.faces.detector import DetectedFace, FaceDetector, load_face_detector
from worker.faces.enhancer import (
    DEFAULT_MAX_FACES,
    FaceEnhancer,
    FaceReport,
    FaceRestorer,
    load_face_enhancer,
)
from worker.faces.restorer import (
    FaceModelError,
    RestorerInfo,
    find_face_restorer,
    load_face_restorer,
)

__all__ = [
    "DEFAULT_MAX_FACES",
    "DetectedFace",
    "FaceDetector",
    "FaceEnhancer",
    "FaceModelError",
    "FaceReport",
    "FaceRestorer",
    "RestorerInfo",
    "find_face_restorer",
    "load_face_detector",
    "load_face_enhancer",
    "load_face_restorer",
]
