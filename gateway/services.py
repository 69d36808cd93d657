"""The gateway's connections, built once at start-up and shared by all requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import dramatiq
from fastapi import Depends, Request

from gateway.admission import Admission
from gateway.errors import ApiError
from gateway.settings import GatewaySettings
from gateway.slots import Slots
from gateway.submit import SubmittedJob, submit_job
from shared.analytics import Analytics
from shared.broker import build_broker, queue_depth
from shared.crypto import KeyRing
from shared.inflight import InFlight, open_in_flight
from shared.manifest import ClientInfo
from shared.models import ModelInfo, catalogue
from shared.operator_models import scan_operator_models
from shared.storage import ObjectStore, open_store


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
    #: Uploads this process holds in memory, in all and per client network.
    uploads: Slots = field(init=False)
    #: Progress streams open in this process, in all, per job and per client network.
    streams: Slots = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.uploads = Slots(
            s.max_uploads_in_memory, {"network": s.max_uploads_in_memory_per_network}
        )
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
    ) -> Services:
        """Open storage, the broker and the admission state as configured.

        All-in-one mode passes its in-process ``broker``, exactly the ``models`` its worker
        loaded (instead of the catalogue read from ``MODEL_DIR``), and the ``in_flight``
        counts it shares with that worker.
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
        )

    def submit(
        self, *, file: bytes, fields: dict[str, str], client: ClientInfo | None, opted_out: bool
    ) -> SubmittedJob:
        """:func:`gateway.submit.submit_job` with this process's stores, broker and limits;
        refusals are counted (:meth:`refused`) and raised."""
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
                face_enhance_available=self.settings.face_enhance_available,
                retry_after_seconds=self.settings.retry_after_seconds,
                admission=self.admission,
                client=client,
                analytics_opt_out=opted_out,
                webhooks=self.settings.webhooks,
            )
        except ApiError as exc:
            self.refused(exc, opted_out=opted_out)
            raise
        if not opted_out:
            options = job.manifest.options
            self.analytics.count("uploads_accepted", model=options.model, scale=str(options.scale))
        return job

    def refused(self, error: ApiError, *, opted_out: bool) -> None:
        """Count a refused upload in the anonymous analytics, unless the client opted out (the
        Prometheus count of every refusal is kept where errors are rendered)."""
        if not opted_out:
            self.analytics.count("uploads_refused", code=error.code)


def get_services(request: Request) -> Services:
    """FastAPI dependency: the process's Services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
