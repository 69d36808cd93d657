"""Audit maintenance, on its own thread and cadence, never inside a sweep.

Each pass: verify the audit log incrementally from the signed state the previous pass saved
(every ``JANITOR_AUDIT_FULL_VERIFY_EVERY``-th pass: fully), then compact records past
``AUDIT_RETENTION_DAYS`` into signed summaries (only when the log verified), then roll up the
finished hours of analytics and delete the hours past ``ANALYTICS_RETENTION_DAYS``. A slow or
failing pass never delays a deletion: the sweep loop does not wait for it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from janitor import metrics
from janitor.settings import JanitorSettings
from shared import analytics, audit
from shared.errors import StorageUnavailable
from shared.storage import ObjectStore

log = structlog.get_logger(__name__)


@dataclass
class MaintenanceResult:
    """What one pass did."""

    verification: audit.VerifyReport
    compaction: audit.CompactionResult | None
    rollup: analytics.RollupResult


class AuditMaintenance:
    """Runs :meth:`run_once` every ``audit_interval_seconds`` until ``stopping`` is set."""

    def __init__(
        self, audit_store: ObjectStore, settings: JanitorSettings, stopping: threading.Event
    ) -> None:
        self.audit_store = audit_store
        self.settings = settings
        self.stopping = stopping
        self.passes = 0
        self.last: MaintenanceResult | None = None

    def run_once(self, now: datetime | None = None) -> MaintenanceResult:
        """One pass: verify, compact when clean, roll up analytics."""
        config = audit.current_config()
        every = self.settings.audit_full_verify_every
        full = self.passes == 0 or (every > 0 and self.passes % every == 0)
        self.passes += 1
        report = audit.verify(self.audit_store, incremental=not full, save_state_with=config.signer)
        metrics.record_verification(report)
        if not report.ok:
            log.error("audit_chain_broken", problems=report.problems[:20])
        compaction = None
        if report.ok and config.signer is not None:
            compaction = audit.compact(
                self.audit_store,
                retention=timedelta(days=config.settings.retention_days),
                signer=config.signer,
                keys=config.verify_keys,
                now=now,
            )
            metrics.AUDIT_RECORDS_COMPACTED.inc(compaction.records_summarised)
        rollup = analytics.roll_up(self.audit_store, self.settings.analytics, now=now)
        metrics.ANALYTICS_RAW_ROLLED_UP.inc(rollup.raw_objects_merged)
        log.info(
            "audit_maintenance_finished",
            full=report.full,
            verified=report.ok,
            records_checked=report.records,
            seconds=round(report.seconds, 3),
            records_compacted=compaction.records_summarised if compaction else 0,
            analytics_hours_rolled_up=rollup.hours_rolled_up,
        )
        self.last = MaintenanceResult(report, compaction, rollup)
        return self.last

    def loop(self) -> None:
        """Run passes until stopped; a failed pass is logged and tried again next time."""
        while not self.stopping.is_set():
            try:
                self.run_once(datetime.now(UTC))
            except StorageUnavailable as exc:
                log.warning("audit_maintenance_failed", error=str(exc))
            except Exception:
                log.exception("audit_maintenance_crashed")
            self.stopping.wait(self.settings.audit_interval_seconds)

    def start(self) -> threading.Thread:
        """Start :meth:`loop` in a daemon thread."""
        thread = threading.Thread(target=self.loop, name="audit-maintenance", daemon=True)
        thread.start()
        return thread
