"""Gateway settings (``GATEWAY_`` prefix) plus the shared groups it needs."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import BrokerSettings, JobSettings, LogSettings, StorageSettings


class GatewaySettings(BaseSettings):
    """Everything the gateway reads from its environment, once, at start-up."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    #: Take the client address from X-Forwarded-For (only behind a trusted ingress).
    trust_forwarded_for: bool = False
    #: Seconds a client is told to wait (Retry-After) when the broker or storage is down.
    retry_after_seconds: int = 5
    privacy_contact: str = "privacy@example.org"
    #: Set when the workers have face-restoration weights (facexlib + GFPGAN) installed.
    face_enhance_available: bool = False
    #: Largest ``scale`` accepted (any model; above its native scales the worker runs passes).
    max_scale: int = Field(default=8, ge=1, le=16)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    log: LogSettings = Field(default_factory=LogSettings)
