"""Wiring the worker: storage, models, the Dramatiq actor and a Dramatiq Worker.

Used by ``python -m worker`` (its own process, RabbitMQ) and by all-in-one mode (a thread
beside the gateway, the in-process broker). One code path; configuration picks the adapters.
"""

from __future__ import annotations

from dataclasses import dataclass

import dramatiq
import structlog
from PIL import Image

from shared.analytics import Analytics
from shared.broker import PROCESS_JOB_ACTOR, build_broker
from shared.crypto import CryptoSettings, KeyRing
from shared.errors import StorageUnavailable
from shared.manifest import load_manifest
from shared.storage import open_store
from worker.jobs import JobContext, fail, process_job
from worker.models import ModelPool
from worker.settings import WorkerSettings

log = structlog.get_logger(__name__)


@dataclass
class WorkerRuntime:
    """A configured worker, ready to start."""

    settings: WorkerSettings
    broker: dramatiq.Broker
    context: JobContext
    worker: dramatiq.Worker
    load_seconds: float


def build_runtime(settings: WorkerSettings, broker: dramatiq.Broker | None = None) -> WorkerRuntime:
    """Load the models, register the actor and build a one-thread, prefetch-1 Dramatiq worker."""
    broker = broker or build_broker(settings.broker, settings.jobs)
    store = open_store(settings.storage, settings.storage.jobs_bucket)
    if settings.storage.create_buckets:
        store.ensure_bucket()
    # Pillow's bomb guard follows the configured input limit (its default only warns at 89 MP).
    Image.MAX_IMAGE_PIXELS = settings.jobs.max_input_pixels
    models = ModelPool(settings)
    load_seconds = models.preload()
    audit_store = open_store(settings.storage, settings.storage.audit_bucket)
    if settings.storage.create_buckets:
        audit_store.ensure_bucket()
    context = JobContext(
        store=store,
        models=models,
        max_attempts=settings.broker.max_retries + 1,
        keyring=KeyRing.from_settings(CryptoSettings()),
        audit_store=audit_store,
        analytics=Analytics(audit_store, service="worker"),
        # A little under Dramatiq's TimeLimit, so the clean stop between tiles comes first.
        time_limit_seconds=settings.broker.time_limit_seconds * 0.95,
    )

    def run_job(job_id: str) -> None:
        try:
            process_job(context, job_id)
        except StorageUnavailable:
            raise  # transient: Dramatiq retries within the bounded budget
        except Exception as exc:
            # A bug or a hostile input that got through: fail the job once the attempt budget
            # is spent, so it ends visibly instead of being retried or dead-lettered silently.
            log.exception("job_error", job_id=job_id, error=type(exc).__name__)
            manifest = load_manifest(store, job_id)
            if manifest is not None and manifest.attempts >= context.max_attempts:
                fail(context, manifest, "processing_error", "Processing failed on the worker.")
                return
            raise

    dramatiq.actor(
        broker=broker,
        actor_name=PROCESS_JOB_ACTOR,
        queue_name=settings.broker.queue,
        max_retries=settings.broker.max_retries,
    )(run_job)
    # One job at a time per process (one process per GPU), and prefetch 1 so a busy worker
    # does not hoard messages that an idle one could run.
    worker = dramatiq.Worker(
        broker, queues={settings.broker.queue}, worker_threads=1, worker_timeout=1000
    )
    worker.queue_prefetch = 1
    return WorkerRuntime(settings, broker, context, worker, load_seconds)
