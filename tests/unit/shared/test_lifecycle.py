"""The job lifecycle: declared transitions, applied by compare-and-set (local backend here;
the S3 endpoint in ``tests/integration/test_conditional_writes.py``)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from shared import deletion, lifecycle
from shared.audit import read_records
from shared.errors import PreconditionFailed
from shared.manifest import JobManifest
from shared.states import TRANSITIONS, JobStatus, allowed
from shared.storage.local import LocalStore
from tests.support.photos import photo
from tests.support.storage import keyring, submitted_job


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    s = LocalStore(tmp_path, "jobs")
    s.ensure_bucket()
    return s


def new_job(store: LocalStore) -> lifecycle.Tracked:
    job = submitted_job(store, keyring(), photo())
    tracked = lifecycle.read(store, job.id)
    assert tracked is not None and tracked.status is JobStatus.QUEUED
    return tracked


def test_the_declared_lifecycle() -> None:
    assert set(TRANSITIONS) == set(JobStatus)
    assert TRANSITIONS[JobStatus.DELETED] == frozenset()  # terminal
    assert all(allowed(s, JobStatus.DELETED) for s in JobStatus if s is not JobStatus.DELETED)
    assert not allowed(JobStatus.SUCCEEDED, JobStatus.RUNNING)
    assert not allowed(JobStatus.FAILED, JobStatus.SUCCEEDED)
    assert not allowed(JobStatus.QUEUED, JobStatus.SUCCEEDED)


def test_nothing_leaves_deleted_and_nothing_recreates_a_deleted_manifest(
    store: LocalStore,
) -> None:
    tracked = new_job(store)
    running = lifecycle.transition(store, tracked, JobStatus.RUNNING)
    lifecycle.transition(store, running, JobStatus.DELETED)
    for target in JobStatus:
        with pytest.raises(lifecycle.JobGone):
            lifecycle.transition(store, running, target)  # a late writer with an old tag
    store.delete_many([f"{_prefix(running)}manifest.json"])  # the tombstone, removed last
    with pytest.raises(lifecycle.JobGone):
        lifecycle.transition(store, running, JobStatus.SUCCEEDED)
    assert lifecycle.read(store, running.manifest.id) is None


def test_a_job_id_is_created_once(store: LocalStore) -> None:
    tracked = new_job(store)
    with pytest.raises(PreconditionFailed):
        lifecycle.create(store, tracked.manifest)


def test_a_refused_move_is_not_written(store: LocalStore) -> None:
    tracked = new_job(store)
    with pytest.raises(lifecycle.TransitionRefused):
        lifecycle.transition(store, tracked, JobStatus.SUCCEEDED)
    after = lifecycle.read(store, tracked.manifest.id)
    assert after is not None and after.status is JobStatus.QUEUED and after.etag == tracked.etag


def test_a_stale_writer_reapplies_its_change_to_the_stored_version(store: LocalStore) -> None:
    tracked = new_job(store)
    first = lifecycle.transition(store, tracked, JobStatus.RUNNING, _attempt)
    # A second writer still holds the original version: its write must not undo the first.
    second = lifecycle.transition(store, tracked, JobStatus.RUNNING, _attempt)
    assert second.manifest.attempts == 2 and first.manifest.attempts == 1


def test_concurrent_writers_lose_no_update(store: LocalStore) -> None:
    tracked = new_job(store)
    running = lifecycle.transition(store, tracked, JobStatus.RUNNING)
    threads = [
        threading.Thread(
            target=lambda: lifecycle.transition(store, running, JobStatus.RUNNING, _attempt)
        )
        for _ in range(6)
    ]
    lifecycle.MAX_ATTEMPTS, saved = 50, lifecycle.MAX_ATTEMPTS
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        lifecycle.MAX_ATTEMPTS = saved
    final = lifecycle.read(store, running.manifest.id)
    assert final is not None and final.manifest.attempts == 6


def test_two_deleters_at_once_record_one_deletion(store: LocalStore, tmp_path: Path) -> None:
    audit_store = LocalStore(tmp_path, "audit")
    job_id = new_job(store).manifest.id
    barrier = threading.Barrier(2)
    results: list[object] = []

    def delete(reason: str, service: str) -> None:
        barrier.wait()
        results.append(
            deletion.delete_job(store, audit_store, job_id, reason=reason, service=service)  # type: ignore[arg-type]
        )

    threads = [
        threading.Thread(target=delete, args=("user_request", "gateway")),
        threading.Thread(target=delete, args=("expired", "janitor")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1
    assert [r.job_id for r in read_records(audit_store)] == [job_id]
    assert list(store.list("jobs/")) == []
    # The latest a second deleter can come: after the first finished. Still no second record.
    assert deletion.delete_job(store, audit_store, job_id, reason="expired", service="x") is None
    assert [r.job_id for r in read_records(audit_store)] == [job_id]


def test_the_tombstone_keeps_nothing_that_reads_or_identifies(store: LocalStore) -> None:
    tracked = new_job(store)
    seen: list[JobManifest] = []
    original = lifecycle.transition

    def spy(*args: object, **kwargs: object) -> lifecycle.Tracked:
        done = original(*args, **kwargs)  # type: ignore[arg-type]
        seen.append(done.manifest)
        return done

    lifecycle.transition = spy  # type: ignore[assignment]
    try:
        deletion.delete_job(
            store,
            LocalStore(store.root.parent, "audit"),
            tracked.manifest.id,
            reason="user_request",
            service="gateway",
        )
    finally:
        lifecycle.transition = original  # type: ignore[assignment]
    [tombstone] = seen
    assert tombstone.status is JobStatus.DELETED and tombstone.deletion is not None
    assert tombstone.data_key is None and tombstone.token_sha256 == "" and tombstone.client is None


def _attempt(manifest: JobManifest) -> None:
    manifest.attempts += 1


def _prefix(tracked: lifecycle.Tracked) -> str:
    from shared import keys

    prefix = keys.job_prefix(tracked.manifest.id)
    assert prefix is not None
    return prefix
