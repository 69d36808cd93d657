"""Admission across processes: two gateway replicas share one set of limits through Redis, a
worker frees a network's in-flight place when it is done, and RabbitMQ priorities put a
newcomer's job right after the one in progress, ahead of a flooding network's backlog.

Separate processes (two gateways, a worker) on RabbitMQ, Redis and the S3 endpoint; two client
networks on loopback (127.0.0.1 and 127.0.1.1, different /24s). The order is made
deterministic by holding the worker at a failpoint while the queue fills.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.failpoints import Failpoints
from tests.support.net import free_port, http, multipart, wait_http_ok
from tests.support.photos import photo
from tests.support.processes import Service, Stack

pytestmark = [pytest.mark.rabbitmq, pytest.mark.redis]

FLOODER, NEWCOMER = "127.0.0.1", "127.0.1.1"


@pytest.fixture
def stack(
    rabbitmq_url: str, redis_url: str, s3_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[Stack, str, Failpoints]]:
    failpoints = Failpoints(tmp_path / "failpoints")
    env = {
        **failpoints.env,
        "LOG_FORMAT": "json",
        "ADMISSION_REDIS_URL": redis_url,
        "ADMISSION_REDIS_KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
        "ADMISSION_UPLOADS_PER_MINUTE": "0",
        "ADMISSION_MAX_IN_FLIGHT_PER_NETWORK": "4",
        "WORKER_PRELOAD": '["realesr-animevideov3:2"]',
        "WORKER_WARMUP": "false",
    }
    stack = Stack(rabbitmq_url, s3_env, tmp_path, workers=1, janitor=False, env=env)
    port = free_port()
    second = Service(
        "gateway-2", ["-m", "gateway"], {**stack.env, "GATEWAY_PORT": str(port)}, tmp_path
    )
    try:
        stack.wait_ready()
        wait_http_ok(f"http://127.0.0.1:{port}/readyz", 60, second)
        yield stack, f"http://127.0.0.1:{port}", failpoints
    finally:
        second.stop()
        stack.stop()


def submit(base: str, source: str) -> tuple[int, dict]:
    body, ctype = multipart({"model": "realesr-animevideov3", "scale": "2"}, photo(32, 32))
    code, _, raw = http("POST", f"{base}/v1/jobs", body, {"Content-Type": ctype}, source=source)
    return code, json.loads(raw)


def finished_order(stack: Stack, count: int, timeout: float = 180) -> list[str]:
    """Job ids in the order the worker finished them, once ``count`` have finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [
            json.loads(line)["job_id"]
            for line in stack.workers[0].log_text().splitlines()
            if '"job_finished"' in line
        ]
        if len(done) >= count:
            return done
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} jobs finished in {timeout} s")


def test_replicas_share_the_in_flight_cap_and_the_worker_frees_it(
    stack: tuple[Stack, str, Failpoints],
) -> None:
    gateway, other, failpoints = stack
    failpoints.arm("worker.received")  # the worker takes the first job and holds it
    accepted = []
    for n in range(4):  # alternate replicas: the cap counts across both
        code, body = submit(gateway.base if n % 2 else other, FLOODER)
        assert code == 202, body
        accepted.append(body["id"])
    for base in (gateway.base, other):
        code, body = submit(base, FLOODER)
        assert code == 429 and body["error"]["code"] == "too_many_jobs_in_flight"
    assert submit(other, NEWCOMER)[0] == 202  # another network is not affected
    failpoints.wait_hit("worker.received")
    failpoints.release("worker.received")
    first = finished_order(gateway, 1)[0]
    assert first in accepted
    # The worker took the finished job out of its network's count: one place is free again.
    assert submit(other, FLOODER)[0] == 202


def test_a_newcomer_runs_right_after_the_job_in_progress(
    stack: tuple[Stack, str, Failpoints],
) -> None:
    gateway, _, failpoints = stack
    failpoints.arm("worker.received")
    flood = []
    for _ in range(4):
        code, body = submit(gateway.base, FLOODER)
        assert code == 202
        flood.append(body["id"])
    failpoints.wait_hit("worker.received")  # the first flood job is in progress, 3 wait
    code, newcomer = submit(gateway.base, NEWCOMER)
    assert code == 202
    failpoints.release("worker.received")
    order = finished_order(gateway, 5)
    assert order[0] == flood[0]  # the job in progress
    assert order[1] == newcomer["id"], order  # next: the other network's first job
    assert order[2:] == flood[1:]  # then the flood, in its own order
