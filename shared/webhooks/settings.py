"""Webhook settings (``WEBHOOK_`` prefix), read by the gateway (which URLs it accepts) and the
worker (how it delivers). One group, so that the two cannot disagree about the targets."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebhookSettings(BaseSettings):
    """Webhooks on completion: the signing secret, the allowed targets, timeouts and retries."""

    model_config = SettingsConfigDict(env_prefix="WEBHOOK_", extra="ignore")

    #: The per-deployment HMAC-SHA256 key every delivery is signed with; receivers hold it too.
    #: Only workers sign: in a cluster the gateways get ``WEBHOOK_ENABLED=true`` instead.
    signing_secret: SecretStr | None = Field(default=None, min_length=16)
    #: Whether the gateway accepts ``webhook_url`` (422 webhooks_unavailable when not). Unset:
    #: exactly when this process holds the signing secret (all-in-one). A worker told ``true``
    #: without the secret refuses to start: it could not sign what the gateways accepted.
    enabled: bool | None = None
    #: Deliver to private, loopback, link-local and other non-public addresses (a receiver on
    #: the operator's own network, or tests). Off by default: that is what SSRF reaches for.
    allow_private_targets: bool = False
    #: Accept ``http://`` URLs as well as ``https://`` (tests, a receiver beside the service).
    allow_http: bool = False
    #: Longest URL accepted (an upload form field holds 1024 bytes at most: gateway.upload).
    max_url_length: int = Field(default=1024, ge=16, le=1024)
    connect_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    read_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    #: The waits between tries: one try plus one per entry (default: 5 tries over 10 minutes).
    #: A try that would fall after the job's expiry is not made.
    retry_delays_seconds: list[float] = Field(
        default_factory=lambda: [30.0, 90.0, 180.0, 300.0], max_length=10
    )
    #: Deliveries one worker process runs at once (beside, never instead of, its job).
    delivery_threads: int = Field(default=2, ge=1, le=32)
    #: Bytes of a receiver's answer that are read (and thrown away) before closing.
    max_response_bytes: int = Field(default=4096, ge=0, le=65536)

    @property
    def accepts_urls(self) -> bool:
        """Whether a gateway with these settings takes ``webhook_url``."""
        return self.enabled if self.enabled is not None else self.signing_secret is not None

    def check_can_sign(self) -> None:
        """Raise ValueError when webhooks are on but this process cannot sign them (a worker)."""
        if self.enabled and self.signing_secret is None:
            raise ValueError(
                "WEBHOOK_ENABLED=true but WEBHOOK_SIGNING_SECRET is unset: the gateways accept "
                "webhook URLs this worker could not sign"
            )
