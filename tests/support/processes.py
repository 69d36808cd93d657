"""The services as separate OS processes, the way production runs them."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.support.env import MODEL_CACHE, REPO, UNLIMITED_ADMISSION_ENV
from tests.support.net import free_port, wait_http_ok
from tests.support.storage import random_keys_env


class Service:
    """A service started as its own process (``python -m <module>``), logging to a file."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        self.proc = subprocess.Popen(
            [sys.executable, *args], cwd=REPO, env=full_env, stdout=self._log, stderr=self._log
        )

    def log_text(self) -> str:
        """Everything the process has logged so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float) -> str:
        """Wait until ``needle`` appears in the log; fail with the log if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()
            if needle in text:
                return text
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited early:\n{text[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(
            f"{self.name}: no {needle!r} after {timeout}s:\n{self.log_text()[-4000:]}"
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def delete_queues(rabbitmq_url: str, queue: str) -> None:
    """Remove a test's queues (and Dramatiq's delay and dead-letter queues) from RabbitMQ."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        channel = connection.channel()
        # The worker declares a webhook queue beside the job queue (worker.webhooks).
        for base in (queue, f"{queue}.webhooks"):
            for name in (base, f"{base}.DQ", f"{base}.XQ"):
                channel.queue_delete(queue=name)
    finally:
        connection.close()


class Stack:
    """Gateway, workers and janitor as separate processes on RabbitMQ and an S3 endpoint."""

    def __init__(
        self,
        rabbitmq_url: str,
        s3_env: Mapping[str, str],
        log_dir: Path,
        *,
        workers: int = 1,
        janitor: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.rabbitmq_url = rabbitmq_url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.queue = f"picupscaler-test-{uuid.uuid4().hex[:8]}"
        self.log_dir = log_dir
        self.env = {
            **s3_env,
            "BROKER_BACKEND": "rabbitmq",
            "BROKER_URL": rabbitmq_url,
            "BROKER_QUEUE": self.queue,
            "GATEWAY_PORT": str(self.port),
            "WORKER_MODEL_CACHE_DIR": str(MODEL_CACHE),
            "WORKER_TILE_SIZE": "128",
            "JANITOR_INTERVAL_SECONDS": "2",
            "CRYPTO_KEYS": random_keys_env(),
            **UNLIMITED_ADMISSION_ENV,
            **(env or {}),
        }
        self.workers: list[Service] = []
        self.gateway = Service("gateway", ["-m", "gateway"], self.env, log_dir)
        self.janitor = Service("janitor", ["-m", "janitor"], self.env, log_dir) if janitor else None
        for _ in range(workers):
            self.add_worker()

    def add_worker(self, extra_env: Mapping[str, str] | None = None) -> Service:
        """Start one more worker process."""
        name = f"worker-{len(self.workers) + 1}"
        worker = Service(name, ["-m", "worker"], {**self.env, **(extra_env or {})}, self.log_dir)
        self.workers.append(worker)
        return worker

    def wait_ready(self, timeout: float = 300) -> None:
        """Wait for the gateway's readiness and every worker's model load."""
        wait_http_ok(f"{self.base}/readyz", 60, self.gateway)
        for worker in self.workers:
            worker.wait_for_log("worker_ready", timeout)

    def stop(self) -> None:
        """Stop every process and remove the test's queues."""
        for service in [self.gateway, *self.workers, *([self.janitor] if self.janitor else [])]:
            service.stop()
        # RabbitMQ may be the thing a fault test stopped: cleaning up is best effort.
        with contextlib.suppress(Exception):
            delete_queues(self.rabbitmq_url, self.queue)


@contextlib.contextmanager
def all_in_one(env: Mapping[str, str], root: Path, timeout: float = 300) -> Iterator[str]:
    """``python -m allinone`` on a free port, its storage and service key under ``root``;
    yields its base URL once it is ready."""
    port = free_port()
    env = {
        **env,
        "GATEWAY_PORT": str(port),
        "STORAGE_LOCAL_DIR": str(root / "storage"),
        "CRYPTO_LOCAL_KEY_FILE": str(root / "service.key"),
    }
    process = Service("allinone", ["-m", "allinone"], env, root)
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/readyz", timeout, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


@contextlib.contextmanager
def serving(
    mode: str, env: Mapping[str, str], root: Path, request: Any, timeout: float = 300
) -> Iterator[str]:
    """The service in ``mode``: "all-in-one", or "distributed" (gateway and one worker as
    processes, no janitor) on the test's RabbitMQ and S3 (fixtures taken from ``request``).
    Yields the gateway's base URL once everything is ready."""
    if mode == "all-in-one":
        with all_in_one(env, root, timeout) as base:
            yield base
        return
    stack = Stack(
        request.getfixturevalue("rabbitmq_url"),
        request.getfixturevalue("s3_env"),
        root,
        workers=1,
        janitor=False,
        env=env,
    )
    try:
        stack.wait_ready(timeout)
        yield stack.base
    finally:
        stack.stop()
