"""Processing one job, the worker's use case: manifest → input → engine → result → manifest.

:func:`process_job` knows nothing of Dramatiq: the actor (``worker.runtime``) calls it with a
job id, and failures are declared (:mod:`worker.errors`) and handled in one place
(:mod:`worker.failures`). So this module reads as the happy path, plus the one rule the
lifecycle imposes on every writer: every manifest write is a guarded transition, and a job
found deleted (:class:`shared.lifecycle.JobGone`) stops the work at once; the worker then
removes what it wrote and writes nothing more.

The named failpoints (:mod:`shared.failpoints`) mark the moments of a job's life at which the
lifecycle tests delete it.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import numpy as np
import structlog

from shared import keys, lifecycle, ops_metrics
from shared.analytics import Analytics
from shared.crypto import DecryptionFailed, KeyRing, seal_stream, sealed_size, unseal
from shared.errors import ObjectNotFound, StorageUnavailable
from shared.events import EventPublisher, ProgressEvent
from shared.failpoints import failpoint
from shared.inflight import InFlight, network_key
from shared.manifest import (
    FaceSummary,
    ImageInfo,
    JobManifest,
    JobReport,
    ModelWeights,
    report_tampering,
)
from shared.states import JobStatus
from shared.storage import ObjectStore
from worker import autoselect, imaging, metrics, scaling
from worker.engine import UpscaleCancelled
from worker.errors import (
    FaceEnhanceUnavailable,
    InputMissing,
    InputUnreadable,
    JobFailed,
    JobTimedOut,
    ProcessingCrashed,
    UndecodableImage,
    UnknownModel,
)
from worker.faces import FaceEnhancer
from worker.provider import ModelProvider

log = structlog.get_logger(__name__)

#: Progress events at most this often (they go to the broker, not to storage).
EVENT_INTERVAL_S = 0.25
#: The face stage's share of a face-enhanced job's progress (a restorer pass per face).
FACES_SHARE = 0.15
#: Between tiles, look whether the job was deleted at most this often (each look is a GET).
DELETION_CHECK_INTERVAL_S = 0.25


class Outcome(StrEnum):
    """How a call of :func:`process_job` ended (failures raise instead)."""

    SUCCEEDED = "succeeded"
    DELETED = "deleted"  # deleted before or during processing: stopped, own writes removed
    EXPIRED = "expired"  # past its expiry: never processed
    ALREADY_FINISHED = "already_finished"  # a second delivery of a finished job
    TAMPERED = "tampered"  # its manifest's seal did not hold: not processed


@dataclass
class JobContext:
    """What processing needs: storage, keys, the models and the limits."""

    store: ObjectStore
    audit_store: ObjectStore
    keyring: KeyRing
    models: ModelProvider
    max_attempts: int
    analytics: Analytics | None = None
    #: How alpha is upscaled: bicubic (cheap, smooth) or by the model (sharper edges, 2x work).
    alpha_mode: imaging.AlphaMode = "bicubic"
    #: Seconds a job may run; checked between tiles, where it can stop cleanly (Dramatiq's own
    #: TimeLimit cannot interrupt a running C/CUDA call).
    time_limit_seconds: float | None = None
    #: Write progress to the manifest at most this often (each write is a storage PUT).
    progress_interval_seconds: float = 1.0
    #: Jobs in flight per client network (admission): a finished job leaves it.
    in_flight: InFlight | None = None
    #: Called with the stored manifest once a job ended (succeeded or failed): the webhook
    #: announcement (worker.webhooks). It must not raise.
    on_finished: Callable[[JobManifest], None] | None = None
    #: The face stage (None: no face restorer installed; face-enhanced jobs then fail).
    faces: FaceEnhancer | None = None
    #: Progress events for live streams (None: none are published).
    events: EventPublisher | None = None

    def publish(
        self,
        job_id: str,
        seq: int,
        status: str,
        progress: float,
        stage: str,
        eta_seconds: float | None = None,
    ) -> None:
        """Publish a progress event of ``job_id`` (best effort)."""
        if self.events is not None:
            self.events.publish(
                ProgressEvent(job_id, seq, status, round(progress, 3), stage, eta_seconds)
            )


def process_job(*, job_id: str, ctx: JobContext) -> Outcome:
    """Run one job to its end; raise :class:`worker.errors.JobFailed` or a transient error."""
    structlog.contextvars.bind_contextvars(job_id=job_id)
    outcome = "error"
    job = _Job(ctx, job_id)
    try:
        result = job.run()
        outcome = result.value
        job.leave_flight()
        return result
    except JobFailed as failure:
        outcome = failure.code  # final: the failure middleware records it
        job.leave_flight()
        raise
    finally:
        log.info("job_finished", outcome=outcome)  # one line per attempt, always
        structlog.contextvars.unbind_contextvars("job_id")


@dataclass
class _Job:
    ctx: JobContext
    job_id: str
    tracked: lifecycle.Tracked | None = None
    #: Keys this attempt wrote (or began to write): removed if the job turns out deleted.
    written: list[str] = field(default_factory=list)
    #: The client network the job counts against in admission (read with the manifest).
    network: str | None = None
    #: What the face stage did (face-enhanced jobs).
    faces: FaceSummary | None = None
    #: Events published by this attempt (their sequence numbers follow the attempt's).
    events_sent: int = 0
    started_monotonic: float = field(default_factory=time.monotonic)
    started: float = field(default_factory=time.perf_counter)

    def run(self) -> Outcome:
        failpoint("worker.received")
        tracked = lifecycle.read(self.ctx.store, self.job_id)
        if tracked is None or tracked.status is JobStatus.DELETED:
            log.info("job_skipped", reason="deleted")
            return Outcome.DELETED
        manifest = tracked.manifest
        if not manifest.seal_holds(self.ctx.keyring):
            # Altered in storage: nothing in it can be trusted, so nothing is done with it
            # (the janitor deletes it at expiry, as any job).
            report_tampering(self.job_id, "worker")
            return Outcome.TAMPERED
        self.network = manifest.client.network if manifest.client else None
        if manifest.expires_at <= datetime.now(UTC):
            log.info("job_skipped", reason="expired")
            return Outcome.EXPIRED
        if manifest.status.finished:
            log.info("job_skipped", reason="already_finished")  # a second delivery
            return Outcome.ALREADY_FINISHED
        if manifest.attempts >= self.ctx.max_attempts:
            raise ProcessingCrashed(
                f"Processing stopped unexpectedly {manifest.attempts} times; giving up."
            )
        try:
            self.tracked = lifecycle.transition(
                self.ctx.store, tracked, JobStatus.RUNNING, _start_attempt
            )
            if self.tracked.manifest.attempts == 1:  # time in the queue, once per job
                ops_metrics.observe_job_wait(manifest.options.model, manifest.created_at)
            self._emit("running", "starting", 0.0)
            failpoint("worker.running")
            self._work()
        except (lifecycle.JobGone, UpscaleCancelled):
            self._emit("deleted", "deleted", 0.0)
            return self._stop_deleted()
        except lifecycle.TransitionRefused as exc:
            # Another delivery of the same message finished the job first.
            log.info("job_skipped", reason="already_finished", stored=exc.current.value)
            return Outcome.ALREADY_FINISHED
        except StorageUnavailable:
            # An aborted upload or a vanished object is how a deletion can look mid-write.
            if self._deleted():
                self._emit("deleted", "deleted", 0.0)
                return self._stop_deleted()
            raise
        self._emit("succeeded", "done", 1.0)
        return Outcome.SUCCEEDED

    # -- the happy path -------------------------------------------------------------------

    def _work(self) -> None:
        manifest = self._manifest
        options = manifest.options
        if options.face_enhance and self.ctx.faces is None:
            raise FaceEnhanceUnavailable  # before any work: never silently without faces
        self._emit("running", "decoding", 0.0)
        data = self._read_input()
        failpoint("worker.input_read")
        try:
            decoded = imaging.decode(data)
        except imaging.ImageDecodeError:
            raise UndecodableImage from None
        del data
        failpoint("worker.decoded")
        model = options.model
        if model == autoselect.AUTO:
            model = autoselect.choose_model(decoded.rgb)
        try:
            passes = scaling.plan_passes(self.ctx.models.native_scales(model), options.scale)
            upscalers = [self.ctx.models.get(model, scale) for scale in passes]
        except (KeyError, ValueError):
            raise UnknownModel(f"This worker has no model {model!r}.") from None

        infer_start = time.perf_counter()
        pixels, alpha = self._upscale(decoded, upscalers)
        infer_seconds = time.perf_counter() - infer_start
        failpoint("worker.upscaled")
        self._emit("running", "encoding", 0.99)
        encoded = imaging.encode(
            pixels, alpha, decoded, options.output_format, quality=options.quality
        )
        height, width = pixels.shape[:2]
        del pixels, alpha
        failpoint("worker.encoded")
        lifecycle.read_live(self.ctx.store, self.job_id)  # deleted meanwhile: write nothing
        self._emit("running", "storing", 0.99)
        self._write_result(encoded.data)
        failpoint("worker.result_written")

        report = _report(model, passes, options.scale, encoded.fidelity)
        report.faces = self.faces
        report.weights = [
            ModelWeights(**self.ctx.models.describe(model, s)) for s in sorted(set(passes))
        ]
        total = time.perf_counter() - self.started

        def succeed(m: JobManifest) -> None:
            m.progress = 1.0
            m.result = ImageInfo(
                width=width, height=height, format=options.output_format, bytes=len(encoded.data)
            )
            m.report = report
            m.timings = {
                "inference_seconds": round(infer_seconds, 3),
                "total_seconds": round(total, 3),
            }

        self._advance(JobStatus.SUCCEEDED, succeed)
        failpoint("worker.succeeded")
        if self.ctx.on_finished is not None:
            self.ctx.on_finished(self._manifest)
        self._count_success(model, total, width * height, infer_seconds, passes)

    def _read_input(self) -> bytes:
        try:
            sealed = self.ctx.store.get(keys.job_key(self.job_id, keys.INPUT))
        except ObjectNotFound:
            lifecycle.read_live(self.ctx.store, self.job_id)  # deleted: JobGone, not a failure
            raise InputMissing from None
        try:
            return unseal(self._data_key(), sealed, job_id=self.job_id, name=keys.INPUT)
        except DecryptionFailed:
            raise InputUnreadable from None

    def _data_key(self) -> bytes:
        wrapped = self._manifest.data_key
        if wrapped is None:  # only tombstones and failed jobs lack one
            raise InputUnreadable
        try:
            return self.ctx.keyring.unwrap(wrapped, job_id=self.job_id)
        except DecryptionFailed:
            raise InputUnreadable from None

    def _upscale(
        self, decoded: imaging.DecodedImage, upscalers: list[scaling.SupportsUpscale]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Run the model(s), then the face stage if asked; progress goes to the manifest, and a
        deletion or the time limit stops the work between tiles (and between faces)."""
        options = self._manifest.options
        # Progress: the colour's upscale, then the faces (a small share), then the alpha when
        # the model upscales it too (a second run of the same size).
        alpha_by_model = self.ctx.alpha_mode == "model" and decoded.alpha is not None
        faces_share = FACES_SHARE if options.face_enhance else 0.0
        colour_share = (1.0 - faces_share) * (0.5 if alpha_by_model else 1.0)
        should_stop = self._stop_check()

        def run_model(image: np.ndarray, start: float, share: float) -> np.ndarray:
            return scaling.upscale_to(
                image,
                options.scale,
                upscalers,
                progress=self._progress_writer(start, share),
                should_stop=should_stop,
            )

        pixels = run_model(decoded.rgb, 0.0, colour_share)
        if options.face_enhance:
            assert self.ctx.faces is not None  # checked before any work
            pixels, report = self.ctx.faces.enhance(
                decoded.rgb,
                pixels,
                fidelity=options.face_fidelity,
                progress=self._progress_writer(colour_share, faces_share, "faces"),
                should_stop=should_stop,
            )
            self.faces = FaceSummary(**report.as_dict())
            failpoint("worker.faces_done")
        size = (pixels.shape[1], pixels.shape[0])
        alpha_start = colour_share + faces_share
        alpha = imaging.upscale_alpha(
            decoded,
            size,
            self.ctx.alpha_mode,
            lambda a: run_model(a, alpha_start, 1.0 - alpha_start),
        )
        return pixels, alpha

    def _write_result(self, encoded: bytes) -> None:
        key = keys.job_key(self.job_id, keys.RESULT)
        pieces = seal_stream(self._data_key(), encoded, job_id=self.job_id, name=keys.RESULT)
        self.written.append(key)  # before the write: a partial upload is ours to remove too
        self.ctx.store.put_stream(key, pieces, sealed_size(len(encoded)))

    def leave_flight(self) -> None:
        """The job no longer counts against its network's jobs in flight."""
        if self.ctx.in_flight is not None:
            with contextlib.suppress(Exception):  # Redis down: the entry's deadline frees it
                self.ctx.in_flight.remove(network_key(self.network), self.job_id)

    # -- guarded writes and checks --------------------------------------------------------

    @property
    def _manifest(self) -> JobManifest:
        assert self.tracked is not None
        return self.tracked.manifest

    def _advance(self, target: JobStatus, change: Callable[[JobManifest], None]) -> None:
        assert self.tracked is not None
        self.tracked = lifecycle.transition(self.ctx.store, self.tracked, target, change)

    def _emit(self, status: str, stage: str, progress: float) -> None:
        """A progress event for live streams; the time left is estimated from the pace so far."""
        attempt = self.tracked.manifest.attempts if self.tracked is not None else 0
        elapsed = time.monotonic() - self.started_monotonic
        eta = round(elapsed * (1 - progress) / progress, 1) if 0.02 < progress < 1 else None
        self.events_sent += 1
        seq = attempt * 1_000_000 + self.events_sent
        self.ctx.publish(self.job_id, seq, status, progress, stage, eta)

    def _progress_writer(
        self, start: float, share: float, stage: str = "upscaling"
    ) -> Callable[[float], None]:
        last = [time.monotonic()]
        last_event = [0.0]

        def on_progress(fraction: float) -> None:
            now = time.monotonic()
            value = min(max(start + share * fraction, 0.0), 0.99)
            if now - last_event[0] >= EVENT_INTERVAL_S and fraction < 1.0:
                last_event[0] = now
                self._emit("running", stage, value)  # events are cheap: several a second
            if now - last[0] < self.ctx.progress_interval_seconds or fraction >= 1.0:
                return
            last[0] = now
            value = round(min(max(start + share * fraction, 0.0), 0.99), 3)
            failpoint("worker.progress")

            def record(m: JobManifest) -> None:
                m.progress = value

            self._advance(JobStatus.RUNNING, record)  # a deleted job raises JobGone here

        return on_progress

    def _stop_check(self) -> Callable[[], bool]:
        """Called by the engine between tiles: past the time limit, or deleted, stops it."""
        limit = self.ctx.time_limit_seconds
        deadline = time.monotonic() + limit if limit else None
        tiles = [0]
        last_look = [0.0]

        def should_stop() -> bool:
            failpoint(f"worker.tile.{tiles[0]}")
            tiles[0] += 1
            now = time.monotonic()
            if deadline is not None and now > deadline:
                raise JobTimedOut(
                    f"Processing took longer than {limit:.0f} seconds and was stopped."
                )
            if now - last_look[0] < DELETION_CHECK_INTERVAL_S:
                return False
            last_look[0] = now
            return self._deleted()

        return should_stop

    def _deleted(self) -> bool:
        try:
            lifecycle.read_live(self.ctx.store, self.job_id)
        except lifecycle.JobGone:
            return True
        return False

    def _stop_deleted(self) -> Outcome:
        """The job was deleted under us: remove what this attempt wrote, write nothing more."""
        if self.written:
            with contextlib.suppress(StorageUnavailable):  # the deleter's sweep covers it
                prefix = keys.job_key(self.job_id, "")
                for upload in self.ctx.store.list_incomplete_uploads(prefix):
                    if upload.key in self.written:
                        self.ctx.store.abort_upload(upload)
                self.ctx.store.delete_many(self.written)
        metrics.JOBS_DELETED_WHILE_RUNNING.inc()
        log.info("job_cancelled", removed=len(self.written))
        return Outcome.DELETED

    def _count_success(
        self, model: str, total: float, output_pixels: int, infer: float, passes: list[int]
    ) -> None:
        options = self._manifest.options
        metrics.JOBS_FINISHED.labels(model, "succeeded").inc()
        metrics.JOB_SECONDS.labels(model).observe(total)
        if self.ctx.analytics is not None and not self._manifest.analytics_opt_out:
            self.ctx.analytics.count(
                "images_processed",
                model=model,
                scale=str(options.scale),
                format=options.output_format,
            )
            self.ctx.analytics.observe_seconds("processing_seconds", total, model=model)
        log.info(
            "job_succeeded",
            model=model,
            scale=options.scale,
            passes=passes,
            output_pixels=output_pixels,
            inference_seconds=round(infer, 2),
        )


def _start_attempt(manifest: JobManifest) -> None:
    manifest.attempts += 1
    manifest.progress = 0.0
    manifest.error = None


def _report(model: str, passes: list[int], scale: int, fidelity: imaging.Fidelity) -> JobReport:
    """The client's account of the job: the model that ran and the image's fidelity."""
    return JobReport(
        resolved_model=model,
        model_passes=passes,
        resize="lanczos" if math.prod(passes) != scale else None,
        kept=fidelity.kept,
        converted=fidelity.converted,
        dropped=fidelity.dropped,
        notes=fidelity.notes,
    )
