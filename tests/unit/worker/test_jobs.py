"""Processing a job against real storage (a local directory) and a real, small model."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from shared import ids, keys
from shared.manifest import (
    ImageInfo,
    JobManifest,
    JobOptions,
    JobStatus,
    hash_token,
    load_manifest,
    save_manifest,
)
from shared.storage.local import LocalStore
from tests.support import MODEL_CACHE
from worker.jobs import JobContext, process_job
from worker.models import ModelPool
from worker.settings import WorkerSettings


@pytest.fixture(scope="module")
def models() -> ModelPool:
    return ModelPool(WorkerSettings(preload=[], model_cache_dir=MODEL_CACHE, tile_size=64))


@pytest.fixture
def ctx(tmp_path: Path, models: ModelPool) -> JobContext:
    store = LocalStore(tmp_path, "jobs")
    store.ensure_bucket()
    return JobContext(store=store, models=models, max_attempts=3)


def submit(ctx: JobContext, data: bytes, *, age: timedelta = timedelta(0), fmt: str = "png") -> str:
    created = datetime.now(UTC) - age
    job_id = ids.new_job_id(int(created.timestamp() * 1000))
    ctx.store.put(keys.job_key(job_id, keys.INPUT), data)
    save_manifest(
        ctx.store,
        JobManifest(
            id=job_id,
            created_at=created,
            expires_at=created + timedelta(hours=24),
            updated_at=created,
            options=JobOptions(model="realesr-animevideov3", scale=2, output_format=fmt),
            token_sha256=hash_token("t"),
            input=ImageInfo(width=24, height=16, format="PNG", bytes=len(data)),
        ),
    )
    return job_id


def photo(width: int = 24, height: int = 16) -> bytes:
    from skimage import data

    img = Image.fromarray(data.astronaut()).resize((width, height))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_job_succeeds_and_result_is_stored(ctx: JobContext) -> None:
    job_id = submit(ctx, photo(), fmt="webp")
    process_job(ctx, job_id)
    manifest = load_manifest(ctx.store, job_id)
    assert manifest is not None and manifest.status is JobStatus.SUCCEEDED, manifest
    assert manifest.attempts == 1 and manifest.progress == 1.0
    assert manifest.result is not None
    assert (manifest.result.width, manifest.result.height, manifest.result.format) == (
        48,
        32,
        "webp",
    )
    result = Image.open(io.BytesIO(ctx.store.get(keys.job_key(job_id, keys.RESULT))))
    assert result.format == "WEBP" and result.size == (48, 32)
    # A duplicate delivery changes nothing.
    process_job(ctx, job_id)
    again = load_manifest(ctx.store, job_id)
    assert again is not None and again.attempts == 1


def test_undecodable_input_fails_visibly(ctx: JobContext) -> None:
    job_id = submit(ctx, b"\x89PNG\r\n\x1a\n broken")
    process_job(ctx, job_id)
    manifest = load_manifest(ctx.store, job_id)
    assert manifest is not None and manifest.status is JobStatus.FAILED
    assert manifest.error is not None and manifest.error.code == "undecodable_image"


def test_job_that_crashed_workers_repeatedly_ends_failed(ctx: JobContext) -> None:
    job_id = submit(ctx, photo())
    manifest = load_manifest(ctx.store, job_id)
    assert manifest is not None
    manifest.attempts, manifest.status = 3, JobStatus.RUNNING  # three deliveries died mid-job
    save_manifest(ctx.store, manifest)
    process_job(ctx, job_id)
    after = load_manifest(ctx.store, job_id)
    assert after is not None and after.status is JobStatus.FAILED
    assert after.error is not None and after.error.code == "processing_crashed"
    assert ctx.store.stat(keys.job_key(job_id, keys.RESULT)) is None


def test_deleted_or_expired_jobs_are_not_processed(ctx: JobContext) -> None:
    gone = submit(ctx, photo())
    ctx.store.delete_many([keys.job_key(gone, keys.MANIFEST)])
    process_job(ctx, gone)
    assert ctx.store.stat(keys.job_key(gone, keys.RESULT)) is None

    old = submit(ctx, photo(), age=timedelta(hours=25))
    process_job(ctx, old)
    manifest = load_manifest(ctx.store, old)
    assert manifest is not None and manifest.status is JobStatus.QUEUED
    assert ctx.store.stat(keys.job_key(old, keys.RESULT)) is None
