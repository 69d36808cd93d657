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


class LogSettings(BaseSettings):
    """Logging: console lines for people, JSON for log shippers."""

    model_config = SettingsConfigDict(env_prefix="LOG_", extra="ignore")

    format: Literal["console", "json"] = "console"
    level: str = "INFO"
