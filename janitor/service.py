"""The janitor's loop: sweep, sleep, repeat; used stand-alone and inside all-in-one mode."""

from __future__ import annotations

import threading
from datetime import timedelta

import structlog

from janitor.settings import JanitorSettings
from janitor.sweep import SweepResult, sweep
from shared.errors import StorageUnavailable
from shared.storage import ObjectStore, open_store

log = structlog.get_logger(__name__)


class Janitor:
    """Sweeps expired jobs every ``interval_seconds`` until stopped."""

    def __init__(self, settings: JanitorSettings) -> None:
        self.settings = settings
        self.store: ObjectStore = open_store(settings.storage, settings.storage.jobs_bucket)
        self.audit_store: ObjectStore = open_store(settings.storage, settings.storage.audit_bucket)
        self.stopping = threading.Event()
        if settings.storage.create_buckets:
            for store in (self.store, self.audit_store):
                try:
                    store.ensure_bucket()
                except StorageUnavailable:
                    log.warning("bucket_not_ensured", bucket=store.bucket)

    def sweep_once(self) -> SweepResult:
        """Run one sweep now."""
        return sweep(
            self.store,
            self.audit_store,
            expiry=timedelta(seconds=self.settings.jobs.expiry_seconds),
        )

    def run(self) -> None:
        """Sweep until :meth:`stop`; a failed sweep is logged and retried next interval."""
        while not self.stopping.is_set():
            try:
                self.sweep_once()
            except StorageUnavailable as exc:
                log.warning("sweep_failed", error=str(exc))
            except Exception:
                log.exception("sweep_crashed")
            self.stopping.wait(self.settings.interval_seconds)

    def stop(self) -> None:
        """Ask the loop to end after the current sweep."""
        self.stopping.set()
