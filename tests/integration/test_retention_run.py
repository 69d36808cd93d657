"""Time-compressed retention run: 50 jobs through the real stack with a 2-minute expiry.

Everything is measured from outside: a watcher lists the bucket twice a second and records
the oldest object it ever sees. The promise holds when no object outlives the expiry and
nothing is left behind.
"""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from shared import audit, ids
from shared.keys import job_id_of
from shared.storage import open_store
from tests.support.net import http, multipart
from tests.support.processes import Stack
from tests.support.storage import storage_settings

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

EXPIRY = 120
JOBS = 50


def test_nothing_outlives_the_expiry(
    rabbitmq_url: str, s3_env: dict[str, str], tmp_path: Path
) -> None:
    stack = Stack(
        rabbitmq_url,
        s3_env,
        tmp_path,
        workers=1,
        env={
            "JOBS_EXPIRY_SECONDS": str(EXPIRY),
            "JANITOR_INTERVAL_SECONDS": "2",
            "JANITOR_SAFETY_MARGIN_SECONDS": "5",
            "WORKER_PRELOAD": '["realesr-animevideov3:2"]',
        },
    )
    settings = storage_settings(s3_env)
    store = open_store(settings, settings.jobs_bucket)
    audit_store = open_store(settings, settings.audit_bucket)
    oldest = [0.0]
    seen: set[str] = set()
    watching = threading.Event()

    def watch() -> None:
        while not watching.is_set():
            now = time.time()
            for info in store.list("jobs/"):
                job_id = job_id_of(info.key)
                created = ids.created_at(job_id) if job_id else None
                if created is not None:
                    seen.add(info.key)
                    oldest[0] = max(oldest[0], now - created.timestamp())
            time.sleep(0.5)

    try:
        stack.wait_ready()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        accepted = []
        for n in range(JOBS):
            img = Image.new("RGB", (32, 24), (n * 5 % 256, 90, 160))
            buf = io.BytesIO()
            img.save(buf, "PNG")
            body, ctype = multipart({"model": "realesr-animevideov3", "scale": "2"}, buf.getvalue())
            code, _, raw = http("POST", f"{stack.base}/v1/jobs", body, {"Content-Type": ctype})
            assert code == 202, raw
            accepted.append(json.loads(raw))
        last_upload = time.time()
        # Wait until the last job's expiry has passed, plus one sweep.
        while time.time() < last_upload + EXPIRY + 5:
            time.sleep(1)
        watching.set()
        watcher.join(timeout=10)
        left = list(store.list("jobs/"))
    finally:
        stack.stop()

    succeeded = sum(1 for k in seen if k.endswith("/result"))
    records = list(audit.read_records(audit_store))
    report = audit.verify(audit_store)
    print(
        f"\nretention run: {JOBS} jobs, {len(seen)} objects seen ({succeeded} results), "
        f"expiry {EXPIRY} s, oldest object ever observed {oldest[0]:.1f} s, "
        f"{len(left)} objects left, {len(records)} audit records, chain ok={report.ok}"
    )
    assert left == []
    assert oldest[0] < EXPIRY
    assert succeeded == JOBS
    assert {r.job_id for r in records if r.reason == "expired"} == {j["id"] for j in accepted}
    assert report.ok, report.problems
