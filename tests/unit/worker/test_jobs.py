"""Processing a job against real storage (a local directory) and a real, small model."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared import keys
from shared.audit import read_records
from shared.manifest import (
    JobManifest,
    JobOptions,
    JobStatus,
    OutputFormat,
    load_manifest,
    save_manifest,
)
from shared.storage.local import LocalStore
from tests.jobs_support import keyring, read_result, store_job
from tests.support import MODEL_CACHE
from tests.unit.worker import samples
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
    audit = LocalStore(tmp_path, "audit")
    return JobContext(
        store=store, models=models, max_attempts=3, keyring=keyring(), audit_store=audit
    )


def submit(
    ctx: JobContext,
    data: bytes,
    *,
    age: timedelta = timedelta(0),
    fmt: OutputFormat = "png",
    model: str = "realesr-animevideov3",
    scale: int = 2,
) -> str:
    return store_job(
        ctx.store,
        ctx.keyring,
        data,
        JobOptions(model=model, scale=scale, output_format=fmt),
        created=datetime.now(UTC) - age,
    )


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
    result = Image.open(io.BytesIO(read_result(ctx.store, ctx.keyring, job_id)))
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
    # A failed job keeps only its manifest (for the error); its image is deleted and audited.
    assert ctx.store.stat(keys.job_key(job_id, keys.INPUT)) is None
    [record] = list(read_records(ctx.audit_store))
    assert record.reason == "failed_job" and record.job_id == job_id


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


def run_job(ctx: JobContext, data: bytes, **options: object) -> tuple[JobManifest, Image.Image]:
    job_id = submit(ctx, data, **options)  # type: ignore[arg-type]
    process_job(ctx, job_id)
    manifest = load_manifest(ctx.store, job_id)
    assert manifest is not None and manifest.status is JobStatus.SUCCEEDED, manifest
    result = Image.open(io.BytesIO(read_result(ctx.store, ctx.keyring, job_id)))
    result.load()
    return manifest, result


def test_camera_jpeg_report_says_what_was_applied_and_removed(ctx: JobContext) -> None:
    manifest, result = run_job(ctx, samples.jpeg_with_metadata(), scale=3, fmt="jpeg")
    assert result.size == (64 * 3, 96 * 3) and not result.getexif()
    report = manifest.report
    assert report is not None
    assert (report.resolved_model, report.model_passes, report.resize) == (
        "realesr-animevideov3",
        [3],
        None,
    )
    assert report.converted == ["exif_orientation_applied"]
    assert report.dropped == ["exif", "gps", "serial_number", "comment", "xmp"]
    assert report.kept == []


@pytest.mark.parametrize(("scale", "passes"), [(1, [2]), (5, [2, 4])])
def test_any_scale_runs_model_passes_then_lanczos(
    ctx: JobContext, scale: int, passes: list[int]
) -> None:
    manifest, result = run_job(ctx, photo(24, 16), scale=scale)
    assert result.size == (24 * scale, 16 * scale)
    assert manifest.result is not None and manifest.result.width == 24 * scale
    assert manifest.report is not None
    assert manifest.report.model_passes == passes and manifest.report.resize == "lanczos"


def test_auto_runs_the_anime_model_on_a_cartoon(ctx: JobContext) -> None:
    buf = io.BytesIO()
    samples.cartoon(48, 36).save(buf, "PNG")
    manifest, result = run_job(ctx, buf.getvalue(), model="auto", scale=2)
    assert result.size == (96, 72)
    assert manifest.options.model == "auto"
    assert manifest.report is not None
    assert manifest.report.resolved_model == "realesrgan-x4plus-anime"


def test_alpha_through_the_model_and_16bit_depth_survive_a_job(ctx: JobContext) -> None:
    ctx.alpha_mode = "model"
    manifest, result = run_job(ctx, samples.png16_rgb(with_alpha=True, with_icc=True))
    assert result.mode == "RGBA" and result.size == (96, 96)
    assert result.info["icc_profile"] == samples.icc.display_p3_profile()
    assert manifest.report is not None
    assert manifest.report.kept == ["16bit", "alpha", "icc_profile"]
    assert any(note.startswith("precision:") for note in manifest.report.notes)
    disc = samples.soft_disc_alpha(48, 48)
    expected = np.asarray(Image.fromarray(disc).resize((96, 96), Image.Resampling.BICUBIC))
    alpha = np.asarray(result.getchannel("A")).astype(float)
    assert np.abs(alpha - expected).mean() < 8  # the network kept the disc's shape


def test_16bit_grey_png_job_gives_a_16bit_grey_png(ctx: JobContext) -> None:
    _, result = run_job(ctx, samples.png16_grey())
    assert result.mode == "I;16" and result.size == (128, 86)


def test_a_job_past_its_time_limit_fails_between_tiles(ctx: JobContext) -> None:
    ctx.time_limit_seconds = 1e-9  # already over when the first tile finishes
    try:
        job_id = submit(ctx, photo(96, 64))
        process_job(ctx, job_id)
    finally:
        ctx.time_limit_seconds = None
    manifest = load_manifest(ctx.store, job_id)
    assert manifest is not None and manifest.status is JobStatus.FAILED
    assert manifest.error is not None and manifest.error.code == "time_limit_exceeded"
    assert ctx.store.stat(keys.job_key(job_id, keys.RESULT)) is None
