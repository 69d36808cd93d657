"""A face-enhanced job through the worker's use case: the face stage runs after the upscale,
its report reaches the job's, and a worker without a restorer fails the job visibly."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.manifest import load_manifest
from shared.storage.local import LocalStore
from tests.engine.faces.conftest import CountingRestorer
from tests.engine.faces.photos import astronaut
from tests.support.models import TinyModels
from tests.support.storage import keyring, read_result, submitted_job
from worker.errors import FaceEnhanceUnavailable
from worker.faces import FaceDetector, FaceEnhancer
from worker.processing import JobContext, Outcome, process_job


def photo_png(side: int = 192) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(astronaut()).resize((side, side)).save(buf, "PNG")
    return buf.getvalue()


def context(tmp_path: Path, faces: FaceEnhancer | None) -> JobContext:
    store = LocalStore(tmp_path, "jobs")
    store.ensure_bucket()
    return JobContext(
        store=store,
        audit_store=LocalStore(tmp_path, "audit"),
        keyring=keyring(),
        models=TinyModels(tile_size=64),
        max_attempts=3,
        faces=faces,
    )


def test_the_face_stage_runs_and_is_reported(tmp_path: Path, detector: FaceDetector) -> None:
    restorer = CountingRestorer("identity")
    ctx = context(tmp_path, FaceEnhancer(detector, restorer, max_faces=4))
    fields = {"model": "realesr-animevideov3", "scale": "2", "face_enhance": "true"}
    job = submitted_job(ctx.store, ctx.keyring, photo_png(), fields, face_enhance_available=True)
    assert process_job(job_id=job.id, ctx=ctx) is Outcome.SUCCEEDED
    manifest = load_manifest(ctx.store, job.id)
    assert manifest is not None and manifest.report is not None
    faces = manifest.report.faces
    assert faces is not None and faces.found == 1 and faces.restored == 1
    assert faces.fidelity == 0.5 and faces.restorer == "identity"
    assert restorer.calls == 1
    assert manifest.result is not None and manifest.result.width == 384


def test_without_a_restorer_the_job_fails_before_any_work(tmp_path: Path) -> None:
    ctx = context(tmp_path, None)
    fields = {"model": "realesr-animevideov3", "scale": "2", "face_enhance": "true"}
    job = submitted_job(ctx.store, ctx.keyring, photo_png(64), fields, face_enhance_available=True)
    with pytest.raises(FaceEnhanceUnavailable) as failure:
        process_job(job_id=job.id, ctx=ctx)
    assert failure.value.code == "face_enhance_unavailable"


def test_fidelity_one_leaves_the_upscale_as_it_was(tmp_path: Path, detector: FaceDetector) -> None:
    """The same job with and without the face stage at fidelity 1 gives the same pixels."""
    results = []
    for face in ("false", "true"):
        ctx = context(
            tmp_path / face,
            FaceEnhancer(
                detector, CountingRestorer("grey", lambda c: np.full_like(c, 128, np.float32))
            ),
        )
        fields = {
            "model": "realesr-animevideov3",
            "scale": "2",
            "face_enhance": face,
            "face_fidelity": "1",
        }
        job = submitted_job(
            ctx.store, ctx.keyring, photo_png(), fields, face_enhance_available=True
        )
        assert process_job(job_id=job.id, ctx=ctx) is Outcome.SUCCEEDED
        results.append(
            np.asarray(Image.open(io.BytesIO(read_result(ctx.store, ctx.keyring, job.id))))
        )
    assert np.array_equal(results[0], results[1])
