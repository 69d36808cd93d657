"""The gateway's connections, built once at start-up and shared by all requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import dramatiq
from fastapi import Depends, Request

from gateway.settings import GatewaySettings
from shared.analytics import Analytics
from shared.broker import build_broker
from shared.crypto import KeyRing
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

        ``models`` overrides the catalogue read from ``settings.model_dir`` (all-in-one passes
        exactly what its in-process worker loaded).
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
            else catalogue(scan_operator_models(settings.model_dir)),
        )


def get_services(request: Request) -> Services:
    """FastAPI dependency: the process's Services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
