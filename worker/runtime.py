"""Wiring the worker: storage, models, the Dramatiq actor, its failure middleware, a Worker.

Used by ``python -m worker`` (its own process, RabbitMQ) and by all-in-one mode (a thread
beside the gateway, the in-process broker). One code path; configuration picks the adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dramatiq
import structlog
from dramatiq.middleware import Retries

from shared.analytics import Analytics
from shared.audit.startup import check_audit_log
from shared.broker import PROCESS_JOB_ACTOR, build_broker
from shared.crypto import KeyRing
from shared.events import EventPublisher
from shared.formats import apply_pixel_limit
from shared.inflight import InFlight, open_in_flight
from shared.storage import open_store
from worker.batching import BatchedModels
from worker.failures import PERMANENT, JobFailures
from worker.models import ModelPool
from worker.processing import JobContext, process_job
from worker.provider import ModelProvider
from worker.settings import WorkerSettings
from worker.webhooks import WebhookContext, setup_webhooks

if TYPE_CHECKING:
    from worker.faces import FaceEnhancer

log = structlog.get_logger(__name__)


@dataclass
class WorkerRuntime:
    """A configured worker, ready to start."""

    settings: WorkerSettings
    broker: dramatiq.Broker
    context: JobContext
    worker: dramatiq.Worker
    load_seconds: float
    #: The real model pool (None when the caller supplied its own provider).
    pool: ModelPool | None = None
    #: The face stage (its enhancer is None when no restorer was found).
    faces: FaceStage | None = None
    #: Delivers webhooks (its own threads, its own queue); started and stopped with ``worker``.
    webhook_worker: dramatiq.Worker | None = None

    @property
    def device(self) -> str:
        """Where the models run ("cpu", "cuda:0"), for the start-up line."""
        return str(self.pool.device) if self.pool is not None else "provided"


def build_runtime(
    settings: WorkerSettings,
    broker: dramatiq.Broker | None = None,
    models: ModelProvider | None = None,
    in_flight: InFlight | None = None,
    faces: FaceStage | None = None,
) -> WorkerRuntime:
    """Load the models, register the actor and build a one-thread, prefetch-1 Dramatiq worker.

    ``models`` replaces the real model pool (tests run the whole runtime on a tiny network),
    ``faces`` the face stage found in MODEL_DIR; ``in_flight`` is the admission state
    all-in-one mode shares with its gateway.
    """
    broker = broker or build_broker(settings.broker, settings.jobs)
    store = open_store(settings.storage, settings.storage.jobs_bucket)
    audit_store = open_store(settings.storage, settings.storage.audit_bucket)
    if settings.storage.create_buckets:
        store.ensure_bucket()
        audit_store.ensure_bucket()
    # The worker writes deletion records (a failed job's images): see shared.audit.startup.
    check_audit_log(audit_store, settings.audit, create=settings.storage.create_buckets)
    apply_pixel_limit(settings.jobs.max_input_pixels)
    load_seconds = 0.0
    pool: ModelPool | None = None
    if models is None:
        pool = ModelPool(settings)
        load_seconds = pool.preload()
        models = pool
    if faces is None:
        faces = _load_faces(settings, pool)
    if settings.batch_jobs > 1:
        models = BatchedModels(
            models, max_images=settings.batch_jobs, window_seconds=settings.batch_window_ms / 1000
        )
    keyring = KeyRing.from_settings(settings.crypto)
    settings.webhooks.check_can_sign()
    webhooks = setup_webhooks(
        broker, settings.broker.queue, WebhookContext(store, keyring, settings.webhooks)
    )
    context = JobContext(
        store=store,
        audit_store=audit_store,
        keyring=keyring,
        models=models,
        max_attempts=settings.broker.max_retries + 1,
        analytics=Analytics(audit_store, service="worker"),
        # A little under Dramatiq's TimeLimit, so the clean stop between tiles comes first.
        time_limit_seconds=settings.broker.time_limit_seconds * 0.95,
        progress_interval_seconds=settings.progress_interval_seconds,
        in_flight=in_flight or open_in_flight(settings.admission),
        faces=faces.enhancer,
        events=EventPublisher(settings.broker.events_url, settings.broker.events_exchange),
        on_finished=webhooks.announce,
    )

    def run_job(job_id: str) -> None:
        process_job(job_id=job_id, ctx=context)

    dramatiq.actor(
        broker=broker,
        actor_name=PROCESS_JOB_ACTOR,
        queue_name=settings.broker.queue,
        max_retries=settings.broker.max_retries,
        throws=PERMANENT,
    )(run_job)
    # Before Retries in the list, so that its after_ hook runs after Retries' verdict.
    broker.add_middleware(JobFailures(context, PROCESS_JOB_ACTOR), before=Retries)
    # One process per GPU; as many jobs at once as are batched (one, by default), and prefetch
    # as many, so a busy worker does not hoard messages that an idle one could run.
    worker = dramatiq.Worker(
        broker,
        queues={settings.broker.queue},
        worker_threads=settings.batch_jobs,
        worker_timeout=1000,
    )
    worker.queue_prefetch = settings.batch_jobs
    return WorkerRuntime(
        settings,
        broker,
        context,
        worker,
        load_seconds,
        pool,
        faces,
        webhook_worker=webhooks.worker,
    )


@dataclass(frozen=True)
class FaceStage:
    """The face enhancer this worker loaded, or None, and why (for the log and all-in-one)."""

    enhancer: FaceEnhancer | None
    reason: str


def _load_faces(settings: WorkerSettings, pool: ModelPool | None) -> FaceStage:
    """The face restorer of MODEL_DIR/faces, with the detector, on the models' device."""
    from worker.faces import load_face_enhancer

    device = pool.device if pool is not None else "cpu"
    dtype = pool.dtype if pool is not None else None
    enhancer, reason = load_face_enhancer(
        settings.models.dir, device, dtype or _float32(), max_faces=settings.face_max
    )
    log.info("face_enhance", available=enhancer is not None, reason=reason)
    return FaceStage(enhancer, reason)


def _float32() -> Any:
    import torch

    return torch.float32
