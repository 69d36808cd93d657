"""Webhooks on completion: announcing a finished job, and the actor that delivers the notice.

When a job ends (succeeded or failed; never when it is deleted) and its options name a
``webhook_url``, :meth:`Webhooks.announce` enqueues a Dramatiq message carrying the job id
only, on a queue of its own (``<BROKER_QUEUE>.webhooks``). The ``deliver_webhook`` actor,
run by the worker process beside its job thread (its own :class:`dramatiq.Worker`, so a slow
receiver never holds up a GPU), reads the manifest, builds the body, signs it
(:mod:`shared.webhooks.signing`), checks the URL and every address again and POSTs to a
checked address (:mod:`shared.webhooks.pinned`).

Retries follow ``WEBHOOK_RETRY_DELAYS_SECONDS`` (5 tries over 10 minutes by default) through
Dramatiq's own ``Retry``; a try that would fall after the job's expiry is not made, and the
last failure gives up quietly: counted, logged, no dead letter. A job deleted meanwhile gets
no notice. The body holds the job's id, status, end time, the result's facts or the error:
never the token, never image bytes.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import dramatiq
import structlog
from dramatiq.middleware import CurrentMessage
from prometheus_client import Counter

from shared import lifecycle
from shared.crypto import KeyRing
from shared.manifest import JobManifest, report_tampering
from shared.states import JobStatus
from shared.storage import ObjectStore
from shared.webhooks import (
    SIGNATURE_HEADER,
    Resolver,
    WebhookDeliveryFailed,
    WebhookHostUnresolved,
    WebhookSettings,
    WebhookTargetRefused,
    check_webhook_url,
    post_pinned,
    signature_header,
    system_resolver,
)

log = structlog.get_logger(__name__)

#: The Dramatiq actor that delivers one job's webhook.
DELIVER_WEBHOOK_ACTOR = "deliver_webhook"
USER_AGENT = "PicUpscaler-Webhook/1"

DELIVERIES = Counter(
    "picupscaler_webhook_deliveries_total",
    "Webhook tries and their ends, by outcome (delivered, retrying, gave_up, refused, "
    "skipped, not_enqueued, not_configured).",
    ["outcome"],
)


def webhook_queue(job_queue: str) -> str:
    """The queue of webhook messages beside a job queue."""
    return f"{job_queue}.webhooks"


class Outcome(StrEnum):
    """How one try ended."""

    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # no answer or a non-2xx one: worth another try
    REFUSED = "refused"  # the URL or an address it now resolves to is not allowed
    SKIPPED = "skipped"  # deleted, expired, not finished, no URL, or tampered: nothing to send


@dataclass
class WebhookContext:
    """What a delivery needs: storage, keys, the settings, and the network's seams."""

    store: ObjectStore
    keyring: KeyRing
    settings: WebhookSettings
    resolver: Resolver = system_resolver
    #: A private CA for https receivers (None: the system's trust store).
    ssl_context: ssl.SSLContext | None = None
    clock: Callable[[], float] = field(default=time.time)


def webhook_body(manifest: JobManifest) -> bytes:
    """The notice: id, status, end time, and the result's facts or the error (compact JSON)."""
    body: dict[str, object] = {
        "id": manifest.id,
        "status": manifest.status.value,
        # Nothing writes a finished manifest again except its deletion: its last change is
        # the moment it finished.
        "finished_at": manifest.updated_at.isoformat().replace("+00:00", "Z"),
    }
    if manifest.result is not None:
        body["result"] = manifest.result.model_dump()
    if manifest.error is not None:
        body["error"] = manifest.error.model_dump()
    return json.dumps(body, separators=(",", ":")).encode()


