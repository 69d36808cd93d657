"""The janitor's Prometheus metrics: the proof, for operators, that deletion works.

``picupscaler_oldest_object_age_seconds`` is the alerting signal: it must stay below
JOBS_EXPIRY_SECONDS (alert well before 86400).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge

if TYPE_CHECKING:
    from janitor.sweep import SweepResult

OBJECTS_DELETED = Counter(
    "picupscaler_janitor_objects_deleted_total", "Objects deleted by the janitor."
)
JOBS_DELETED = Counter("picupscaler_janitor_jobs_deleted_total", "Jobs deleted at expiry.")
UPLOADS_ABORTED = Counter(
    "picupscaler_janitor_incomplete_uploads_aborted_total", "Stale multipart uploads aborted."
)
DELETE_FAILURES = Counter(
    "picupscaler_janitor_delete_failures_total", "Objects still present after a delete."
)
OLDEST_OBJECT_AGE = Gauge(
    "picupscaler_oldest_object_age_seconds",
    "Age of the oldest job object still stored (0 when none).",
)
LAST_SWEEP = Gauge(
    "picupscaler_janitor_last_sweep_timestamp_seconds", "When the last sweep finished."
)
AUDIT_CHAIN_OK = Gauge(
    "picupscaler_audit_chain_verified", "1 when the last audit-chain verification passed."
)
AUDIT_PROBLEMS = Gauge(
    "picupscaler_audit_chain_problems", "Problems found by the last audit-chain verification."
)


def record_sweep(result: SweepResult) -> None:
    """Publish one sweep's outcome."""
    OBJECTS_DELETED.inc(result.objects_deleted)
    JOBS_DELETED.inc(result.jobs_deleted)
    UPLOADS_ABORTED.inc(result.uploads_aborted)
    DELETE_FAILURES.inc(len(result.failed_keys))
    OLDEST_OBJECT_AGE.set(result.oldest_age_seconds or 0.0)
    LAST_SWEEP.set_to_current_time()
