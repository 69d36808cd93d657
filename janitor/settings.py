"""Janitor settings (``JANITOR_`` prefix) plus the shared groups it needs."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.analytics import AnalyticsSettings
from shared.audit.settings import AuditSettings
from shared.settings import JobSettings, LogSettings, StorageSettings


class JanitorSettings(BaseSettings):
    """Everything the janitor reads from its environment, once, at start-up."""

    model_config = SettingsConfigDict(env_prefix="JANITOR_", extra="ignore")

    #: Seconds between sweeps.
    interval_seconds: float = Field(default=300.0, gt=0)
    #: A job is deleted this long *before* its expires_at, so that a late or slow sweep still
    #: deletes everything before the promised moment; keep it above interval + sweep time.
    #: Unset: 15 minutes, or 5 % of the expiry when that is shorter (short test expiries).
    safety_margin_seconds: float | None = Field(default=None, ge=0)
    #: Abort multipart uploads left incomplete for longer than this (their parts hold data).
    incomplete_upload_max_age_seconds: float = Field(default=3600.0, gt=0)
    #: Install a bucket lifecycle rule (1 day) as a backstop behind the sweep.
    lifecycle_backstop: bool = True
    #: Seconds between audit maintenance passes (incremental verification, compaction of
    #: records past AUDIT_RETENTION_DAYS, analytics roll-up). They run in their own thread,
    #: never inside a sweep.
    audit_interval_seconds: float = Field(default=600.0, gt=0)
    #: Every N-th pass verifies everything instead of what is new (0: never; the operator's
    #: ``verify-audit`` is always full). 144 passes of 10 minutes: once a day.
    audit_full_verify_every: int = Field(default=144, ge=0)
    #: Port for the Prometheus endpoint (0 = none).
    metrics_port: int = Field(default=0, ge=0, le=65535)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)

    @property
    def margin_seconds(self) -> float:
        """The safety margin in force."""
        if self.safety_margin_seconds is not None:
            return self.safety_margin_seconds
        return min(900.0, 0.05 * self.jobs.expiry_seconds)

    @model_validator(mode="after")
    def _margin_below_expiry(self) -> JanitorSettings:
        if self.margin_seconds >= self.jobs.expiry_seconds:
            raise ValueError("JANITOR_SAFETY_MARGIN_SECONDS must be below JOBS_EXPIRY_SECONDS")
        return self
