"""The janitor's operator commands and S3 clean-up, as separate processes against S3."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from shared import ids, keys
from shared.audit import read_records
from shared.storage import open_store
from shared.storage.s3 import S3Store
from tests.support.env import REPO
from tests.support.storage import storage_settings


def janitor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "janitor", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def stores(s3_env: dict[str, str]) -> tuple[S3Store, S3Store]:
    settings = storage_settings(s3_env)
    store, audit = (
        open_store(settings, settings.jobs_bucket),
        open_store(settings, settings.audit_bucket),
    )
    store.ensure_bucket()
    audit.ensure_bucket()
    assert isinstance(store, S3Store) and isinstance(audit, S3Store)
    return store, audit


def put_job(store: S3Store, created: datetime) -> str:
    job_id = ids.new_job_id(int(created.timestamp() * 1000))
    for name in (keys.INPUT, keys.RESULT, keys.MANIFEST):
        store.put(keys.job_key(job_id, name), b"x" * 50)
    return job_id


def test_sweep_aborts_stale_multipart_uploads_and_sets_backstop(
    s3_env: dict[str, str], stores: tuple[S3Store, S3Store]
) -> None:
    store, audit = stores
    job_id = ids.new_job_id()
    key = keys.job_key(job_id, keys.RESULT)
    # A result upload that died half-way: its parts hold image data nobody can list as objects.
    upload_id = store.client._create_multipart_upload(store.bucket, key, {})
    store.client._upload_part(store.bucket, key, io.BytesIO(b"p" * 1024).read(), None, upload_id, 1)
    assert [u.key for u in store.list_incomplete_uploads("jobs/")] == [key]

    env = {**s3_env, "JANITOR_INCOMPLETE_UPLOAD_MAX_AGE_SECONDS": "0.001"}
    done = janitor(env, "sweep")
    assert done.returncode == 0, done.stderr
    assert store.list_incomplete_uploads("jobs/") == []
    assert [r.reason for r in read_records(audit)] == ["incomplete_upload"]

    run = subprocess.Popen(
        [sys.executable, "-m", "janitor", "run"],
        cwd=REPO,
        env={**__import__("os").environ, **env, "JANITOR_INTERVAL_SECONDS": "30"},
    )
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        rules = None
        while datetime.now(UTC) < deadline and rules is None:
            rules = store.client.get_bucket_lifecycle(store.bucket)
        assert rules is not None and rules.rules[0].expiration.days == 1
    finally:
        run.terminate()
        run.wait(timeout=30)


def test_report_verify_and_purge(s3_env: dict[str, str], stores: tuple[S3Store, S3Store]) -> None:
    store, audit = stores
    now = datetime.now(UTC)
    expired = put_job(store, now - timedelta(hours=25))
    reported = put_job(store, now - timedelta(hours=1))

    report = janitor(s3_env, "report", "--json")
    figures = json.loads(report.stdout)
    assert figures["objects_past_expiry_still_stored"] == 3 and report.returncode == 1
    assert figures["oldest_object_age_seconds"] >= 25 * 3600 - 5

    assert janitor(s3_env, "sweep").returncode == 0
    purge = janitor(s3_env, "purge", reported, "--reason", "abuse report #42")
    assert purge.returncode == 0, purge.stderr
    assert json.loads(purge.stdout)["objects_deleted"] == 3
    assert list(store.list("jobs/")) == []

    report = janitor(s3_env, "report", "--json")
    figures = json.loads(report.stdout)
    assert report.returncode == 0, report.stdout
    assert figures["jobs_deleted_last_24h"] == 2
    assert figures["deletions_by_reason_last_24h"] == {"expired": 1, "operator_purge": 1}
    assert figures["audit_chain_verified"] is True
    assert figures["oldest_object_age_seconds"] is None
    records = {r.job_id: r for r in read_records(audit)}
    assert records[reported].note == "abuse report #42" and expired in records

    verify = janitor(s3_env, "verify-audit")
    assert verify.returncode == 0 and "verified" in verify.stdout
    # Tamper with one segment: verification now fails and says where.
    segment = next(i.key for i in audit.list("audit/chains/"))
    text = audit.get(segment).decode().replace('"reason":"expired"', '"reason":"user_request"')
    text = text.replace('"reason":"operator_purge"', '"reason":"user_request"')
    audit.put(segment, text.encode())
    verify = janitor(s3_env, "verify-audit")
    assert verify.returncode == 1 and "edited" in verify.stdout, verify.stdout
