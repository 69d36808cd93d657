"""Applying the job lifecycle (:mod:`shared.states`) to stored manifests, by compare-and-set.

Every change of a job's manifest, by any service, goes through :func:`create` or
:func:`transition`. A transition writes the new manifest only if the stored one is still the
version the writer read (``If-Match`` on S3/MinIO, a locked compare in the local backend) and
only if the lifecycle allows the move from the state actually stored. So:

* a late worker cannot bring back a deleted job: its write either finds the tombstone
  (``deleted`` allows no move) or finds no manifest at all, and raises :class:`JobGone`;
* two deleters (a user and the janitor) cannot both delete: one wins the move to
  ``deleted``, the other gets :class:`JobGone` and writes no second audit record;
* a writer that loses a race to another kind of change (a second delivery of the same
  message) re-reads and re-applies its change if the lifecycle still allows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared import keys
from shared.errors import ObjectNotFound, PicUpscalerError, PreconditionFailed, StorageUnavailable
from shared.manifest import JobManifest, parse_manifest
from shared.states import JobStatus, allowed
from shared.storage import ObjectStore

#: A transition that keeps losing to concurrent writers gives up after this many tries.
MAX_ATTEMPTS = 8


class JobGone(PicUpscalerError):
    """Raised when a writer finds its job deleted: a tombstone, or no manifest at all."""


class TransitionRefused(PicUpscalerError):
    """Raised when the stored state does not allow the requested move (and is not deleted)."""

    def __init__(self, job_id: str, current: JobStatus, target: JobStatus) -> None:
        super().__init__(f"job {job_id}: {current.value} → {target.value} is not allowed")
        self.current = current
        self.target = target


@dataclass(frozen=True)
class Tracked:
    """A manifest as read or written, with the entity tag its next write must match."""

    manifest: JobManifest
    etag: str

    @property
    def status(self) -> JobStatus:
        """The job's stored state."""
        return self.manifest.status


def read(store: ObjectStore, job_id: str) -> Tracked | None:
    """The job's manifest and tag, or None when there is none (or the id is malformed)."""
    prefix = keys.job_prefix(job_id)
    if prefix is None:
        return None
    try:
        stored = store.get_versioned(prefix + keys.MANIFEST)
    except ObjectNotFound:
        return None
    return Tracked(parse_manifest(stored.data, job_id), stored.etag)


def read_live(store: ObjectStore, job_id: str) -> Tracked:
    """Like :func:`read`, but a deleted job raises :class:`JobGone`."""
    tracked = read(store, job_id)
    if tracked is None or tracked.status is JobStatus.DELETED:
        raise JobGone(job_id)
    return tracked


def create(store: ObjectStore, manifest: JobManifest) -> Tracked:
    """Store a new job's manifest; PreconditionFailed if one already exists under its id."""
    etag = store.put_if(_key(manifest), _body(manifest), "application/json", etag=None)
    return Tracked(manifest, etag)


def transition(
    store: ObjectStore,
    tracked: Tracked,
    target: JobStatus,
    change: Callable[[JobManifest], None] | None = None,
) -> Tracked:
    """Move the job to ``target``, applying ``change`` to a copy of its manifest; CAS-write it.

    ``change`` must depend only on the manifest it is given: after a lost race it is applied
    again to the version then stored. Raises :class:`JobGone` if the job is (or becomes)
    deleted, :class:`TransitionRefused` if the stored state does not allow ``target``.
    """
    current = tracked
    for _ in range(MAX_ATTEMPTS):
        stored = current.manifest
        if not allowed(stored.status, target):
            if stored.status is JobStatus.DELETED:
                raise JobGone(stored.id)
            raise TransitionRefused(stored.id, stored.status, target)
        updated = stored.model_copy(deep=True)
        updated.status = target
        if change is not None:
            change(updated)
        updated.touch()
        try:
            etag = store.put_if(
                _key(updated), _body(updated), "application/json", etag=current.etag
            )
        except PreconditionFailed:
            fresh = read(store, stored.id)
            if fresh is None:
                raise JobGone(stored.id) from None
            current = fresh
            continue
        return Tracked(updated, etag)
    raise StorageUnavailable(f"job {tracked.manifest.id}: the manifest kept changing")


def _key(manifest: JobManifest) -> str:
    return keys.job_key(manifest.id, keys.MANIFEST)


def _body(manifest: JobManifest) -> bytes:
    return manifest.model_dump_json().encode()
