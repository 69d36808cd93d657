"""DELETE while the worker is upscaling: the job stops between tiles and leaves nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from shared.storage import open_store
from tests.support.net import http, multipart
from tests.support.photos import astronaut_lr
from tests.support.processes import Stack
from tests.support.storage import storage_settings

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]


def test_delete_cancels_a_running_job(
    rabbitmq_url: str, s3_env: dict[str, str], tmp_path: Path
) -> None:
    stack = Stack(
        rabbitmq_url, s3_env, tmp_path, workers=1, janitor=False, env={"WORKER_TILE_SIZE": "32"}
    )
    try:
        stack.wait_ready()
        _, png = astronaut_lr()  # 128x128 in 32-pixel tiles: many tiles, many checkpoints
        body, ctype = multipart({}, png)
        code, _, raw = http("POST", f"{stack.base}/v1/jobs", body, {"Content-Type": ctype})
        assert code == 202
        job = json.loads(raw)
        auth = {"Authorization": f"Bearer {job['token']}"}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = json.loads(http("GET", f"{stack.base}/v1/jobs/{job['id']}", headers=auth)[2])
            if state["status"] == "running":
                break
            time.sleep(0.2)
        assert state["status"] == "running"

        deleted_at = time.monotonic()
        code, _, raw = http("DELETE", f"{stack.base}/v1/jobs/{job['id']}", headers=auth)
        assert code == 200, raw
        receipt = json.loads(raw)
        assert {"id", "deleted_at", "objects_deleted", "audit_record_sha256"} <= set(receipt)
        stack.workers[0].wait_for_log("job_cancelled", 120)
        stopped_after = time.monotonic() - deleted_at
    finally:
        stack.stop()
    settings = storage_settings(s3_env)
    store = open_store(settings, settings.jobs_bucket)
    assert list(store.list("jobs/")) == [], "the cancelled job left objects behind"
    print(f"\nworker stopped the deleted job {stopped_after:.1f} s after DELETE")
