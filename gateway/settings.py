"""Gateway settings (``GATEWAY_`` prefix) plus the shared groups it needs."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.audit.settings import AuditSettings
from shared.settings import (
    AdmissionSettings,
    AnalyticsSettings,
    BrokerSettings,
    CryptoSettings,
    JobSettings,
    LogSettings,
    ModelDirSettings,
    StorageSettings,
)
from shared.webhooks import WebhookSettings


class GatewaySettings(BaseSettings):
    """Everything the gateway reads from its environment, once, at start-up."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    #: Reverse proxies in front of the gateway that append to X-Forwarded-For (the ingress:
    #: 1). The client is the address the outermost of them saw: the N-th entry from the right.
    #: 0: the TCP peer is the client (X-Forwarded-For is ignored: anyone can write it).
    trusted_proxy_hops: int = Field(default=0, ge=0, le=8)
    #: Deprecated spelling of ``trusted_proxy_hops=1``.
    trust_forwarded_for: bool = False
    #: Seconds a client is told to wait (Retry-After) when the broker or storage is down.
    retry_after_seconds: int = 5
    privacy_contact: str = "privacy@example.org"
    #: Offer face enhancement: unset, when MODEL_DIR holds a face restorer (the workers' rule,
    #: shared.operator_models.face_restorer_file); true or false to say so explicitly.
    face_enhance_available: bool | None = None
    #: Largest ``scale`` accepted (any model; above its native scales the worker runs passes).
    max_scale: int = Field(default=8, ge=1, le=16)
    #: Bearer token for GET /v1/analytics (anonymous aggregates); unset, the endpoint is off.
    analytics_token: SecretStr | None = None
    storage: StorageSettings = Field(default_factory=StorageSettings)
    crypto: CryptoSettings = Field(default_factory=CryptoSettings)
    #: The workers' model directory, mounted read-only: the gateway offers the models named
    #: there (file names only; a misnamed file or a missing directory stops start-up).
    models: ModelDirSettings = Field(default_factory=ModelDirSettings)
    #: Origins besides the gateway's own whose pages may send uploads (a separate front end).
    allowed_origins: list[str] = Field(default_factory=list)
    #: Uploads held in memory at once by this process (25 MB each at most); beyond it: 503.
    max_uploads_in_memory: int = Field(default=16, ge=1)
    #: ... and by one client network (429 beyond it), so one network cannot take them all.
    max_uploads_in_memory_per_network: int = Field(default=3, ge=1)
    #: Uploads decoded (checked) at once; each holds its whole picture meanwhile.
    max_decodes_at_once: int = Field(default=2, ge=1)
    #: An upload whose body stalls this long between two reads is closed (408).
    upload_idle_timeout_seconds: float = Field(default=15.0, gt=0)
    #: An upload that has not arrived whole after this long is closed (408).
    upload_timeout_seconds: float = Field(default=300.0, gt=0)
    #: Progress streams open at once in this process: in all, per job, per client network.
    max_streams: int = Field(default=1000, ge=1)
    max_streams_per_job: int = Field(default=4, ge=1)
    max_streams_per_network: int = Field(default=16, ge=1)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    admission: AdmissionSettings = Field(default_factory=AdmissionSettings)
    #: Which ``webhook_url`` values are accepted (and whether webhooks are on at all).
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)

    @property
    def proxy_hops(self) -> int:
        """Trusted proxy hops in force (the deprecated boolean counts as one)."""
        return self.trusted_proxy_hops or (1 if self.trust_forwarded_for else 0)

    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    #: The deletion audit log: this service's signing key and the anchor store.
    audit: AuditSettings = Field(default_factory=AuditSettings)
    log: LogSettings = Field(default_factory=LogSettings)
