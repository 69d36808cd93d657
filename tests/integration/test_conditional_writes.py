"""Conditional writes, the ground the job lifecycle stands on, against both backends: the S3
endpoint (moto's server, its own process; MinIO and AWS S3 implement the same headers) and the
local directory."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import deletion, lifecycle
from shared.audit import read_records
from shared.errors import PreconditionFailed
from shared.manifest import JobManifest
from shared.states import JobStatus
from shared.storage import ObjectStore, open_store
from shared.storage.local import LocalStore
from tests.support.photos import photo
from tests.support.storage import keyring, storage_settings, submitted_job


@pytest.fixture(params=["s3", "local"])
def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ObjectStore, ObjectStore]]:
    if request.param == "local":
        yield LocalStore(tmp_path, "jobs"), LocalStore(tmp_path, "audit")
        return
    settings = storage_settings(request.getfixturevalue("s3_env"))
    jobs, audit = (open_store(settings, b) for b in (settings.jobs_bucket, settings.audit_bucket))
    jobs.ensure_bucket()
    audit.ensure_bucket()
    yield jobs, audit


def test_put_if_compares_and_sets(stores: tuple[ObjectStore, ObjectStore]) -> None:
    store, _ = stores
    key = "jobs/2026/01/01/00/x/manifest.json"
    first = store.put_if(key, b"v1", etag=None)
    with pytest.raises(PreconditionFailed):
        store.put_if(key, b"again", etag=None)  # If-None-Match: * on an existing key
    second = store.put_if(key, b"v2", etag=first)
    assert store.get_versioned(key).data == b"v2" and store.get_versioned(key).etag == second
    with pytest.raises(PreconditionFailed):
        store.put_if(key, b"stale", etag=first)  # If-Match with an old tag
    store.delete_many([key])
    with pytest.raises(PreconditionFailed):
        store.put_if(key, b"back from the dead", etag=second)  # If-Match on a deleted key
    assert store.stat(key) is None


def test_concurrent_transitions_lose_no_update(stores: tuple[ObjectStore, ObjectStore]) -> None:
    store, _ = stores
    job = submitted_job(store, keyring(), photo())
    tracked = lifecycle.read(store, job.id)
    assert tracked is not None
    running = lifecycle.transition(store, tracked, JobStatus.RUNNING)
    barrier = threading.Barrier(4)

    def bump() -> None:
        barrier.wait()
        lifecycle.transition(store, running, JobStatus.RUNNING, _attempt)

    saved, lifecycle.MAX_ATTEMPTS = lifecycle.MAX_ATTEMPTS, 100
    try:
        threads = [threading.Thread(target=bump) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        lifecycle.MAX_ATTEMPTS = saved
    final = lifecycle.read(store, job.id)
    assert final is not None and final.manifest.attempts == 4


def test_a_late_writer_cannot_bring_back_a_deleted_job(
    stores: tuple[ObjectStore, ObjectStore],
) -> None:
    store, audit_store = stores
    job = submitted_job(store, keyring(), photo())
    tracked = lifecycle.read(store, job.id)
    assert tracked is not None
    running = lifecycle.transition(store, tracked, JobStatus.RUNNING)  # a worker's version
    record = deletion.delete_job(
        store, audit_store, job.id, reason="user_request", service="gateway"
    )
    assert record is not None
    with pytest.raises(lifecycle.JobGone):
        lifecycle.transition(store, running, JobStatus.SUCCEEDED)
    assert list(store.list("jobs/")) == []
    assert [r.job_id for r in read_records(audit_store)] == [job.id]


def _attempt(manifest: JobManifest) -> None:
    manifest.attempts += 1
