"""Submitting a job, the gateway's use case: validate, seal, store, publish.

:func:`submit_job` knows nothing of HTTP: the route hands it the uploaded bytes and form
fields, and the tests and tools that need a job in storage exactly as the gateway would put it
there call it too. It answers only once the sealed input and the manifest are stored and the
broker confirmed the message; otherwise it removes what it stored and raises a 503
(:func:`gateway.errors.unavailable`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dramatiq
import structlog

from gateway import metrics
from gateway.admission import Admission, AdmissionUnavailable, Ticket
from gateway.errors import unavailable
from gateway.images import ImageFacts, check_output_size, inspect_image
from gateway.options import parse_options, parse_webhook_url
from gateway.tokens import new_token
from shared import ids, keys, lifecycle
from shared.broker import enqueue_job
from shared.cost import job_gflop
from shared.crypto import KeyRing, new_data_key, seal_stream, sealed_size
from shared.errors import BrokerUnavailable, StorageUnavailable
from shared.manifest import ClientInfo, ImageInfo, JobManifest, JobOptions, hash_token
from shared.models import AUTO_MODEL, AUTO_PHOTO_MODEL, ModelInfo
from shared.retrying import call_with_retries
from shared.settings import BrokerSettings, JobSettings
from shared.storage import ObjectStore
from shared.webhooks import Resolver, WebhookSettings, system_resolver

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SubmittedJob:
    """An accepted job: the id, the token (returned once, never stored) and its expiry."""

    id: str
    token: str
    expires_at: datetime
    #: The stored manifest (None when an idempotent retry answers with an earlier job).
    manifest: JobManifest | None = None


def submit_job(
    *,
    file: bytes,
    fields: Mapping[str, str],
    store: ObjectStore,
    broker: dramatiq.Broker,
    keyring: KeyRing,
    models: Mapping[str, ModelInfo],
    jobs: JobSettings,
    broker_settings: BrokerSettings,
    max_scale: int,
    face_enhance_available: bool,
    retry_after_seconds: int,
    admission: Admission | None = None,
    client: ClientInfo | None = None,
    analytics_opt_out: bool = False,
    now: datetime | None = None,
    token_for: Callable[[str], str] = new_token,
    decode_slots: threading.Semaphore | None = None,
    webhooks: WebhookSettings | None = None,
    resolver: Resolver = system_resolver,
) -> SubmittedJob:
    """Accept an image: return the stored, queued job, or raise ApiError (413/415/422/503)."""
    options = parse_options(
        fields, max_scale=max_scale, face_enhance_available=face_enhance_available, models=models
    )
    webhook_url = parse_webhook_url(fields, webhooks, resolver)
    if webhook_url is not None:
        options = options.model_copy(update={"webhook_url": webhook_url})
    # Decoding holds the whole picture in memory: how many decode at once is bounded, so the
    # gateway's memory is the uploads it holds plus a few pictures, not one per upload.
    with decode_slots or contextlib.nullcontext():
        facts = inspect_image(file, max_input_pixels=jobs.max_input_pixels)
    check_output_size(
        facts, options.scale, options.output_format, max_output_pixels=jobs.max_output_pixels
    )
    now = now or datetime.now(UTC)
    job_id = ids.new_job_id(int(now.timestamp() * 1000))
    ticket = _admit(admission, job_id, models, options, facts, client, retry_after_seconds)
    token = token_for(job_id)
    data_key = new_data_key()
    manifest = JobManifest(
        id=job_id,
        created_at=now,
        expires_at=now + timedelta(seconds=jobs.expiry_seconds),
        updated_at=now,
        options=options,
        token_sha256=hash_token(token),
        input=ImageInfo(
            width=facts.width, height=facts.height, format=facts.format, bytes=len(file)
        ),
        data_key=keyring.wrap(data_key, job_id=job_id),
        client=client,
        analytics_opt_out=analytics_opt_out,
    ).sealed_with(keyring)
    input_key = keys.job_key(job_id, keys.INPUT)

    def store_input() -> None:
        # Only ciphertext leaves this process, sealed segment by segment as storage reads it.
        pieces = seal_stream(data_key, file, job_id=job_id, name=keys.INPUT)
        store.put_stream(input_key, pieces, sealed_size(len(file)))

    priority = ticket.priority if ticket else 0
    try:
        call_with_retries(store_input)
        call_with_retries(lambda: lifecycle.create(store, manifest))
        call_with_retries(lambda: enqueue_job(broker, broker_settings.queue, job_id, priority))
    except (StorageUnavailable, BrokerUnavailable) as exc:
        dependency = "broker" if isinstance(exc, BrokerUnavailable) else "storage"
        log.warning("job_not_accepted", dependency=dependency, error=type(exc).__name__)
        if ticket is not None:
            with contextlib.suppress(Exception):  # its deadline frees the slot anyway
                ticket.release()
        # Leave nothing behind that was not accepted (the janitor would catch it at expiry).
        with contextlib.suppress(StorageUnavailable):
            store.delete_many([input_key, keys.job_key(job_id, keys.MANIFEST)])
        raise unavailable(dependency, retry_after_seconds) from None
    metrics.JOBS_ACCEPTED.labels(options.model, str(options.scale)).inc()
    log.info(
        "job_accepted",
        job_id=job_id,
        model=options.model,
        scale=options.scale,
        input_format=facts.format,
        input_pixels=facts.width * facts.height,
        priority=priority,
    )
    return SubmittedJob(job_id, token, manifest.expires_at, manifest)


def _admit(
    admission: Admission | None,
    job_id: str,
    models: Mapping[str, ModelInfo],
    options: JobOptions,
    facts: ImageFacts,
    client: ClientInfo | None,
    retry_after_seconds: int,
) -> Ticket | None:
    """Price the job and ask admission for it (``model=auto`` is priced as the photo model,
    the costlier of the two it may pick)."""
    if admission is None:
        return None
    model = models[AUTO_PHOTO_MODEL if options.model == AUTO_MODEL else options.model]
    gflop = job_gflop(model, facts.width, facts.height, options.scale)
    try:
        return admission.admit(
            network=client.network if client else None, job_id=job_id, gflop=gflop
        )
    except AdmissionUnavailable:
        raise unavailable("admission", retry_after_seconds) from None
