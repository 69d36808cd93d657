"""Configuration groups shared by the services, read from the environment once at start-up.

Each service has its own settings class (``GATEWAY_``, ``WORKER_``, ``JANITOR_`` prefixes) that
embeds these shared groups, so one ConfigMap can feed the common part to every Deployment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Where all-in-one mode keeps its objects and caches unless told otherwise.
DEFAULT_DATA_DIR = Path("var")


class StorageSettings(BaseSettings):
    """Object storage: a local directory (all-in-one) or an S3-compatible endpoint (MinIO)."""

    model_config = SettingsConfigDict(env_prefix="STORAGE_", extra="ignore")

    backend: Literal["local", "s3"] = "local"
    local_dir: Path = DEFAULT_DATA_DIR / "storage"
    endpoint: str = "127.0.0.1:9000"
    access_key: SecretStr = SecretStr("")
    secret_key: SecretStr = SecretStr("")
    secure: bool = True
    region: str | None = None
    jobs_bucket: str = "picupscaler-jobs"
    audit_bucket: str = "picupscaler-audit"
    #: Create missing buckets at start-up (all-in-one, tests). Off where IAM forbids it.
    create_buckets: bool = True


class BrokerSettings(BaseSettings):
    """Message broker: Dramatiq over RabbitMQ, or an in-process queue (all-in-one)."""

    model_config = SettingsConfigDict(env_prefix="BROKER_", extra="ignore")

    backend: Literal["inprocess", "rabbitmq"] = "inprocess"
    url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/%2F")
    queue: str = "picupscaler.jobs"
    #: How long a dead-lettered message may stay in the broker (the privacy promise needs < 24 h).
    dead_letter_ttl_seconds: int = Field(default=3600, ge=1, le=86400)
    #: Processing attempts after the first one for a job that raised.
    max_retries: int = Field(default=2, ge=0, le=5)
    #: Time limit for one job; keep it under RabbitMQ's consumer_timeout (30 min by default).
    time_limit_seconds: int = Field(default=900, ge=1)
    #: Topic exchange of the progress events (workers publish, gateways relay as SSE).
    events_exchange: str = "picupscaler.events"

    @property
    def events_url(self) -> str:
        """Where progress events travel: this RabbitMQ, or kombu's in-memory transport."""
        return self.url.get_secret_value() if self.backend == "rabbitmq" else "memory://"


class JobSettings(BaseSettings):
    """What every service must agree on about jobs: expiry and size limits."""

    model_config = SettingsConfigDict(env_prefix="JOBS_", extra="ignore")

    #: Everything a job stored is deleted this long after upload (at most 24 h).
    expiry_seconds: int = Field(default=86400, ge=1, le=86400)
    max_upload_bytes: int = Field(default=25 * 1000 * 1000, ge=1)
    max_input_pixels: int = Field(default=16_000_000, ge=1)
    max_output_pixels: int = Field(default=64_000_000, ge=1)


class CryptoSettings(BaseSettings):
    """Service keys from ``CRYPTO_KEYS`` or a key file: items ``key_id:base64(32 bytes)``."""

    model_config = SettingsConfigDict(env_prefix="CRYPTO_", extra="ignore")

    keys: SecretStr | None = None
    key_file: Path | None = None
    #: Which key wraps new data keys (default: the first one listed).
    active_key_id: str | None = None
    #: With no key configured, create a local key file (all-in-one mode only; in a cluster the
    #: key comes from a Kubernetes Secret and this is off).
    generate_local_key: bool = True
    local_key_file: Path = DEFAULT_DATA_DIR / "keys" / "service.key"


class ModelDirSettings(BaseSettings):
    """The operator's model directory (``MODEL_DIR``), read by the workers and the gateway.

    Workers load the checkpoints in it; gateways (the same directory mounted read-only) read
    only the file names, to offer those models. One variable, so the two cannot disagree.
    """

    model_config = SettingsConfigDict(env_prefix="MODEL_", extra="ignore")

    dir: Path | None = None


class AnalyticsSettings(BaseSettings):
    """Anonymous aggregate usage counts (``ANALYTICS_``)."""

    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore")

    #: Seconds between writes of a process's aggregate counters to storage.
    flush_seconds: float = Field(default=60.0, gt=0)


class AdmissionSettings(BaseSettings):
    """What one client network may ask of the fleet (``ADMISSION_``), and the fleet's backlog.

    A network is an IPv4 /24 or an IPv6 /48. The state is shared by every gateway replica and
    worker through Redis (``ADMISSION_REDIS_URL``); unset (all-in-one), it lives in memory.
    """

    model_config = SettingsConfigDict(env_prefix="ADMISSION_", extra="ignore")

    redis_url: SecretStr | None = None
    #: Prefix of every Redis key (several deployments may share one Redis).
    redis_key_prefix: str = "picupscaler"
    #: Uploads per network per minute (0: no limit), checked before the body is read.
    uploads_per_minute: int = Field(default=30, ge=0)
    #: Privacy exports per network per minute (0: no limit): each reads up to 20 manifests.
    exports_per_minute: int = Field(default=10, ge=0)
    #: Model work per network per window, in TFLOP (x4plus on a 512x512 photo is 9.4). The
    #: default admits about two of the costliest jobs the limits allow (574 TFLOP each).
    work_budget_tflop: float = Field(default=1200.0, gt=0)
    work_window_seconds: int = Field(default=3600, ge=1)
    #: Jobs one network may have queued or running at once.
    max_in_flight_per_network: int = Field(default=4, ge=1)
    #: Messages waiting in the job queue beyond which every upload is refused (503).
    max_backlog: int = Field(default=1000, ge=1)
    #: A job stops counting as in flight this long after acceptance, even if no worker said it
    #: was done (a worker that died): above the longest queue wait plus the retries' time.
    in_flight_ttl_seconds: int = Field(default=7200, ge=60)


class LogSettings(BaseSettings):
    """Logging: console lines for people, JSON for log shippers."""

    model_config = SettingsConfigDict(env_prefix="LOG_", extra="ignore")

    format: Literal["console", "json"] = "console"
    level: str = "INFO"
