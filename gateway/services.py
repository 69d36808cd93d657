"""The gateway's connections, built once at start-up and shared by all requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import dramatiq
from fastapi import Depends, Request

from gateway.settings import GatewaySettings
from shared.broker import build_broker
from shared.storage import ObjectStore, open_store


@dataclass
class Services:
    """Settings, object stores and broker of one gateway process."""

    settings: GatewaySettings
    store: ObjectStore
    audit_store: ObjectStore
    broker: dramatiq.Broker

    @classmethod
    def from_settings(
        cls, settings: GatewaySettings, broker: dramatiq.Broker | None = None
    ) -> Services:
        """Open storage and the broker as configured (``broker`` overrides, for all-in-one)."""
        return cls(
            settings=settings,
            store=open_store(settings.storage, settings.storage.jobs_bucket),
            audit_store=open_store(settings.storage, settings.storage.audit_bucket),
            broker=broker or build_broker(settings.broker, settings.jobs),
        )


def get_services(request: Request) -> Services:
    """FastAPI dependency: the process's Services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
