"""Storage and broker outages: nothing accepted is lost, refusals are 503 with Retry-After,
and the services recover without being restarted."""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.support.net import TcpProxy, http, multipart
from tests.support.processes import Stack

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

FAST = {"model": "realesr-animevideov3", "scale": "2"}


def small_png(seed: int) -> bytes:
    img = Image.new("RGB", (32, 24), ((seed * 37) % 256, (seed * 11) % 256, 128))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def post(base: str, seed: int) -> tuple[int, dict[str, str], dict]:
    body, ctype = multipart(FAST, small_png(seed))
    code, headers, raw = http("POST", f"{base}/v1/jobs", body, {"Content-Type": ctype})
    return code, headers, json.loads(raw) if raw.startswith(b"{") else {}


def wait_all_finished(base: str, jobs: list[dict], timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        for job in jobs:
            if states.get(job["id"]) in ("succeeded", "failed"):
                continue
            auth = {"Authorization": f"Bearer {job['token']}"}
            code, _, raw = http("GET", f"{base}/v1/jobs/{job['id']}", headers=auth)
            states[job["id"]] = json.loads(raw)["status"] if code == 200 else f"http {code}"
        if all(s in ("succeeded", "failed") for s in states.values()) and len(states) == len(jobs):
            break
        time.sleep(0.5)
    return states


@pytest.fixture
def proxied(
    rabbitmq_url: str, s3_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[Stack, TcpProxy]]:
    host, port = s3_env["STORAGE_ENDPOINT"].split(":")
    proxy = TcpProxy(host, int(port))
    env = {**s3_env, "STORAGE_ENDPOINT": f"127.0.0.1:{proxy.port}"}
    stack = Stack(
        rabbitmq_url,
        env,
        tmp_path,
        workers=1,
        janitor=False,
        env={"WORKER_PRELOAD": '["realesr-animevideov3:2"]'},
    )
    try:
        stack.wait_ready()
        yield stack, proxy
    finally:
        stack.stop()
        proxy.stop()


def test_storage_outage_gives_503_then_recovers(proxied: tuple[Stack, TcpProxy]) -> None:
    stack, proxy = proxied
    code, _, before = post(stack.base, 1)
    assert code == 202

    proxy.stop()
    started = time.monotonic()
    code, headers, body = post(stack.base, 2)
    refusal_seconds = time.monotonic() - started
    assert code == 503, body
    assert body["error"]["code"] == "storage_unavailable" and int(headers["retry-after"]) > 0
    ready, _, raw = http("GET", f"{stack.base}/readyz")
    assert ready == 503 and json.loads(raw)["checks"]["storage"] == "unavailable"
    print(f"\nstorage down: 503 after {refusal_seconds:.1f} s, /readyz 503")

    proxy.start()  # the endpoint comes back; nothing is restarted
    deadline = time.monotonic() + 30
    while http("GET", f"{stack.base}/readyz")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    code, _, after = post(stack.base, 3)
    assert code == 202
    states = wait_all_finished(stack.base, [before, after], 120)
    assert set(states.values()) == {"succeeded"}, states


def wait_until(condition: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def test_broker_restart_while_uploading_loses_no_accepted_job(
    rabbitmq_url: str, s3_env: dict[str, str], tmp_path: Path
) -> None:
    stack = Stack(
        rabbitmq_url,
        s3_env,
        tmp_path,
        workers=1,
        janitor=False,
        env={"WORKER_PRELOAD": '["realesr-animevideov3:2"]'},
    )
    accepted: list[dict] = []
    refused: list[int] = []
    other: list[tuple[int, dict]] = []
    stop = threading.Event()

    def client(offset: int) -> None:
        n = offset
        while not stop.is_set():
            try:
                code, headers, body = post(stack.base, n)
            except OSError as exc:  # the gateway itself must never drop a connection
                other.append((0, {"error": str(exc)}))
                continue
            if code == 202:
                accepted.append(body)
            elif code == 503 and "retry-after" in headers:
                refused.append(code)
            else:
                other.append((code, body))
            n += 2
            time.sleep(0.05)

    try:
        stack.wait_ready()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        wait_until(lambda: len(accepted) >= 5, 120, "no upload was accepted before the outage")
        rabbitmqctl("stop_app")
        # The outage lasts until it has been seen, not for a guessed time: a loaded machine
        # makes each refused upload take seconds (the broker client retries inside).
        try:
            wait_until(lambda: len(refused) >= 3, 180, "no upload was refused during the outage")
        except AssertionError as exc:  # say what the clients got instead
            raise AssertionError(
                f"{exc}: {len(refused)} refused, {len(accepted)} accepted, "
                f"{len(other)} other answers (last: {other[-3:]}), rabbitmqctl status "
                f"{subprocess.run(['rabbitmqctl', 'status'], capture_output=True).returncode}"
            ) from None
        rabbitmqctl("start_app")
        after = len(accepted)
        wait_until(lambda: len(accepted) >= after + 5, 180, "uploads not accepted after it")
        stop.set()
        for t in threads:
            t.join(timeout=60)
        states = wait_all_finished(stack.base, accepted, 300)
        print(
            f"\nbroker restart: {len(accepted)} accepted, {len(refused)} refused with 503, "
            f"{len(other)} other; accepted jobs: "
            f"{sum(s == 'succeeded' for s in states.values())} succeeded"
        )
        assert other == []
        assert refused, "uploads during the outage should have been refused with 503"
        assert accepted and all(s == "succeeded" for s in states.values()), states
    finally:
        stop.set()
        subprocess.run(["rabbitmqctl", "start_app"], capture_output=True, timeout=120)
        stack.stop()
