"""A janitor killed mid-sweep: the next sweep finishes the work and the audit chain verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from shared import audit, ids, keys
from shared.storage import open_store
from tests.support.env import REPO
from tests.support.storage import storage_settings


def test_killed_mid_sweep_then_completed(s3_env: dict[str, str]) -> None:
    settings = storage_settings(s3_env)
    store, audit_store = (
        open_store(settings, settings.jobs_bucket),
        open_store(settings, settings.audit_bucket),
    )
    store.ensure_bucket()
    audit_store.ensure_bucket()
    old = datetime.now(UTC) - timedelta(hours=30)
    jobs = []
    for n in range(120):  # spread over several upload hours
        job_id = ids.new_job_id(int((old - timedelta(minutes=7 * n)).timestamp() * 1000))
        for name in (keys.MANIFEST, keys.INPUT, keys.RESULT):
            store.put(keys.job_key(job_id, name), b"x" * 10)
        jobs.append(job_id)

    env = {**os.environ, **s3_env}
    first = subprocess.Popen([sys.executable, "-m", "janitor", "sweep"], cwd=REPO, env=env)
    # Kill it once its first audit segment exists: it is in the middle of deleting.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(audit_store.list("audit/chains/")):
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    left_after_kill = len(list(store.list("jobs/")))

    second = subprocess.run(
        [sys.executable, "-m", "janitor", "sweep"], cwd=REPO, env=env, timeout=300
    )
    assert second.returncode == 0
    assert list(store.list("jobs/")) == []
    report = audit.verify(audit_store)
    assert report.ok, report.problems
    recorded = {r.job_id for r in audit.read_records(audit_store)}
    assert recorded == set(jobs)  # every deletion has a record, killed sweep or not
    print(
        f"\njanitor killed with {left_after_kill} of {3 * len(jobs)} objects left; the next sweep "
        f"deleted the rest; {report.records} audit records in {report.chains} chains verify"
    )
