"""Deleting jobs so that the deletion sticks: claim, record, remove, verify.

Used by the gateway (a user's DELETE), the janitor (expiry, operator purge) and the worker
(the images of a failed job), so all keep the same promise:

1. **Claim.** The job moves to ``deleted`` by compare-and-set (:mod:`shared.lifecycle`): its
   manifest becomes a tombstone that keeps no data key (every stored copy of the images is
   crypto-shredded from this moment), no token hash and no client information. Exactly one
   deleter wins; a second one (a user and the janitor at the same moment) backs off and
   records nothing. A worker still processing the job finds the tombstone at its next write
   and stops (``shared.lifecycle.JobGone``), removing what it wrote.
2. **Record.** One audit record per job, written before anything is removed, naming every
   object the job had *or could still get*: the objects listed after the claim, the layout's
   objects not (yet) present, and multipart uploads under way.
3. **Remove and verify.** Uploads are aborted and objects deleted; the job's prefix is listed
   again and whatever a late writer put there meanwhile is deleted too, for a few rounds; the
   tombstone goes last. What is still there is returned, for the caller to retry.

A deleter that crashes after its claim leaves a tombstone; the next deleter (the janitor, at
the latest at expiry) finishes it and records it with the reason the tombstone names.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared import audit, ids, keys, lifecycle
from shared.errors import ManifestInvalid, StorageUnavailable
from shared.manifest import DeletionMark, JobManifest
from shared.states import JobStatus
from shared.storage import IncompleteUpload, ObjectInfo, ObjectStore

#: S3 DeleteObjects accepts at most 1000 keys per request.
DELETE_BATCH = 1000
#: Every object a job can have, whether or not it exists at the moment of deletion.
LAYOUT = (keys.MANIFEST, keys.INPUT, keys.RESULT)
#: A tombstone older than this has lost its deleter (a crash): the next deleter finishes it.
ABANDONED_AFTER = timedelta(minutes=10)
#: Rounds of "delete, list again" before a deleter reports what a writer keeps re-creating.
REMOVAL_ROUNDS = 4


@dataclass
class DeletionOutcome:
    """What a deletion did: records written, keys still present, jobs left to another deleter."""

    records: list[audit.AuditRecord] = field(default_factory=list)
    remaining: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


@dataclass
class _Listing:
    objects: dict[str, list[ObjectInfo]] = field(default_factory=lambda: defaultdict(list))
    uploads: dict[str, list[IncompleteUpload]] = field(default_factory=lambda: defaultdict(list))

    def keys_of(self, job_id: str, *, manifest: bool) -> list[str]:
        return [
            info.key
            for info in self.objects.get(job_id, [])
            if manifest or not info.key.endswith("/" + keys.MANIFEST)
        ]


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
    job_ids: Iterable[str],
    *,
    reason: audit.DeletionReason,
    service: str,
    note: str | None = None,
    now: datetime | None = None,
) -> DeletionOutcome:
    """Delete every object of each job; one audit record per job this call deleted.

    A job without a manifest is deleted as an ``orphan`` when the reason is expiry. Jobs that
    another deleter is handling are returned in ``skipped`` and get no record from this call.
    """
    now = now or datetime.now(UTC)
    outcome = DeletionOutcome()
    claimed: dict[str, audit.DeletionReason] = {}
    for job_id in dict.fromkeys(job_ids):
        recorded_as = _claim(store, job_id, reason, service, now)
        if recorded_as is None:
            outcome.skipped.append(job_id)
        else:
            claimed[job_id] = recorded_as
    if not claimed:
        return outcome
    listing = _list(store, claimed)
    for job_id in list(claimed):
        if not listing.objects.get(job_id) and not listing.uploads.get(job_id):
            # Nothing there: another deleter finished this job between our look and now.
            del claimed[job_id]
            outcome.skipped.append(job_id)
    if not claimed:
        return outcome
    deletions = [
        audit.Deletion(
            time=now,
            job_id=job_id,
            reason=recorded_as,
            service=service,
            age_seconds=_age(job_id, now),
            objects=_named_objects(job_id, listing),
            note=note,
        )
        for job_id, recorded_as in claimed.items()
    ]
    outcome.records = audit.writer_for(audit_store, service).append(deletions)
    outcome.remaining = _remove(store, list(claimed), listing)
    return outcome


def delete_job(
    store: ObjectStore,
    audit_store: ObjectStore,
    job_id: str,
    *,
    reason: audit.DeletionReason,
    service: str,
    note: str | None = None,
) -> audit.AuditRecord | None:
    """Delete one job now; None when it was already deleted (or is being deleted) by another.

    Raises StorageUnavailable if an object survives: the job is then a tombstone (its images
    unreadable), and the janitor finishes it.
    """
    if keys.job_prefix(job_id) is None:
        raise ValueError("malformed job id")
    outcome = delete_jobs(store, audit_store, [job_id], reason=reason, service=service, note=note)
    if outcome.remaining:
        raise StorageUnavailable("some objects of the job could not be deleted")
    return outcome.records[0] if outcome.records else None


def delete_images(
    store: ObjectStore,
    audit_store: ObjectStore,
    job_id: str,
    *,
    reason: audit.DeletionReason,
    service: str,
) -> audit.AuditRecord | None:
    """Delete a job's images, keeping its manifest (a failed job's reason stays readable)."""
    listing = _list(store, [job_id])
    images = listing.keys_of(job_id, manifest=False)
    if not images and not listing.uploads.get(job_id):
        return None
    now = datetime.now(UTC)
    objects = [
        o for o in _named_objects(job_id, listing) if not o.key.endswith("/" + keys.MANIFEST)
    ]
    (record,) = audit.writer_for(audit_store, service).append(
        [
            audit.Deletion(
                time=now,
                job_id=job_id,
                reason=reason,
                service=service,
                age_seconds=_age(job_id, now),
                objects=objects,
            )
        ]
    )
    for upload in listing.uploads.get(job_id, []):
        store.abort_upload(upload)
    store.delete_many(images)
    left = _list(store, [job_id]).keys_of(job_id, manifest=False)
    if left:
        raise StorageUnavailable("some images of the failed job could not be deleted")
    return record


def _claim(
    store: ObjectStore,
    job_id: str,
    reason: audit.DeletionReason,
    service: str,
    now: datetime,
) -> audit.DeletionReason | None:
    """Move the job to ``deleted``; return the reason to record, or None to leave it alone."""
    try:
        tracked = lifecycle.read(store, job_id)
    except ManifestInvalid:
        return reason  # unreadable: nothing can process it; delete what is there
    if tracked is None:
        return "orphan" if reason == "expired" else reason
    if tracked.status is JobStatus.DELETED:
        mark = tracked.manifest.deletion
        if mark is not None and now - mark.time < ABANDONED_AFTER:
            return None  # its deleter is at work
        return _as_reason(mark.reason) if mark is not None else reason

    def tombstone(manifest: JobManifest) -> None:
        manifest.deletion = DeletionMark(reason=reason, service=service, time=now)
        manifest.data_key = None  # crypto-shred: no copy of the images opens any more
        manifest.seal = None  # what it sealed is gone
        manifest.token_sha256 = ""
        manifest.client = None
        manifest.result = None
        manifest.report = None
        manifest.error = None

    try:
        lifecycle.transition(store, tracked, JobStatus.DELETED, tombstone)
    except lifecycle.JobGone:
        return None  # another deleter won
    return reason


def _as_reason(text: str) -> audit.DeletionReason:
    for reason in audit.DELETION_REASONS:
        if reason == text:
            return reason
    return "expired"


def _scope(job_ids: Iterable[str]) -> str:
    """The longest folder prefix shared by the jobs' prefixes (one listing covers them all)."""
    prefixes = [p for j in job_ids if (p := keys.job_prefix(j)) is not None]
    common = os.path.commonprefix(prefixes)
    return common[: common.rfind("/") + 1]


