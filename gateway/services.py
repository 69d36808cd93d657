"""The gateway's connections, built once at start-up and shared by all requests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

import dramatiq
from fastapi import Depends, Request

from gateway.admission import Admission
from gateway.errors import ApiError
from gateway.idempotency import (
    WAIT_SECONDS,
    Entry,
    IdempotencyStore,
    body_hash,
    idempotent_token,
    key_hash,
    open_idempotency,
    valid_key,
)
from gateway.settings import GatewaySettings
from gateway.slots import Slots
from gateway.submit import SubmittedJob, submit_job
from gateway.tokens import new_token
from shared.analytics import Analytics
from shared.broker import build_broker, queue_depth
from shared.crypto import KeyRing
from shared.events import EventPublisher, EventRelay, ProgressEvent
from shared.inflight import InFlight, open_in_flight
from shared.manifest import ClientInfo
from shared.models import ModelInfo, catalogue
from shared.operator_models import face_restorer_file, scan_operator_models
from shared.storage import ObjectStore, open_store


@dataclass(frozen=True)
class FaceOffer:
    """Whether this gateway offers face enhancement, and the reason, for clients and operators."""

    available: bool
    reason: str

    @classmethod
    def of(cls, settings: GatewaySettings) -> FaceOffer:
        """From the setting if given, else from MODEL_DIR (the same rule as the workers')."""
        if settings.face_enhance_available is not None:
            said = "on" if settings.face_enhance_available else "off"
            return cls(settings.face_enhance_available, f"GATEWAY_FACE_ENHANCE_AVAILABLE is {said}")
        path, reason = face_restorer_file(settings.models.dir)
        return cls(path is not None, reason)


@dataclass
class Services:
    """Settings, object stores and broker of one gateway process."""

    settings: GatewaySettings
    store: ObjectStore
    audit_store: ObjectStore
    broker: dramatiq.Broker
    keyring: KeyRing
    analytics: Analytics
    #: What clients may ask for: the built-in models plus the operator's.
    models: dict[str, ModelInfo]
    admission: Admission
    #: Whether face enhancement is offered, and why (or why not).
    faces: FaceOffer
    #: Progress events: relayed to this process's streams, and published (deletions).
    events: EventRelay
    event_publisher: EventPublisher
    #: Idempotency-Key entries (Redis with the admission state, or memory).
    idempotency: IdempotencyStore
    #: Uploads this process holds in memory, in all and per client network.
    uploads: Slots = field(init=False)
    #: Uploads being decoded at once (each holds its whole picture while it is checked).
    decode_slots: threading.BoundedSemaphore = field(init=False)
    #: Progress streams open in this process, in all, per job and per client network.
    streams: Slots = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.uploads = Slots(
            s.max_uploads_in_memory, {"network": s.max_uploads_in_memory_per_network}
        )
        self.decode_slots = threading.BoundedSemaphore(s.max_decodes_at_once)
        self.streams = Slots(
            s.max_streams, {"job": s.max_streams_per_job, "network": s.max_streams_per_network}
        )

    @classmethod
    def from_settings(
        cls,
        settings: GatewaySettings,
        broker: dramatiq.Broker | None = None,
        models: dict[str, ModelInfo] | None = None,
        in_flight: InFlight | None = None,
        faces: FaceOffer | None = None,
    ) -> Services:
        """Open storage, the broker and the admission state as configured.

        All-in-one mode passes its in-process ``broker``, exactly the ``models`` its worker
        loaded (instead of the catalogue read from ``MODEL_DIR``), the ``in_flight`` counts it
        shares with that worker, and whether that worker loaded a face restorer (``faces``).
        """
        audit_store = open_store(settings.storage, settings.storage.audit_bucket)
        broker = broker or build_broker(settings.broker, settings.jobs)
        in_flight = in_flight or open_in_flight(settings.admission)
        admission = Admission(
            settings.admission,
            in_flight,
            lambda: queue_depth(broker, settings.broker.queue),
            retry_after_seconds=settings.retry_after_seconds,
        )
        return cls(
            settings=settings,
            store=open_store(settings.storage, settings.storage.jobs_bucket),
            audit_store=audit_store,
            broker=broker,
            keyring=KeyRing.from_settings(settings.crypto),
            analytics=Analytics(audit_store, service="gateway"),
            models=models
            if models is not None
            else catalogue(scan_operator_models(settings.models.dir)),
            admission=admission,
            faces=faces or FaceOffer.of(settings),
            events=EventRelay(settings.broker.events_url, settings.broker.events_exchange),
            event_publisher=EventPublisher(
                settings.broker.events_url, settings.broker.events_exchange
            ),
            idempotency=open_idempotency(settings.admission),
        )

    def submit(
        self,
        *,
        file: bytes,
        fields: dict[str, str],
        client: ClientInfo | None,
        opted_out: bool,
        idempotency_key: str | None = None,
    ) -> SubmittedJob:
        """:func:`gateway.submit.submit_job` with this process's stores, broker and limits;
        refusals are counted (:meth:`refused`) and raised. With an idempotency key, see
        :mod:`gateway.idempotency`."""
        if idempotency_key is None:
            return self._submit(file, fields, client, opted_out, new_token)
        if not valid_key(idempotency_key):
            raise self._refusal(
                ApiError(
                    422,
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 8 to 128 visible ASCII characters.",
                ),
                opted_out,
            )
        key = key_hash(idempotency_key)
        body = body_hash(file, fields)
        ttl = self.settings.jobs.expiry_seconds
        earlier = self.idempotency.claim(key, Entry(body), ttl)
        if earlier is None:
            active = self.keyring.active
            try:
                job = self._submit(
                    file,
                    fields,
                    client,
                    opted_out,
                    lambda job_id: idempotent_token(self.keyring, active, job_id, idempotency_key),
                )
            except Exception:
                self.idempotency.drop(key)  # not accepted: a retry may create it
                raise
            entry = Entry(body, job.id, active, job.expires_at.isoformat())
            self.idempotency.put(key, entry, ttl)
            return job
        if earlier.body_sha256 != body:
            raise self._refusal(
                ApiError(
                    422,
                    "idempotency_key_reused",
                    "This Idempotency-Key was used for "
                    "another upload; use a new key for a new upload.",
                ),
                opted_out,
            )
        done = _wait_for_job(self.idempotency, key, earlier)
        if done is None or done.job_id is None or done.key_id is None or done.expires_at is None:
            raise ApiError(
                409,
                "idempotency_key_in_use",
                "A request with this Idempotency-Key is still being handled; retry shortly.",
                {"Retry-After": str(self.settings.retry_after_seconds)},
            )
        token = idempotent_token(self.keyring, done.key_id, done.job_id, idempotency_key)
        return SubmittedJob(done.job_id, token, datetime.fromisoformat(done.expires_at))

    def _refusal(self, error: ApiError, opted_out: bool) -> ApiError:
        self.refused(error, opted_out=opted_out)
        return error

    def _submit(
        self,
        file: bytes,
        fields: dict[str, str],
        client: ClientInfo | None,
        opted_out: bool,
        token_for: Callable[[str], str],
    ) -> SubmittedJob:
        try:
            job = submit_job(
                file=file,
                fields=fields,
                store=self.store,
                broker=self.broker,
                keyring=self.keyring,
                models=self.models,
                jobs=self.settings.jobs,
                broker_settings=self.settings.broker,
                max_scale=self.settings.max_scale,
                face_enhance_available=self.faces.available,
                retry_after_seconds=self.settings.retry_after_seconds,
                admission=self.admission,
                client=client,
                analytics_opt_out=opted_out,
                token_for=token_for,
                decode_slots=self.decode_slots,
                webhooks=self.settings.webhooks,
            )
        except ApiError as exc:
            self.refused(exc, opted_out=opted_out)
            raise
        if not opted_out and job.manifest is not None:
            options = job.manifest.options
            self.analytics.count("uploads_accepted", model=options.model, scale=str(options.scale))
        return job

    def publish_deleted(self, job_id: str) -> None:
        """Tell every gateway's open streams of ``job_id`` that it is gone (best effort)."""
        self.event_publisher.publish(ProgressEvent(job_id, 2**62, "deleted", 0.0, "deleted"))

    def refused(self, error: ApiError, *, opted_out: bool) -> None:
        """Count a refused upload in the anonymous analytics, unless the client opted out (the
        Prometheus count of every refusal is kept where errors are rendered)."""
        if not opted_out:
            self.analytics.count("uploads_refused", code=error.code)


def _wait_for_job(store: IdempotencyStore, key: str, entry: Entry) -> Entry | None:
    """The entry once its job exists (the first request with the key is still running)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while entry.job_id is None:
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)
        found = store.get(key)
        if found is None:
            return None  # the first request failed; this one may retry
        entry = found
    return entry


def get_services(request: Request) -> Services:
    """FastAPI dependency: the process's Services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
