"""A sweep deletes exactly the expired jobs, verifies, and writes one audit record per job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from janitor.sweep import expired_hours, sweep
from shared import ids, keys
from shared.audit import read_records
from shared.storage.local import LocalStore


def make_job(store: LocalStore, created: datetime, *, with_result: bool = True) -> str:
    job_id = ids.new_job_id(int(created.timestamp() * 1000))
    store.put(keys.job_key(job_id, keys.MANIFEST), b"{}")
    store.put(keys.job_key(job_id, keys.INPUT), b"i" * 100)
    if with_result:
        store.put(keys.job_key(job_id, keys.RESULT), b"r" * 1000)
    return job_id


def test_only_expired_jobs_are_deleted_and_each_is_audited(tmp_path: Path) -> None:
    store, audit = LocalStore(tmp_path, "jobs"), LocalStore(tmp_path, "audit")
    now = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
    expiry = timedelta(hours=24)
    expired = [
        make_job(store, now - timedelta(hours=24, minutes=1)),
        make_job(store, now - timedelta(days=3), with_result=False),
    ]
    # Same upload hour as an expired one, but 2 minutes younger: must survive this sweep.
    alive_same_hour = make_job(store, now - timedelta(hours=23, minutes=59))
    alive = make_job(store, now - timedelta(hours=1))
    store.put("other/thing", b"not a job")

    result = sweep(store, audit, expiry=expiry, now=now)

    assert result.jobs_deleted == 2 and result.failed_keys == []
    assert result.objects_deleted == 5 and result.bytes_deleted == 2 * 100 + 1000 + 2 * 2
    for job_id in expired:
        assert list(store.list(keys.job_prefix(job_id) or "")) == []
    for job_id in (alive_same_hour, alive):
        assert len(list(store.list(keys.job_prefix(job_id) or ""))) >= 2
    assert store.stat("other/thing") is not None
    records = list(read_records(audit))
    assert sorted(r.job_id for r in records) == sorted(expired)
    assert all(r.reason == "expired" and r.age_seconds and r.age_seconds >= 86400 for r in records)

    again = sweep(store, audit, expiry=expiry, now=now)  # idempotent
    assert again.jobs_deleted == 0
    assert len(list(read_records(audit))) == 2


def test_expired_hours_skips_young_periods(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, "jobs")
    now = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
    make_job(store, now - timedelta(hours=30))
    make_job(store, now - timedelta(hours=2))
    hours = expired_hours(store, now, timedelta(hours=24))
    assert hours == ["jobs/2026/11/25/06/"]


def test_safety_margin_deletes_before_the_promised_moment(tmp_path: Path) -> None:
    store, audit = LocalStore(tmp_path, "jobs"), LocalStore(tmp_path, "audit")
    now = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
    almost = make_job(store, now - timedelta(hours=23, minutes=50))  # expires in 10 min
    later = make_job(store, now - timedelta(hours=23))
    result = sweep(store, audit, expiry=timedelta(hours=24), margin=timedelta(minutes=15), now=now)
    assert result.jobs_deleted == 1
    assert list(store.list(keys.job_prefix(almost) or "")) == []
    assert list(store.list(keys.job_prefix(later) or "")) != []


def test_objects_without_manifest_are_deleted_as_orphans(tmp_path: Path) -> None:
    store, audit = LocalStore(tmp_path, "jobs"), LocalStore(tmp_path, "audit")
    now = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
    job_id = ids.new_job_id(int((now - timedelta(hours=25)).timestamp() * 1000))
    store.put(keys.job_key(job_id, keys.RESULT), b"late result")  # written after a DELETE
    result = sweep(store, audit, expiry=timedelta(hours=24), now=now)
    assert result.jobs_deleted == 1
    [record] = list(read_records(audit))
    assert record.reason == "orphan" and record.job_id == job_id


def test_oldest_object_age_is_measured(tmp_path: Path) -> None:
    store, audit = LocalStore(tmp_path, "jobs"), LocalStore(tmp_path, "audit")
    now = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
    make_job(store, now - timedelta(hours=5))
    make_job(store, now - timedelta(hours=2))
    result = sweep(store, audit, expiry=timedelta(hours=24), now=now)
    assert result.oldest_age_seconds is not None
    assert abs(result.oldest_age_seconds - 5 * 3600) < 1
