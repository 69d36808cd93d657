"""The flood run of issue #11: one /24 floods with heavy jobs, another submits a small one.

Starts the distributed stack (gateway, one worker, RabbitMQ, Redis, moto's S3 server) on this
machine and measures, from acceptance to success:

1. one heavy job alone (x4plus, 160x160), and one small job alone (animevideov3 x2, 64x64);
2. the small job, from 127.0.1.1, submitted while 127.0.0.1 floods with heavy jobs (it keeps
   submitting, honouring Retry-After, for the whole run).

Admission caps the flooder's jobs in flight and gives the newcomer's first job the top queue
priority, so the small job should wait for about one heavy job, not for the flood's backlog.

    .venv/bin/python bench/flood.py [--heavy 16]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # runs as a script: the test helpers start the stack

from tests.support.env import RABBITMQ_URL, REDIS_URL  # noqa: E402
from tests.support.net import free_port, http, multipart, wait_http_ok  # noqa: E402
from tests.support.photos import photo  # noqa: E402
from tests.support.processes import Service, Stack  # noqa: E402
from tests.support.storage import s3_service_env  # noqa: E402

FLOODER, NEWCOMER = "127.0.0.1", "127.0.1.1"
HEAVY = ({"model": "realesrgan-x4plus", "scale": "4"}, (160, 160))
SMALL = ({"model": "realesr-animevideov3", "scale": "2"}, (64, 64))


def submit(
    base: str, kind: tuple[dict[str, str], tuple[int, int]], source: str
) -> tuple[int, dict, dict]:
    fields, size = kind
    body, ctype = multipart(fields, photo(*size))
    code, headers, raw = http(
        "POST", f"{base}/v1/jobs", body, {"Content-Type": ctype}, source=source
    )
    return code, headers, json.loads(raw)


def wait_done(base: str, job: dict, source: str) -> float:
    """Seconds until the job succeeded (polled every 0.2 s)."""
    auth = {"Authorization": f"Bearer {job['token']}"}
    while True:
        state = json.loads(
            http("GET", f"{base}/v1/jobs/{job['id']}", headers=auth, source=source)[2]
        )
        if state["status"] in ("succeeded", "failed"):
            assert state["status"] == "succeeded", state
            return time.monotonic()
        time.sleep(0.2)


def timed(base: str, kind: tuple[dict[str, str], tuple[int, int]], source: str) -> float:
    start = time.monotonic()
    code, _, job = submit(base, kind, source)
    assert code == 202, job
    return wait_done(base, job, source) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heavy", type=int, default=16, help="heavy jobs the flooder wants")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="flood-"))
    port = free_port()
    moto = Service("moto", ["-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], {}, logs)
    wait_http_ok(f"http://127.0.0.1:{port}/moto-api/", 60, moto)
    env = {
        "ADMISSION_REDIS_URL": REDIS_URL,
        "ADMISSION_REDIS_KEY_PREFIX": f"flood-{uuid.uuid4().hex[:8]}",
        "ADMISSION_UPLOADS_PER_MINUTE": "0",
        "WORKER_PRELOAD": '["realesrgan-x4plus:4", "realesr-animevideov3:2"]',
        "GATEWAY_RETRY_AFTER_SECONDS": "2",
    }
    stack = Stack(
        RABBITMQ_URL, s3_service_env(f"127.0.0.1:{port}"), logs, workers=1, janitor=False, env=env
    )
    try:
        stack.wait_ready(600)
        heavy_alone = timed(stack.base, HEAVY, FLOODER)
        small_alone = timed(stack.base, SMALL, NEWCOMER)
        print(f"heavy job alone: {heavy_alone:.1f} s; small job alone: {small_alone:.1f} s")

        stop = threading.Event()
        counts = {"accepted": 0, "refused": 0}

        def flood() -> None:
            while not stop.is_set() and counts["accepted"] < args.heavy:
                code, headers, _ = submit(stack.base, HEAVY, FLOODER)
                if code == 202:
                    counts["accepted"] += 1
                else:
                    counts["refused"] += 1
                    stop.wait(float(headers.get("retry-after", "1")))

        flooder = threading.Thread(target=flood, daemon=True)
        flooder.start()
        time.sleep(max(2.0, heavy_alone * 0.5))  # the flood is in the queue and running
        small_flooded = timed(stack.base, SMALL, NEWCOMER)
        stop.set()
        flooder.join(timeout=5)
        print(
            f"small job during the flood: {small_flooded:.1f} s "
            f"({small_flooded / heavy_alone:.2f} heavy jobs); flooder: "
            f"{counts['accepted']} accepted, {counts['refused']} refused (429, Retry-After "
            "honoured) by then"
        )
    finally:
        stack.stop()
        moto.stop()


if __name__ == "__main__":
    main()
