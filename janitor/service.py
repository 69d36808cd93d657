"""The janitor's operations: the sweep loop, the report, audit verification, operator purge."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from janitor import metrics
from janitor.maintenance import AuditMaintenance
from janitor.settings import JanitorSettings
from janitor.sweep import SweepResult, expired_hours, oldest_object_age, sweep
from shared import audit, keys
from shared.deletion import delete_job, group_by_job
from shared.errors import StorageUnavailable
from shared.failpoints import failpoint
from shared.storage import ObjectStore, ensure_buckets, open_store

log = structlog.get_logger(__name__)


class Janitor:
    """Sweeps due jobs every ``interval_seconds`` until stopped."""

    def __init__(self, settings: JanitorSettings) -> None:
        self.settings = settings
        self.store: ObjectStore = open_store(settings.storage, settings.storage.jobs_bucket)
        self.audit_store: ObjectStore = open_store(settings.storage, settings.storage.audit_bucket)
        self.stopping = threading.Event()
        self.sweeps = 0
        if settings.storage.create_buckets:
            for bucket in ensure_buckets(self.store, self.audit_store):
                log.warning("bucket_not_ensured", bucket=bucket)
        audit.configure(settings.audit)
        self.maintenance = AuditMaintenance(self.audit_store, settings, self.stopping)

    def check_audit_anchor(self) -> audit.AnchorStatus | None:
        """The start-up check of the audit anchor (raises AnchorUnprotected: refuse to start).

        None when the anchor store cannot be reached now; the maintenance passes report it.
        """
        try:
            return audit.check_anchor(self.audit_store, create=self.settings.storage.create_buckets)
        except audit.AnchorUnavailable as exc:
            log.warning("audit_anchor_not_checked", error=str(exc))
            return None

    @property
    def expiry(self) -> timedelta:
        """How long after upload a job's expires_at is."""
        return timedelta(seconds=self.settings.jobs.expiry_seconds)

    def install_backstop(self) -> None:
        """Set the bucket lifecycle rule (1 day); the sweep stays the guarantee."""
        try:
            self.store.set_expiry_backstop("jobs/", days=1)
        except StorageUnavailable as exc:
            log.warning("lifecycle_backstop_not_set", error=str(exc))

    def sweep_once(self) -> SweepResult:
        """Run one sweep now."""
        return sweep(
            self.store,
            self.audit_store,
            expiry=self.expiry,
            margin=timedelta(seconds=self.settings.margin_seconds),
            incomplete_upload_max_age=timedelta(
                seconds=self.settings.incomplete_upload_max_age_seconds
            ),
        )

    def verify_audit(
        self, *, incremental: bool = False, save_state: bool = False
    ) -> audit.VerifyReport:
        """Check the audit chains (all of them, or what is new) and publish the outcome."""
        config = audit.current_config()
        report = audit.verify(
            self.audit_store,
            incremental=incremental,
            save_state_with=config.signer if save_state else None,
        )
        metrics.record_verification(report)
        return report

    def run(self) -> None:
        """Sweep until :meth:`stop`; a failed sweep is logged and retried next interval.

        Audit maintenance (verification, compaction, analytics roll-up) runs beside it in its
        own thread, so the sweep never waits for it. Call :meth:`check_audit_anchor` first.
        """
        if self.settings.lifecycle_backstop:
            self.install_backstop()
        self.maintenance.start()
        while not self.stopping.is_set():
            try:
                failpoint("janitor.sweep")
                self.sweep_once()
            except StorageUnavailable as exc:
                log.warning("sweep_failed", error=str(exc))
            except Exception:
                log.exception("sweep_crashed")
            self.sweeps += 1
            self.stopping.wait(self.settings.interval_seconds)

    def stop(self) -> None:
        """Ask the loop to end after the current sweep."""
        self.stopping.set()

    def report(self, now: datetime | None = None) -> dict[str, Any]:
        """The operator's proof: oldest object, deletions in 24 h, overdue objects, audit."""
        now = now or datetime.now(UTC)
        overdue = 0
        for hour in expired_hours(self.store, now, self.expiry):
            for job_id, objs in group_by_job(self.store.list(hour)).items():
                if keys.is_due(job_id, now, self.expiry):
                    overdue += len(objs)
        since = now - timedelta(hours=24)
        recent = list(audit.read_recent_records(self.audit_store, since))
        verified = self.verify_audit(incremental=True)
        oldest = oldest_object_age(self.store, now)
        return {
            "oldest_object_age_seconds": oldest,
            "expiry_seconds": self.settings.jobs.expiry_seconds,
            "jobs_deleted_last_24h": len(recent),
            "objects_deleted_last_24h": sum(len(r.objects) for r in recent),
            "deletions_by_reason_last_24h": _count_by(recent),
            "objects_past_expiry_still_stored": overdue,
            "audit_chains": verified.chains,
            "audit_records": verified.records,
            "audit_chain_verified": verified.ok,
            "audit_problems": verified.problems,
        }

    def purge(self, job_id: str, reason: str) -> audit.AuditRecord | None:
        """Delete one job now on an operator's decision (a report of abuse, say).

        Nothing about the job's content is shown or returned: only what was deleted. None when
        there was nothing to delete (or another deleter was at it).
        """
        record = delete_job(
            self.store,
            self.audit_store,
            job_id,
            reason="operator_purge",
            service="janitor",
            note=reason[:500],
        )
        log.info("job_purged", job_id=job_id, objects=len(record.objects) if record else 0)
        return record


def _count_by(records: list[audit.AuditRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        counts[record.reason] = counts.get(record.reason, 0) + 1
    return counts
