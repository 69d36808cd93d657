"""Janitor settings (``JANITOR_`` prefix) plus the shared groups it needs."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import JobSettings, LogSettings, StorageSettings


class JanitorSettings(BaseSettings):
    """Everything the janitor reads from its environment, once, at start-up."""

    model_config = SettingsConfigDict(env_prefix="JANITOR_", extra="ignore")

    #: Seconds between sweeps. With the default 24 h expiry, objects live at most expiry + this.
    interval_seconds: float = Field(default=300.0, gt=0)
    #: Port for the Prometheus endpoint (0 = none).
    metrics_port: int = Field(default=0, ge=0, le=65535)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    log: LogSettings = Field(default_factory=LogSettings)
