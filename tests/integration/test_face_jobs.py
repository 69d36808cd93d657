"""A face-enhanced job end to end, in both modes, with a restorer in the model directory:
all-in-one (one process, local storage) and distributed (gateway and worker processes on
RabbitMQ and the S3 endpoint). The restorer is an official-layout GFPGAN file with random
weights (no package ships real ones): what is checked is the flow, the report and the file's
sha256, not the beauty of the faces."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.support.env import MODEL_CACHE, UNLIMITED_ADMISSION_ENV
from tests.support.faces import write_face_restorer
from tests.support.net import http, upload_and_wait
from tests.support.processes import serving

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("face-models")
    path = write_face_restorer(root)
    return root, hashlib.sha256(path.read_bytes()).hexdigest()


def portrait() -> bytes:
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((160, 160)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(params=["all-in-one", "distributed"])
def service(
    request: pytest.FixtureRequest, model_dir: tuple[Path, str], tmp_path: Path
) -> Iterator[str]:
    env = {
        **UNLIMITED_ADMISSION_ENV,
        "MODEL_DIR": str(model_dir[0]),
        "WORKER_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "WORKER_PRELOAD": '["realesr-animevideov3:2"]',
        "WORKER_WARMUP": "false",
    }
    with serving(request.param, env, tmp_path, request, timeout=600) as base:
        yield base


def test_a_face_enhanced_job_restores_the_face(service: str, model_dir: tuple[Path, str]) -> None:
    models = json.loads(http("GET", f"{service}/v1/models")[2])
    assert models["face_enhance_available"] is True
    ready = json.loads(http("GET", f"{service}/readyz")[2])
    assert ready["capabilities"]["face_enhance"] == "available"
    fields = {
        "model": "realesr-animevideov3",
        "scale": "2",
        "face_enhance": "true",
        "face_fidelity": "0.3",
    }
    job, state = upload_and_wait(service, portrait(), fields, timeout=900)
    assert state["status"] == "succeeded", state
    faces = state["report"]["faces"]
    assert faces["found"] == 1 and faces["restored"] == 1, faces
    assert faces["fidelity"] == 0.3 and faces["restorer_sha256"] == model_dir[1]
    auth = {"Authorization": f"Bearer {job['token']}"}
    code, _, image = http("GET", f"{service}/v1/jobs/{job['id']}/result", headers=auth)
    assert code == 200 and Image.open(io.BytesIO(image)).size == (320, 320)
