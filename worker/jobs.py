"""Processing one job: manifest → input → engine → result → manifest.

The actor calls :func:`process_job` with a job id and nothing else. Every exit leaves the
manifest telling the truth: succeeded (with a report of the model that ran and of what was
kept, converted or dropped), failed with a reason, or (for a transient storage error) still
running, to be retried by Dramatiq within the bounded retry budget.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import structlog
from prometheus_client import Counter, Histogram

from shared import keys
from shared.analytics import Analytics
from shared.crypto import DecryptionFailed, KeyRing, seal, unseal
from shared.deletion import delete_jobs
from shared.errors import StorageUnavailable
from shared.manifest import (
    ImageInfo,
    JobError,
    JobManifest,
    JobReport,
    JobStatus,
    ModelWeights,
    load_manifest,
    save_manifest,
)
from shared.storage import ObjectStore
from worker import autoselect, imaging, scaling
from worker.engine import UpscaleCancelled
from worker.models import ModelPool

log = structlog.get_logger(__name__)

JOBS_FINISHED = Counter(
    "picupscaler_jobs_finished_total", "Jobs finished by the worker.", ["model", "status"]
)
JOB_SECONDS = Histogram(
    "picupscaler_job_processing_seconds",
    "Seconds from the start of processing to the stored result.",
    ["model"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
)

#: Write progress to the manifest at most this often (each write is a storage PUT).
PROGRESS_INTERVAL_S = 1.0


class JobTimedOut(Exception):
    """Raised between tiles when a job has run past its time limit."""


@dataclass
class JobContext:
    """What processing needs: storage, the loaded models, and the attempt budget."""

    store: ObjectStore
    models: ModelPool
    max_attempts: int
    keyring: KeyRing
    audit_store: ObjectStore
    analytics: Analytics | None = None
    #: How alpha is upscaled: bicubic (cheap, smooth) or by the model (sharper edges, 2x work).
    alpha_mode: imaging.AlphaMode = "bicubic"
    #: Seconds a job may run; checked between tiles, where it can stop cleanly (Dramatiq's own
    #: TimeLimit cannot interrupt a running C/CUDA call).
    time_limit_seconds: float | None = None


def fail(ctx: JobContext, manifest: JobManifest, code: str, message: str) -> None:
    """Mark the job failed with a reason the client can read, and delete its images now.

    The manifest stays until expiry so the client can read why; nothing else of a failed job
    needs to be kept, so it is not.
    """
    manifest.status = JobStatus.FAILED
    manifest.error = JobError(code=code, message=message)
    save_manifest(ctx.store, manifest)
    JOBS_FINISHED.labels(manifest.options.model, "failed").inc()
    if ctx.analytics is not None and not manifest.analytics_opt_out:
        ctx.analytics.count("jobs_failed", code=code)
    images = [
        info
        for name in (keys.INPUT, keys.RESULT)
        if (info := ctx.store.stat(keys.job_key(manifest.id, name))) is not None
    ]
    if images:
        delete_jobs(
            ctx.store, ctx.audit_store, {manifest.id: images}, reason="failed_job", service="worker"
        )
    log.warning("job_failed", code=code)


def process_job(ctx: JobContext, job_id: str) -> None:
    """Run one job to its end; raise only for transient failures worth a retry."""
    structlog.contextvars.bind_contextvars(job_id=job_id)
    try:
        manifest = load_manifest(ctx.store, job_id)
        if manifest is None:
            log.info("job_skipped", reason="gone")
            return
        if manifest.expires_at <= datetime.now(UTC):
            log.info("job_skipped", reason="expired")
            return
        if manifest.status.finished:
            log.info("job_skipped", reason="already_finished")  # duplicate delivery
            return
        if manifest.attempts >= ctx.max_attempts:
            # Earlier attempts died without recording an outcome (SIGKILL, OOM): stop looping.
            fail(
                ctx,
                manifest,
                "processing_crashed",
                f"Processing stopped unexpectedly {manifest.attempts} times; giving up.",
            )
            return
        manifest.attempts += 1
        manifest.status = JobStatus.RUNNING
        manifest.progress = 0.0
        manifest.error = None
        save_manifest(ctx.store, manifest)
        _run(ctx, manifest)
    finally:
        structlog.contextvars.unbind_contextvars("job_id")


def _run(ctx: JobContext, manifest: JobManifest) -> None:
    started = time.perf_counter()
    options = manifest.options
    try:
        data = ctx.store.get(keys.job_key(manifest.id, keys.INPUT))
    except StorageUnavailable:
        raise
    except Exception:
        fail(ctx, manifest, "input_missing", "The uploaded image is no longer stored.")
        return
    try:
        data = unseal(
            ctx.keyring.unwrap(manifest.data_key, job_id=manifest.id),
            data,
            job_id=manifest.id,
            name=keys.INPUT,
        )
    except DecryptionFailed:
        fail(ctx, manifest, "input_unreadable", "The stored image could not be decrypted.")
        return
    try:
        decoded = imaging.decode(data)
    except imaging.ImageDecodeError:
        fail(ctx, manifest, "undecodable_image", "The uploaded image could not be decoded.")
        return
    del data
    model = options.model
    if model == autoselect.AUTO:
        model = autoselect.choose_model(decoded.rgb)
    try:
        passes = scaling.plan_passes(ctx.models.native_scales(model), options.scale)
        upscalers = [ctx.models.get(model, scale) for scale in passes]
    except (KeyError, ValueError):
        fail(ctx, manifest, "unknown_model", f"This worker has no model {model!r}.")
        return

    last_write = [time.monotonic()]

    def on_progress(fraction: float) -> None:
        now = time.monotonic()
        if now - last_write[0] >= PROGRESS_INTERVAL_S and fraction < 1.0:
            last_write[0] = now
            manifest.progress = round(min(max(fraction, 0.0), 0.99), 3)
            save_manifest(ctx.store, manifest)

    deadline = time.monotonic() + ctx.time_limit_seconds if ctx.time_limit_seconds else None

    def deleted() -> bool:
        # Between tiles, cheaply: a manifest that vanished means the user deleted the job.
        if deadline is not None and time.monotonic() > deadline:
            raise JobTimedOut
        return ctx.store.stat(keys.job_key(manifest.id, keys.MANIFEST)) is None

    # When the model also upscales the alpha, that is a second run of the same size.
    alpha_by_model = ctx.alpha_mode == "model" and decoded.alpha is not None
    share = 0.5 if alpha_by_model else 1.0

    def run_model(image: np.ndarray, start: float = 0.0) -> np.ndarray:
        return scaling.upscale_to(
            image,
            options.scale,
            upscalers,
            progress=lambda f: on_progress(start + share * f),
            should_stop=deleted,
        )

    infer_start = time.perf_counter()
    try:
        pixels = run_model(decoded.rgb)
        size = (pixels.shape[1], pixels.shape[0])
        alpha = imaging.upscale_alpha(
            decoded, size, ctx.alpha_mode, lambda a: run_model(a, start=0.5)
        )
    except UpscaleCancelled:
        log.info("job_cancelled")
        return
    except JobTimedOut:
        fail(
            ctx,
            manifest,
            "time_limit_exceeded",
            f"Processing took longer than {ctx.time_limit_seconds:.0f} seconds and was stopped.",
        )
        return
    infer_seconds = time.perf_counter() - infer_start
    encoded = imaging.encode(pixels, alpha, decoded, options.output_format, quality=options.quality)
    width, height = size
    del pixels, alpha

    if deleted():
        log.info("job_cancelled")
        return
    data_key = ctx.keyring.unwrap(manifest.data_key, job_id=manifest.id)
    sealed = seal(data_key, encoded, job_id=manifest.id, name=keys.RESULT)
    ctx.store.put(keys.job_key(manifest.id, keys.RESULT), sealed, "application/octet-stream")
    manifest.status = JobStatus.SUCCEEDED
    manifest.progress = 1.0
    manifest.result = ImageInfo(
        width=width, height=height, format=options.output_format, bytes=len(encoded)
    )
    manifest.report = _report(model, passes, options.scale, decoded)
    manifest.report.weights = [
        ModelWeights(**ctx.models.describe(model, s)) for s in sorted(set(passes))
    ]
    manifest.timings = {
        "inference_seconds": round(infer_seconds, 3),
        "total_seconds": round(time.perf_counter() - started, 3),
    }
    save_manifest(ctx.store, manifest)
    JOBS_FINISHED.labels(model, "succeeded").inc()
    JOB_SECONDS.labels(model).observe(time.perf_counter() - started)
    if ctx.analytics is not None and not manifest.analytics_opt_out:
        ctx.analytics.count(
            "images_processed",
            model=model,
            scale=str(options.scale),
            format=options.output_format,
        )
        ctx.analytics.observe_seconds(
            "processing_seconds", time.perf_counter() - started, model=model
        )
    log.info(
        "job_succeeded",
        model=model,
        scale=options.scale,
        passes=passes,
        output_pixels=width * height,
        inference_seconds=round(infer_seconds, 2),
    )


def _report(model: str, passes: list[int], scale: int, decoded: imaging.DecodedImage) -> JobReport:
    """The client's account of the job: the model that ran and the image's fidelity."""
    fidelity = decoded.fidelity
    return JobReport(
        resolved_model=model,
        model_passes=passes,
        resize="lanczos" if math.prod(passes) != scale else None,
        kept=fidelity.kept,
        converted=fidelity.converted,
        dropped=fidelity.dropped,
        notes=fidelity.notes,
    )
