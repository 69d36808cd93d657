"""Deleting jobs: remove every object, verify it is gone, then audit-log the deletion.

Used by the gateway (a user's DELETE) and the janitor (expiry), so both keep the same promise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from shared import audit, ids, keys
from shared.errors import StorageUnavailable
from shared.storage import ObjectInfo, ObjectStore

#: S3 DeleteObjects accepts at most 1000 keys per request.
DELETE_BATCH = 1000


def group_by_job(objects: Iterable[ObjectInfo]) -> dict[str, list[ObjectInfo]]:
    """Group listed objects by the job they belong to (keys outside the layout are skipped)."""
    groups: dict[str, list[ObjectInfo]] = defaultdict(list)
    for info in objects:
        job_id = keys.job_id_of(info.key)
        if job_id is not None:
            groups[job_id].append(info)
    return dict(groups)


def delete_jobs(
    store: ObjectStore,
    audit_store: ObjectStore,
    jobs: Mapping[str, list[ObjectInfo]],
    *,
    reason: audit.DeletionReason,
    service: str,
    note: str | None = None,
) -> tuple[list[audit.AuditRecord], dict[str, list[str]]]:
    """Audit-log, delete and verify the given objects of each job.

    The audit records are written *before* the objects are removed: a crash in between leaves
    a record for objects that still exist (the next sweep deletes them and records again),
    never a deletion without a record. Returns the records and, per job, the keys still
    present after the delete (the caller retries those).
    """
    now = datetime.now(UTC)
    deletions = []
    for job_id, objs in jobs.items():
        created = ids.created_at(job_id)
        deletions.append(
            audit.Deletion(
                time=now,
                job_id=job_id,
                reason=reason,
                service=service,
                age_seconds=(now - created).total_seconds() if created else None,
                objects=[audit.DeletedObject(key=i.key, bytes=i.size) for i in objs],
                note=note,
            )
        )
    records = audit.writer_for(audit_store, service).append(deletions)

    # Manifests first: without its wrapped data key, no copy of a job's images can be read.
    all_keys = sorted(
        (info.key for objs in jobs.values() for info in objs),
        key=lambda k: (not k.endswith("/" + keys.MANIFEST), k),
    )
    for start in range(0, len(all_keys), DELETE_BATCH):
        store.delete_many(all_keys[start : start + DELETE_BATCH])

    remaining: dict[str, list[str]] = {}
    for job_id, objs in jobs.items():
        # Verify: a delete call that returned is not proof; a stat that finds nothing is.
        left = [info.key for info in objs if store.stat(info.key) is not None]
        if left:
            remaining[job_id] = left
    return records, remaining


def delete_job_now(
    store: ObjectStore,
    audit_store: ObjectStore,
    job_id: str,
    *,
    reason: audit.DeletionReason,
    service: str,
    note: str | None = None,
) -> audit.AuditRecord:
    """Delete one job's objects at once; raise StorageUnavailable if any object survives."""
    prefix = keys.job_prefix(job_id)
    if prefix is None:
        raise ValueError("malformed job id")
    objects = list(store.list(prefix))
    records, remaining = delete_jobs(
        store, audit_store, {job_id: objects}, reason=reason, service=service, note=note
    )
    if remaining:
        raise StorageUnavailable("some objects of the job could not be deleted")
    return records[0]
