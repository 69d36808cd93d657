"""The janitor's Prometheus metrics: the proof, for operators, that deletion works.

``picupscaler_oldest_object_age_seconds`` is the alerting signal: it must stay below
JOBS_EXPIRY_SECONDS (alert well before 86400).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge

if TYPE_CHECKING:
    from janitor.sweep import SweepResult
    from shared.audit import VerifyReport

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
AUDIT_ANCHORED_SEQ = Gauge(
    "picupscaler_audit_anchored_seq",
    "Sequence number of each chain's newest checkpoint in the anchor store.",
    ["chain"],
)
AUDIT_VERIFIED_SEQ = Gauge(
    "picupscaler_audit_verified_seq",
    "Sequence number up to which each chain verified at the last verification.",
    ["chain"],
)
AUDIT_CHAINS = Gauge("picupscaler_audit_chains", "Chains seen by the last verification.")
AUDIT_VERIFY_SECONDS = Gauge(
    "picupscaler_audit_verify_seconds", "How long the last audit verification took."
)
AUDIT_LAST_VERIFY = Gauge(
    "picupscaler_audit_last_verify_timestamp_seconds", "When the last audit verification ended."
)
AUDIT_RECORDS_VERIFIED = Counter(
    "picupscaler_audit_records_verified_total", "Audit records read and checked by verification."
)
AUDIT_RECORDS_COMPACTED = Counter(
    "picupscaler_audit_records_compacted_total",
    "Audit records past AUDIT_RETENTION_DAYS folded into signed summaries.",
)
ANALYTICS_RAW_ROLLED_UP = Counter(
    "picupscaler_analytics_raw_objects_rolled_up_total",
    "Raw analytics increments merged into hourly roll-ups.",
)


def record_verification(report: VerifyReport) -> None:
    """Publish one audit verification's outcome."""
    AUDIT_CHAIN_OK.set(1 if report.ok else 0)
    AUDIT_PROBLEMS.set(len(report.findings))
    AUDIT_CHAINS.set(report.chains)
    AUDIT_VERIFY_SECONDS.set(report.seconds)
    AUDIT_RECORDS_VERIFIED.inc(report.records)
    AUDIT_LAST_VERIFY.set_to_current_time()
    for chain, seq in report.anchored_seq.items():
        AUDIT_ANCHORED_SEQ.labels(chain=chain).set(seq)
    for chain, seq in report.verified_seq.items():
        AUDIT_VERIFIED_SEQ.labels(chain=chain).set(seq)


def record_sweep(result: SweepResult) -> None:
    """Publish one sweep's outcome."""
    OBJECTS_DELETED.inc(result.objects_deleted)
    JOBS_DELETED.inc(result.jobs_deleted)
    UPLOADS_ABORTED.inc(result.uploads_aborted)
    DELETE_FAILURES.inc(len(result.failed_keys))
    OLDEST_OBJECT_AGE.set(result.oldest_age_seconds or 0.0)
    LAST_SWEEP.set_to_current_time()
