"""One sweep: find the upload hours that can hold jobs due for deletion, delete those jobs,
verify, audit-log; abort stale multipart uploads; measure the oldest object.

Idempotent: two janitors, or a janitor killed mid-sweep and restarted, do no harm; a job whose
objects could not all be deleted is not recorded as deleted and is retried at the next sweep.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from janitor import metrics
from shared import audit, ids, keys
from shared.deletion import delete_jobs, group_by_job
from shared.storage import ObjectStore

log = structlog.get_logger(__name__)


@dataclass
class SweepResult:
    """What a sweep did, for logs, metrics and tests."""

    jobs_deleted: int = 0
    objects_deleted: int = 0
    bytes_deleted: int = 0
    uploads_aborted: int = 0
    failed_keys: list[str] = field(default_factory=list)
    hours_scanned: int = 0
    oldest_age_seconds: float | None = None
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
    """Return the hour prefixes in which at least one job may be past ``expiry``."""
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


def oldest_object_age(store: ObjectStore, now: datetime) -> float | None:
    """Age in seconds of the oldest job still stored (None when there is none).

    Keys sort by upload time, so only the first non-empty hour needs listing.
    """
    prefix = keys.JOBS_ROOT
    for _ in range(4):  # year, month, day, hour
        children = sorted(store.list_prefixes(prefix))
        if not children:
            return None
        prefix = children[0]
    created = [ids.created_at(job_id) for job_id in group_by_job(store.list(prefix))]
    times = [c for c in created if c is not None]
    return (now - min(times)).total_seconds() if times else None


def _abort_stale_uploads(
    store: ObjectStore, audit_store: ObjectStore, now: datetime, max_age: timedelta
) -> int:
    stale = [
        u
        for u in store.list_incomplete_uploads(keys.JOBS_ROOT)
        if u.initiated is None or now - u.initiated >= max_age
    ]
    deletions = []
    for upload in stale:
        store.abort_upload(upload)
        created = ids.created_at(keys.job_id_of(upload.key) or "")
        deletions.append(
            audit.Deletion(
                time=now,
                job_id=keys.job_id_of(upload.key) or "unknown",
                reason="incomplete_upload",
                service="janitor",
                age_seconds=(now - created).total_seconds() if created else None,
                objects=[audit.DeletedObject(key=upload.key, partial=True)],
            )
        )
    audit.writer_for(audit_store, "janitor").append(deletions)
    return len(stale)


def sweep(
    store: ObjectStore,
    audit_store: ObjectStore,
    *,
    expiry: timedelta,
    margin: timedelta = timedelta(0),
    incomplete_upload_max_age: timedelta = timedelta(hours=1),
    now: datetime | None = None,
) -> SweepResult:
    """Delete every job due (``expiry - margin`` after upload); return what was done."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    due_after = expiry - margin
    result = SweepResult()
    for hour in expired_hours(store, now, due_after):
        result.hours_scanned += 1
        due = [j for j in group_by_job(store.list(hour)) if keys.is_due(j, now, due_after)]
        if not due:
            continue
        # Jobs without a manifest (an upload whose manifest never got written, say) are
        # recorded as orphans; the deletion decides that per job.
        outcome = delete_jobs(store, audit_store, due, reason="expired", service="janitor", now=now)
        for record in outcome.records:
            if record.job_id in outcome.remaining:
                continue  # recorded, not yet gone: retried (and recorded again) next sweep
            stored = [o for o in record.objects if o.present and not o.partial]
            result.jobs_deleted += 1
            result.objects_deleted += len(stored)
            result.bytes_deleted += sum(o.bytes for o in stored)
        for left in outcome.remaining.values():
            result.failed_keys.extend(left)
    result.uploads_aborted = _abort_stale_uploads(
        store, audit_store, now, incomplete_upload_max_age
    )
    result.oldest_age_seconds = oldest_object_age(store, now)
    result.seconds = time.perf_counter() - started
    metrics.record_sweep(result)
    log.info(
        "sweep_finished",
        jobs_deleted=result.jobs_deleted,
        objects_deleted=result.objects_deleted,
        bytes_deleted=result.bytes_deleted,
        uploads_aborted=result.uploads_aborted,
        failures=len(result.failed_keys),
        hours_scanned=result.hours_scanned,
        oldest_age_seconds=result.oldest_age_seconds,
        seconds=round(result.seconds, 3),
    )
    return result
