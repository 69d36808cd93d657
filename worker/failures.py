"""Failure handling in one place: a Dramatiq middleware, the way Dramatiq's own Retries works.

The actor declares its permanent failures (``throws=`` :class:`worker.errors.JobFailed` and
Dramatiq's ``TimeLimitExceeded``); Retries re-enqueues anything else within the bounded
budget and marks the message failed when the budget is spent or the failure is declared
permanent. This middleware is registered *before* Retries, so that its ``after_`` hook runs
*after* Retries' (Dramatiq runs ``after_`` hooks in reverse order) and sees that verdict.

On a job's final failure, and only then, it:

1. moves the job to ``failed`` (a guarded transition) keeping only the error's code and
   message, and dropping the data key, so every stored copy of the images is shredded;
2. deletes the images, with one audit record (reason ``failed_job``);
3. counts the failure.

A job deleted meanwhile is left alone (its deleter recorded it). Dramatiq's ``Shutdown``
(raised in actors that opt into shutdown notifications) hands the job back: ``queued``
again, to be retried on another worker.
"""

from __future__ import annotations

import contextlib
from typing import Any

import dramatiq
import structlog
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Shutdown, TimeLimitExceeded

from shared import lifecycle
from shared.deletion import delete_images
from shared.errors import StorageUnavailable
from shared.inflight import network_key
from shared.manifest import JobError, JobManifest
from shared.retrying import call_with_retries
from shared.states import JobStatus
from worker import metrics
from worker.errors import JobFailed, JobTimedOut
from worker.processing import JobContext

log = structlog.get_logger(__name__)

#: The actor's ``throws=``: failures that no retry can mend.
PERMANENT: tuple[type[BaseException], ...] = (JobFailed, TimeLimitExceeded)


class JobFailures(dramatiq.Middleware):
    """Turns a job's final failure into a failed manifest, deleted images and a metric."""

    def __init__(self, ctx: JobContext, actor_name: str) -> None:
        self.ctx = ctx
        self.actor_name = actor_name

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        """Act on the outcome Retries decided (it ran just before this hook)."""
        if exception is None or message.actor_name != self.actor_name:
            return
        job_id = str(message.args[0])
        try:
            if isinstance(exception, Shutdown) and not message.failed:
                call_with_retries(lambda: hand_back(self.ctx, job_id), attempts=5)
            elif message.failed:
                failure = as_job_failure(exception)
                call_with_retries(lambda: fail_job(self.ctx, job_id, failure), attempts=5)
        except StorageUnavailable:
            # Storage outlasted the retries: the job stays as it is until the janitor deletes
            # it at expiry (its images stay sealed); the metric makes the case visible.
            metrics.JOB_FAILURES.labels("failure_not_recorded").inc()
            log.error("job_failure_not_recorded", job_id=job_id)


def as_job_failure(exception: BaseException) -> JobFailed:
    """The client-facing failure for whatever ended a job."""
    if isinstance(exception, JobFailed):
        return exception
    if isinstance(exception, TimeLimitExceeded):
        return JobTimedOut()
    return JobFailed()  # a bug or an outage that outlasted the retries: no details leak


def fail_job(ctx: JobContext, job_id: str, failure: JobFailed) -> None:
    """Mark the job failed, shred and delete its images, record and count it."""
    tracked = lifecycle.read(ctx.store, job_id)
    if tracked is None:
        return

    def failed(manifest: JobManifest) -> None:
        manifest.error = JobError(code=failure.code, message=failure.client_message)
        manifest.data_key = None  # the images cannot be read any more, by anyone
        manifest.seal = None  # what it sealed is gone

    try:
        done = lifecycle.transition(ctx.store, tracked, JobStatus.FAILED, failed)
    except (lifecycle.JobGone, lifecycle.TransitionRefused):
        return  # deleted meanwhile, or finished by another delivery
    try:
        delete_images(ctx.store, ctx.audit_store, job_id, reason="failed_job", service="worker")
    except StorageUnavailable:
        # Shredded already (no data key); the janitor deletes the ciphertext at expiry.
        log.warning("failed_job_images_not_deleted")
    ctx.publish(job_id, (done.manifest.attempts + 1) * 1_000_000, "failed", 1.0, "failed")
    if ctx.in_flight is not None and done.manifest.client is not None:
        with contextlib.suppress(Exception):  # Redis down: the entry's deadline frees it
            ctx.in_flight.remove(network_key(done.manifest.client.network), job_id)
    if ctx.on_finished is not None:
        ctx.on_finished(done.manifest)
    model = done.manifest.options.model
    metrics.JOBS_FINISHED.labels(model, "failed").inc()
    metrics.JOB_FAILURES.labels(failure.code).inc()
    if ctx.analytics is not None and not done.manifest.analytics_opt_out:
        ctx.analytics.count("jobs_failed", code=failure.code)
    log.warning("job_failed", job_id=job_id, code=failure.code)


def hand_back(ctx: JobContext, job_id: str) -> None:
    """A worker stopping mid-job puts the job back in ``queued`` for the retry."""
    tracked = lifecycle.read(ctx.store, job_id)
    if tracked is None or tracked.status is not JobStatus.RUNNING:
        return
    try:
        lifecycle.transition(ctx.store, tracked, JobStatus.QUEUED)
    except (lifecycle.JobGone, lifecycle.TransitionRefused):
        return
    log.info("job_handed_back", job_id=job_id)
