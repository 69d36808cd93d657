"""The janitor as its own process against the S3 endpoint: expired jobs go, each deletion is
audit-logged, and nothing else is touched."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared import ids, keys
from shared.audit import read_records
from shared.storage import open_store
from tests.support.processes import Service
from tests.support.storage import storage_settings


def _job(store, created: datetime) -> str:  # type: ignore[no-untyped-def]
    job_id = ids.new_job_id(int(created.timestamp() * 1000))
    store.put(keys.job_key(job_id, keys.INPUT), b"\x89PNG fake input bytes" * 10)
    store.put(keys.job_key(job_id, keys.RESULT), b"result bytes" * 100)
    store.put(keys.job_key(job_id, keys.MANIFEST), json.dumps({"id": job_id}).encode())
    return job_id


def test_janitor_deletes_expired_jobs_and_audits_each(
    s3_env: dict[str, str], tmp_path: Path
) -> None:
    settings = storage_settings(s3_env)
    store = open_store(settings, settings.jobs_bucket)
    audit_store = open_store(settings, settings.audit_bucket)
    store.ensure_bucket()
    audit_store.ensure_bucket()

    now = datetime.now(UTC)
    old = [_job(store, now - timedelta(hours=h, minutes=5)) for h in (1, 3, 30)]
    young = _job(store, now)  # uploaded now: its expiry (20 s) has not passed at the first sweep
    unrelated = "not-a-job/notes.txt"
    store.put(unrelated, b"keep me")

    env = {**s3_env, "JOBS_EXPIRY_SECONDS": "20", "JANITOR_INTERVAL_SECONDS": "1"}
    janitor = Service("janitor", ["-m", "janitor"], env, tmp_path)
    try:
        janitor.wait_for_log("sweep_finished", 60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            store.stat(keys.job_key(j, keys.MANIFEST)) for j in old
        ):
            time.sleep(0.5)
        for job_id in old:
            assert list(store.list(keys.job_prefix(job_id) or "")) == [], job_id
        # The young job is untouched until its own expiry…
        assert store.stat(keys.job_key(young, keys.INPUT)) is not None
        assert store.stat(unrelated) is not None
        # …then it goes too.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and store.stat(keys.job_key(young, keys.INPUT)):
            time.sleep(0.5)
        assert list(store.list(keys.job_prefix(young) or "")) == []
    finally:
        janitor.stop()

    assert store.stat(unrelated) is not None, "the janitor deleted an object outside the layout"
    records = {r.job_id: r for r in read_records(audit_store)}
    assert set(records) == {*old, young}
    for job_id in old:
        record = records[job_id]
        assert record.reason == "expired" and record.service == "janitor"
        assert {Path(o.key).name for o in record.objects} == {"input", "result", "manifest.json"}
        assert all(o.present and o.size_class == "<1MB" for o in record.objects)
        assert record.age_seconds is not None and record.age_seconds >= 3600
    raw = b"".join(audit_store.get(i.key) for i in audit_store.list("audit/"))
    assert b"PNG fake input" not in raw and b"127.0.0" not in raw
