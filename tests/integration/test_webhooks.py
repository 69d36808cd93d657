"""Webhooks through the real stack: gateway, worker (real weights) and janitor as their own
processes on RabbitMQ and an S3 endpoint, and a real receiver on loopback (allowed by the
deployment's setting). A second gateway with the default setting refuses private targets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from shared.webhooks import SIGNATURE_HEADER, verify_signature
from tests.support.net import free_port, http, multipart, wait_http_ok
from tests.support.photos import photo
from tests.support.processes import Service, Stack
from tests.support.receiver import Receiver, start_receiver

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

SECRET = "integration-test-secret-0123456789"
WEBHOOK_ENV = {
    "WEBHOOK_SIGNING_SECRET": SECRET,
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "WEBHOOK_ALLOW_HTTP": "true",
    "WEBHOOK_RETRY_DELAYS_SECONDS": "[1, 1]",
    "WORKER_PRELOAD": '["realesr-animevideov3:2"]',
}


@pytest.fixture
def stack(rabbitmq_url: str, s3_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(rabbitmq_url, s3_env, tmp_path, janitor=False, env=WEBHOOK_ENV)
    try:
        stack.wait_ready()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with start_receiver("127.0.0.1") as r:
        yield r


def upload(base: str, fields: dict[str, str]) -> tuple[int, dict]:
    body, ctype = multipart(fields, photo(32, 24))
    status, _, raw = http("POST", f"{base}/v1/jobs", body, {"Content-Type": ctype})
    return status, json.loads(raw)


def test_a_succeeded_job_is_announced_signed_and_retried(stack: Stack, receiver: Receiver) -> None:
    receiver.statuses.append(503)  # the first try fails: the retry goes through RabbitMQ
    status, job = upload(
        stack.base,
        {
            "model": "realesr-animevideov3",
            "scale": "2",
            "webhook_url": f"http://127.0.0.1:{receiver.port}/hooks/done?src=test",
        },
    )
    assert status == 202, job
    first = receiver.next_delivery(300)
    second = receiver.next_delivery(60)
    assert [first.headers["PicUpscaler-Attempt"], second.headers["PicUpscaler-Attempt"]] == [
        "1",
        "2",
    ]
    assert second.path == "/hooks/done?src=test"
    assert second.headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert verify_signature(second.body, second.headers[SIGNATURE_HEADER], SECRET)
    assert not verify_signature(second.body, second.headers[SIGNATURE_HEADER], SECRET + "x")

    auth = {"Authorization": f"Bearer {job['token']}"}
    _, _, raw = http("GET", f"{stack.base}/v1/jobs/{job['id']}", headers=auth)
    state = json.loads(raw)
    body = json.loads(second.body)
    assert body["id"] == job["id"] and body["status"] == "succeeded" == state["status"]
    assert (
        body["result"]
        == state["result"]
        == {
            "width": 64,
            "height": 48,
            "format": "png",
            "bytes": state["result"]["bytes"],
        }
    )
    assert "error" not in body
    assert datetime.fromisoformat(body["finished_at"]) >= datetime.fromisoformat(
        state["created_at"]
    )
    assert job["token"] not in second.body.decode() + json.dumps(second.headers)
    print("\nwebhook request headers:", json.dumps(second.headers, indent=1))
    print("webhook request body:", second.body.decode())


def test_a_private_target_is_refused_at_submission(
    stack: Stack, tmp_path: Path, receiver: Receiver
) -> None:
    """The same deployment, but a gateway with the default (public targets only)."""
    port = free_port()
    env = {**stack.env, "GATEWAY_PORT": str(port), "WEBHOOK_ALLOW_PRIVATE_TARGETS": "false"}
    strict = Service("gateway-strict", ["-m", "gateway"], env, tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{base}/readyz", 60, strict)
        for url in (
            f"http://127.0.0.1:{receiver.port}/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost/",
        ):
            status, body = upload(base, {"webhook_url": url})
            assert status == 422, (url, body)
            assert body["error"]["code"] == "invalid_webhook_url", body
        print("\nSSRF refusal:", json.dumps(body))
    finally:
        strict.stop()
    assert receiver.deliveries.empty()
