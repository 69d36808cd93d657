"""Processing a job (the worker's use case) against real storage, on a tiny network.

The engine runs for real (tiles, progress, stop checks) around a network with no weights, so
these tests take milliseconds; what the Real-ESRGAN weights do is tested in ``tests/engine``.
Failures raise here; what the worker then does with them is ``test_failures.py``.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared import keys, lifecycle
from shared.manifest import JobManifest, load_manifest
from shared.states import JobStatus
from shared.storage.local import LocalStore
from tests.support.models import TinyModels
from tests.support.photos import photo
from tests.support.storage import keyring, read_result, replace_input, submitted_job
from tests.unit.worker import samples
from worker.errors import JobTimedOut, ProcessingCrashed, UndecodableImage
from worker.processing import JobContext, Outcome, process_job


@pytest.fixture
def ctx(tmp_path: Path) -> JobContext:
    store = LocalStore(tmp_path, "jobs")
    store.ensure_bucket()
    return JobContext(
        store=store,
        audit_store=LocalStore(tmp_path, "audit"),
        keyring=keyring(),
        models=TinyModels(),
        max_attempts=3,
    )


def submit(
    ctx: JobContext,
    data: bytes,
    *,
    age: timedelta = timedelta(0),
    fmt: str = "png",
    model: str = "realesr-animevideov3",
    scale: int = 2,
) -> str:
    fields = {"model": model, "scale": str(scale), "output_format": fmt}
    created = datetime.now(UTC) - age
    return submitted_job(ctx.store, ctx.keyring, data, fields, created=created).id


def manifest_of(ctx: JobContext, job_id: str) -> JobManifest:
    manifest = load_manifest(ctx.store, job_id)
    assert manifest is not None
    return manifest


def test_job_succeeds_and_result_is_stored(ctx: JobContext) -> None:
    job_id = submit(ctx, photo(), fmt="webp")
    assert process_job(job_id=job_id, ctx=ctx) is Outcome.SUCCEEDED
    manifest = manifest_of(ctx, job_id)
    assert manifest.status is JobStatus.SUCCEEDED, manifest
    assert manifest.attempts == 1 and manifest.progress == 1.0
    assert manifest.result is not None
    assert (manifest.result.width, manifest.result.height, manifest.result.format) == (
        48,
        32,
        "webp",
    )
    result = Image.open(io.BytesIO(read_result(ctx.store, ctx.keyring, job_id)))
    assert result.format == "WEBP" and result.size == (48, 32)
    # A second delivery changes nothing.
    assert process_job(job_id=job_id, ctx=ctx) is Outcome.ALREADY_FINISHED
    assert manifest_of(ctx, job_id).attempts == 1


def test_undecodable_input_raises_a_declared_failure(ctx: JobContext) -> None:
    job_id = submit(ctx, photo())
    replace_input(ctx.store, ctx.keyring, job_id, b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(UndecodableImage) as failure:
        process_job(job_id=job_id, ctx=ctx)
    assert failure.value.code == "undecodable_image"


def test_a_job_that_crashed_workers_repeatedly_is_given_up(ctx: JobContext) -> None:
    job_id = submit(ctx, photo())
    tracked = lifecycle.read(ctx.store, job_id)
    assert tracked is not None

    def three_deaths(m: JobManifest) -> None:
        m.attempts = 3  # three deliveries died mid-job

    lifecycle.transition(ctx.store, tracked, JobStatus.RUNNING, three_deaths)
    with pytest.raises(ProcessingCrashed):
        process_job(job_id=job_id, ctx=ctx)
    assert ctx.store.stat(keys.job_key(job_id, keys.RESULT)) is None


def test_deleted_or_expired_jobs_are_not_processed(ctx: JobContext) -> None:
    gone = submit(ctx, photo())
    ctx.store.delete_many([keys.job_key(gone, keys.MANIFEST)])
    assert process_job(job_id=gone, ctx=ctx) is Outcome.DELETED
    assert ctx.store.stat(keys.job_key(gone, keys.RESULT)) is None

    old = submit(ctx, photo(), age=timedelta(hours=25))
    assert process_job(job_id=old, ctx=ctx) is Outcome.EXPIRED
    assert manifest_of(ctx, old).status is JobStatus.QUEUED
    assert ctx.store.stat(keys.job_key(old, keys.RESULT)) is None


def run_job(ctx: JobContext, data: bytes, **options: object) -> tuple[JobManifest, Image.Image]:
    job_id = submit(ctx, data, **options)  # type: ignore[arg-type]
    assert process_job(job_id=job_id, ctx=ctx) is Outcome.SUCCEEDED
    manifest = manifest_of(ctx, job_id)
    assert manifest.status is JobStatus.SUCCEEDED, manifest
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
    assert [w.arch for w in report.weights] == ["TinyNetwork"]


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


def test_a_job_past_its_time_limit_stops_between_tiles(ctx: JobContext) -> None:
    ctx.time_limit_seconds = 1e-9  # already over when the first tile is done
    job_id = submit(ctx, photo(96, 64))
    with pytest.raises(JobTimedOut):
        process_job(job_id=job_id, ctx=ctx)
    assert ctx.store.stat(keys.job_key(job_id, keys.RESULT)) is None