def deliver_once(job_id: str, attempt: int, ctx: WebhookContext) -> tuple[Outcome, float | None]:
    """One try: returns the outcome and the job's expiry (unix seconds; None if unknown)."""
    tracked = lifecycle.read(ctx.store, job_id)
    if tracked is None or tracked.status is JobStatus.DELETED:
        return Outcome.SKIPPED, None
    manifest = tracked.manifest
    expires = manifest.expires_at.timestamp()
    if not manifest.seal_holds(ctx.keyring):
        report_tampering(job_id, "worker")
        return Outcome.SKIPPED, expires
    url = manifest.options.webhook_url
    if url is None or not manifest.status.finished or expires <= ctx.clock():
        return Outcome.SKIPPED, expires
    secret = ctx.settings.signing_secret
    if secret is None:
        DELIVERIES.labels("not_configured").inc()
        log.error("webhook_not_configured", reason="WEBHOOK_SIGNING_SECRET is unset")
        return Outcome.SKIPPED, expires
    s = ctx.settings
    try:
        target = check_webhook_url(
            url,
            allow_http=s.allow_http,
            allow_private=s.allow_private_targets,
            max_length=s.max_url_length,
            resolver=ctx.resolver,
        )
    except WebhookHostUnresolved:
        return Outcome.FAILED, expires  # DNS may answer on the next try
    except WebhookTargetRefused as refused:
        log.warning("webhook_refused", reason=refused.reason)
        return Outcome.REFUSED, expires
    body = webhook_body(manifest)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "PicUpscaler-Attempt": str(attempt),
        SIGNATURE_HEADER: signature_header(body, secret.get_secret_value(), int(ctx.clock())),
    }
    try:
        answer = post_pinned(
            target,
            body,
            headers,
            connect_timeout=s.connect_timeout_seconds,
            read_timeout=s.read_timeout_seconds,
            max_response_bytes=s.max_response_bytes,
            ssl_context=ctx.ssl_context,
        )
    except WebhookDeliveryFailed as failed:
        log.info("webhook_try_failed", attempt=attempt, error=str(failed))
        return Outcome.FAILED, expires
    if not answer.ok:
        log.info("webhook_try_failed", attempt=attempt, status_code=answer.status)
        return Outcome.FAILED, expires
    log.info("webhook_delivered", attempt=attempt, status_code=answer.status)
    return Outcome.DELIVERED, expires


def deliver_with_retries(job_id: str, attempt: int, ctx: WebhookContext) -> None:
    """The actor's body: one try, then ``Retry`` after the next delay, or give up quietly."""
    structlog.contextvars.bind_contextvars(job_id=job_id)
    try:
        outcome, expires = deliver_once(job_id, attempt, ctx)
        if outcome is not Outcome.FAILED:
            DELIVERIES.labels(outcome.value).inc()
            return
        delays = ctx.settings.retry_delays_seconds
        delay = delays[attempt - 1] if attempt <= len(delays) else None
        if delay is None or (expires is not None and ctx.clock() + delay >= expires):
            DELIVERIES.labels("gave_up").inc()
            log.info("webhook_gave_up", attempts=attempt)
            return
        DELIVERIES.labels("retrying").inc()
        raise dramatiq.Retry(delay=int(delay * 1000))
    finally:
        structlog.contextvars.unbind_contextvars("job_id")


@dataclass
class Webhooks:
    """The webhook side of a worker process: the announcer and the delivering worker."""

    broker: dramatiq.Broker
    queue: str
    worker: dramatiq.Worker

    def announce(self, manifest: JobManifest) -> None:
        """Enqueue the notice of a finished job that asked for one; never raises.

        Called after the job's final state is stored: a broker outage loses the notice (it is
        counted), never the job.
        """
        if manifest.options.webhook_url is None:
            return
        message: dramatiq.Message[None] = dramatiq.Message(
            queue_name=self.queue,
            actor_name=DELIVER_WEBHOOK_ACTOR,
            args=(manifest.id,),
            kwargs={},
            options={},
        )
        try:
            self.broker.enqueue(message)
        except Exception as exc:  # pika raises many unrelated types; all mean "not sent"
            DELIVERIES.labels("not_enqueued").inc()
            log.warning("webhook_not_enqueued", job_id=manifest.id, error=type(exc).__name__)


def setup_webhooks(broker: dramatiq.Broker, job_queue: str, ctx: WebhookContext) -> Webhooks:
    """Register the actor on ``<job_queue>.webhooks`` and build the worker that runs it."""
    queue = webhook_queue(job_queue)
    if not any(isinstance(m, CurrentMessage) for m in broker.middleware):
        broker.add_middleware(CurrentMessage())  # the actor reads its try number from it
    s = ctx.settings

    def deliver_webhook(job_id: str) -> None:
        message = CurrentMessage.get_current_message()
        retries = int(message.options.get("retries", 0)) if message is not None else 0
        deliver_with_retries(job_id, retries + 1, ctx)

    dramatiq.actor(
        broker=broker,
        actor_name=DELIVER_WEBHOOK_ACTOR,
        queue_name=queue,
        # The schedule's own Retry raises stay within this; a bug or a storage outage spends
        # the same budget, so the tries stay bounded whatever goes wrong.
        max_retries=len(s.retry_delays_seconds),
        min_backoff=int((s.retry_delays_seconds or [30.0])[0] * 1000),
        max_backoff=int(max(s.retry_delays_seconds or [300.0]) * 1000),
        # Timeouts bound each socket operation; this bounds a receiver that drips its answer.
        time_limit=int((s.connect_timeout_seconds + s.read_timeout_seconds) * 3 * 1000),
    )(deliver_webhook)
    worker = dramatiq.Worker(broker, queues={queue}, worker_threads=s.delivery_threads)
    return Webhooks(broker, queue, worker)