def _list(store: ObjectStore, job_ids: Iterable[str]) -> _Listing:
    wanted = set(job_ids)
    scope = _scope(wanted)
    listing = _Listing()
    for info in store.list(scope):
        job_id = keys.job_id_of(info.key)
        if job_id in wanted:
            listing.objects[job_id].append(info)
    for upload in store.list_incomplete_uploads(scope):
        job_id = keys.job_id_of(upload.key)
        if job_id in wanted:
            listing.uploads[job_id].append(upload)
    return listing


def _named_objects(job_id: str, listing: _Listing) -> list[audit.DeletedObject]:
    """Every object the job had or could still get: stored, not (yet) stored, partial."""
    stored = {info.key: info for info in listing.objects.get(job_id, [])}
    named = [audit.DeletedObject(key=key, bytes=info.size) for key, info in sorted(stored.items())]
    for name in LAYOUT:
        key = keys.job_key(job_id, name)
        if key not in stored:
            named.append(audit.DeletedObject(key=key, present=False))
    named += [audit.DeletedObject(key=u.key, partial=True) for u in listing.uploads.get(job_id, [])]
    return named


def _remove(store: ObjectStore, job_ids: list[str], listing: _Listing) -> dict[str, list[str]]:
    """Delete the jobs' objects, images first and tombstones last; return what survived."""
    for _ in range(REMOVAL_ROUNDS):
        for uploads in listing.uploads.values():
            for upload in uploads:
                store.abort_upload(upload)
        images = [k for j in job_ids for k in listing.keys_of(j, manifest=False)]
        for start in range(0, len(images), DELETE_BATCH):
            store.delete_many(images[start : start + DELETE_BATCH])
        # List again: a worker may have written since the listing (it removes that itself
        # when it finds the tombstone, but the deleter does not count on it).
        listing = _list(store, job_ids)
        if not any(listing.keys_of(j, manifest=False) or listing.uploads.get(j) for j in job_ids):
            break
    manifests = [k for j in job_ids for k in listing.keys_of(j, manifest=True)]
    for start in range(0, len(manifests), DELETE_BATCH):
        store.delete_many(manifests[start : start + DELETE_BATCH])
    listing = _list(store, job_ids)
    return {
        j: left + [u.key for u in listing.uploads.get(j, [])]
        for j in job_ids
        if (left := listing.keys_of(j, manifest=True)) or listing.uploads.get(j)
    }


def _age(job_id: str, now: datetime) -> float | None:
    created = ids.created_at(job_id)
    return (now - created).total_seconds() if created else None
