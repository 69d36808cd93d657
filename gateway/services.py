"""The gateway's connections, built once at start-up and shared by all requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import dramatiq
from fastapi import Depends, Request

from gateway import metrics
from gateway.errors import ApiError
from gateway.settings import GatewaySettings
from gateway.submit import SubmittedJob, submit_job
from shared.analytics import Analytics
from shared.broker import build_broker
from shared.crypto import KeyRing
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

    @classmethod
    def from_settings(
        cls,
        settings: GatewaySettings,
        broker: dramatiq.Broker | None = None,
        models: dict[str, ModelInfo] | None = None,
    ) -> Services:
        """Open storage and the broker as configured (``broker`` overrides, for all-in-one).

        ``models`` overrides the catalogue read from ``MODEL_DIR`` (all-in-one passes exactly
        what its in-process worker loaded).
        """
        audit_store = open_store(settings.storage, settings.storage.audit_bucket)
        return cls(
            settings=settings,
            store=open_store(settings.storage, settings.storage.jobs_bucket),
            audit_store=audit_store,
            broker=broker or build_broker(settings.broker, settings.jobs),
            keyring=KeyRing.from_settings(settings.crypto),
            analytics=Analytics(audit_store, service="gateway"),
            models=models
            if models is not None
            else catalogue(scan_operator_models(settings.models.dir)),
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
                client=client,
                analytics_opt_out=opted_out,
            )
        except ApiError as exc:
            self.refused(exc, opted_out=opted_out)
            raise
        if not opted_out:
            options = job.manifest.options
            self.analytics.count("uploads_accepted", model=options.model, scale=str(options.scale))
        return job

    def refused(self, error: ApiError, *, opted_out: bool) -> None:
        """Count a refused upload (metrics always; anonymous analytics unless opted out)."""
        metrics.UPLOADS_REFUSED.labels(error.code).inc()
        if not opted_out:
            self.analytics.count("uploads_refused", code=error.code)


def get_services(request: Request) -> Services:
    """FastAPI dependency: the process's Services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
