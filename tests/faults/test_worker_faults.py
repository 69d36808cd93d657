"""Workers that die or meet poison: jobs end exactly once, visibly, and workers keep serving."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import keys
from shared.broker import build_broker, enqueue_job
from shared.crypto import KeyRing
from shared.settings import BrokerSettings, CryptoSettings, JobSettings
from shared.storage import open_store
from tests.support.net import http, multipart
from tests.support.photos import astronaut_lr, photo
from tests.support.processes import Stack
from tests.support.storage import replace_input, storage_settings, submitted_job

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]


@pytest.fixture
def stack(rabbitmq_url: str, s3_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(rabbitmq_url, s3_env, tmp_path, workers=1, janitor=False)
    try:
        stack.wait_ready()
        yield stack
    finally:
        stack.stop()


def status(stack: Stack, job: dict) -> dict:
    auth = {"Authorization": f"Bearer {job['token']}"}
    code, _, raw = http("GET", f"{stack.base}/v1/jobs/{job['id']}", headers=auth)
    assert code == 200, raw
    return dict(json.loads(raw))


def wait_status(stack: Stack, job: dict, wanted: set[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = status(stack, job)
        if state["status"] in wanted:
            return state
        time.sleep(0.3)
    raise AssertionError(f"job never reached {wanted}: {status(stack, job)}")


def test_sigkill_mid_job_completes_once_on_another_worker(
    stack: Stack, s3_env: dict[str, str]
) -> None:
    _, png = astronaut_lr()  # 128x128 through x4plus: several seconds on a CPU
    body, ctype = multipart({}, png)
    code, _, raw = http("POST", f"{stack.base}/v1/jobs", body, {"Content-Type": ctype})
    assert code == 202
    job = json.loads(raw)
    wait_status(stack, job, {"running"}, 120)
    first = stack.workers[0]
    first.proc.send_signal(signal.SIGKILL)  # no chance to ack, nack or clean up
    first.proc.wait(timeout=10)

    second = stack.add_worker()
    second.wait_for_log("worker_ready", 300)
    final = wait_status(stack, job, {"succeeded", "failed"}, 300)
    assert final["status"] == "succeeded", final
    assert final["result"]["width"] == 512
    assert second.log_text().count("job_succeeded") == 1

    settings = storage_settings(s3_env)
    store = open_store(settings, settings.jobs_bucket)
    manifest = json.loads(store.get(keys.job_key(job["id"], keys.MANIFEST)))
    assert manifest["attempts"] == 2  # the killed attempt was counted
    names = sorted(i.key.rsplit("/", 1)[1] for i in store.list(keys.job_prefix(job["id"]) or ""))
    assert names == ["input", "manifest.json", "result"]


def test_poison_input_fails_after_bounded_attempts_and_worker_stays_up(
    stack: Stack, s3_env: dict[str, str], rabbitmq_url: str
) -> None:
    """An input that passed no gateway (written straight to storage) cannot be decoded."""
    settings = storage_settings(s3_env)
    store = open_store(settings, settings.jobs_bucket)
    ring = KeyRing.from_settings(CryptoSettings(keys=stack.env["CRYPTO_KEYS"]))
    broker = build_broker(
        BrokerSettings(backend="rabbitmq", url=rabbitmq_url, queue=stack.queue), JobSettings()
    )
    # Stored and queued as the gateway does, then its input replaced: as if it got past.
    job_id = submitted_job(
        store, ring, photo(64, 64), {"model": "realesr-animevideov3", "scale": "2"}
    ).id
    replace_input(store, ring, job_id, b"\x89PNG\r\n\x1a\n" + b"\xff" * 4096)
    enqueue_job(broker, stack.queue, job_id)
    broker.close()

    deadline = time.monotonic() + 120
    manifest: dict = {}
    while time.monotonic() < deadline:
        manifest = json.loads(store.get(keys.job_key(job_id, keys.MANIFEST)))
        if manifest["status"] in ("failed", "succeeded"):
            break
        time.sleep(0.3)
    assert manifest["status"] == "failed" and manifest["error"]["code"] == "undecodable_image"
    assert manifest["attempts"] <= 3
    assert store.stat(keys.job_key(job_id, keys.INPUT)) is None  # failed: image deleted now

    # The worker is alive and still serves the next job.
    _, png = astronaut_lr()
    body, ctype = multipart({"model": "realesr-animevideov3", "scale": "2"}, png)
    code, _, raw = http("POST", f"{stack.base}/v1/jobs", body, {"Content-Type": ctype})
    assert code == 202
    assert (
        wait_status(stack, json.loads(raw), {"succeeded", "failed"}, 120)["status"] == "succeeded"
    )
    assert stack.workers[0].proc.poll() is None


def test_sigterm_lets_the_running_job_finish(stack: Stack) -> None:
    _, png = astronaut_lr()
    body, ctype = multipart({}, png)
    code, _, raw = http("POST", f"{stack.base}/v1/jobs", body, {"Content-Type": ctype})
    assert code == 202
    job = json.loads(raw)
    wait_status(stack, job, {"running"}, 120)
    worker = stack.workers[0]
    worker.proc.send_signal(signal.SIGTERM)  # a rolling update, a scale-down
    worker.proc.wait(timeout=120)
    assert "worker_stopped" in worker.log_text()
    final = status(stack, job)
    assert final["status"] == "succeeded", final
