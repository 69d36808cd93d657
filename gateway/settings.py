"""Gateway settings (``GATEWAY_`` prefix) plus the shared groups it needs."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import (
    AnalyticsSettings,
    BrokerSettings,
    CryptoSettings,
    JobSettings,
    LogSettings,
    ModelDirSettings,
    StorageSettings,
)


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
    #: Bearer token for GET /v1/analytics (anonymous aggregates); unset, the endpoint is off.
    analytics_token: SecretStr | None = None
    #: Requests per minute per client network (/24 or /48) on POST /v1/jobs; 0 = no limit.
    rate_limit_per_minute: int = Field(default=30, ge=0)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    crypto: CryptoSettings = Field(default_factory=CryptoSettings)
    #: The workers' model directory, mounted read-only: the gateway offers the models named
    #: there (file names only; a misnamed file or a missing directory stops start-up).
    models: ModelDirSettings = Field(default_factory=ModelDirSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    log: LogSettings = Field(default_factory=LogSettings)
