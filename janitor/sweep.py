"""One sweep: find the upload hours that can hold expired jobs, delete those jobs, verify, log.

Idempotent: two janitors, or a janitor killed mid-sweep and restarted, do no harm; a job whose
objects could not all be deleted is not recorded as deleted and is retried at the next sweep.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from prometheus_client import Counter, Gauge

from shared import ids, keys
from shared.deletion import delete_jobs, group_by_job
from shared.storage import ObjectStore

log = structlog.get_logger(__name__)

OBJECTS_DELETED = Counter(
    "picupscaler_janitor_objects_deleted_total", "Objects deleted by the janitor."
)
JOBS_DELETED = Counter("picupscaler_janitor_jobs_deleted_total", "Jobs deleted at expiry.")
DELETE_FAILURES = Counter(
    "picupscaler_janitor_delete_failures_total", "Objects still present after a delete."
)
LAST_SWEEP = Gauge(
    "picupscaler_janitor_last_sweep_timestamp_seconds", "When the last sweep finished."
)


@dataclass
class SweepResult:
    """What a sweep did, for logs, metrics and tests."""

    jobs_deleted: int = 0
    objects_deleted: int = 0
    bytes_deleted: int = 0
    failed_keys: list[str] = field(default_factory=list)
    hours_scanned: int = 0
    seconds: float = 0.0


def _period_start(prefix: str) -> datetime | None:
    """Start of the year/month/day/hour that a ``jobs/...`` prefix names."""
    parts = [p for p in prefix[len(keys.JOBS_ROOT) :].split("/") if p]
    try:
        numbers = [int(p) for p in parts]
        year, month, day, hour = (numbers + [1, 1, 0][len(numbers) - 1 :])[:4]
        return datetime(year, month, day, hour, tzinfo=UTC)
    except (ValueError, TypeError):
        return None


def expired_hours(store: ObjectStore, now: datetime, expiry: timedelta) -> list[str]:
    """Return the hour prefixes in which at least one job may be past its expiry."""
    found: list[str] = []

    def walk(prefix: str, depth: int) -> None:
        for child in store.list_prefixes(prefix):
            start = _period_start(child)
            if start is None or not keys.hour_may_hold_expired(start, now, expiry):
                continue  # nothing in this period is old enough yet
            if depth == 3:
                found.append(child)
            else:
                walk(child, depth + 1)

    walk(keys.JOBS_ROOT, 0)
    return found


def sweep(
    store: ObjectStore,
    audit_store: ObjectStore,
    *,
    expiry: timedelta,
    now: datetime | None = None,
) -> SweepResult:
    """Delete every job past its expiry; return what was done."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    result = SweepResult()
    for hour in expired_hours(store, now, expiry):
        result.hours_scanned += 1
        groups = group_by_job(store.list(hour))
        expired = {
            job_id: objs
            for job_id, objs in groups.items()
            if (created := ids.created_at(job_id)) is not None and created + expiry <= now
        }
        if not expired:
            continue
        records, remaining = delete_jobs(
            store, audit_store, expired, reason="expired", service="janitor"
        )
        for record in records:
            result.jobs_deleted += 1
            result.objects_deleted += len(record.objects)
            result.bytes_deleted += sum(o.bytes for o in record.objects)
        for left in remaining.values():
            result.failed_keys.extend(left)
    result.seconds = time.perf_counter() - started
    OBJECTS_DELETED.inc(result.objects_deleted)
    JOBS_DELETED.inc(result.jobs_deleted)
    DELETE_FAILURES.inc(len(result.failed_keys))
    LAST_SWEEP.set_to_current_time()
    log.info(
        "sweep_finished",
        jobs_deleted=result.jobs_deleted,
        objects_deleted=result.objects_deleted,
        bytes_deleted=result.bytes_deleted,
        failures=len(result.failed_keys),
        hours_scanned=result.hours_scanned,
        seconds=round(result.seconds, 3),
    )
    return result
