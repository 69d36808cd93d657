from datetime import UTC, datetime, timedelta

from shared import ids, keys


def test_job_id_carries_its_creation_time_and_is_unique() -> None:
    moment = datetime(2026, 11, 26, 13, 45, 12, 345000, tzinfo=UTC)
    a = ids.new_job_id(int(moment.timestamp() * 1000))
    b = ids.new_job_id(int(moment.timestamp() * 1000))
    assert a != b and len(a) == 32
    assert ids.created_at(a) == moment


def test_foreign_ids_are_not_job_ids() -> None:
    assert ids.created_at("0" * 31) is None
    assert ids.created_at("../../etc/passwd") is None
    assert ids.created_at("f" * 32) is None  # not version 7
    assert keys.job_prefix("nope") is None


def test_keys_group_by_upload_hour() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    job_id = ids.new_job_id(int(moment.timestamp() * 1000))
    assert keys.job_key(job_id, keys.INPUT) == f"jobs/2026/01/02/03/{job_id}/input"
    assert keys.job_id_of(f"jobs/2026/01/02/03/{job_id}/manifest.json") == job_id
    assert keys.job_id_of("audit/2026/x.jsonl") is None
    hour = keys.parse_hour_prefix("jobs/2026/01/02/03/")
    assert hour == datetime(2026, 1, 2, 3, tzinfo=UTC)
    expiry = timedelta(hours=24)
    assert not keys.hour_may_hold_expired(hour, hour + expiry - timedelta(seconds=1), expiry)
    assert keys.hour_may_hold_expired(hour, hour + expiry, expiry)
