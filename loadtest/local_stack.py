"""The local distributed stack ``make loadtest`` starts when no ``--host`` is given.

moto's S3 server, the gateway, N workers, the janitor and the queue exporter, each its own
process on loopback, on the RabbitMQ at 127.0.0.1:5672 with a queue unique to the run (deleted
at the end). It starts the services' own entry points (``python -m gateway`` …) and needs
nothing from ``tests/``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
#: Converted weights are cached here (the test suite's cache), so workers start in seconds.
MODEL_CACHE = REPO / "var" / "test-model-cache"


def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


class Process:
    """One service as an OS process (``python ARGS``), its output in ``<log_dir>/<name>.log``."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_for_line(self, needle: str, timeout: float) -> None:
        """Wait until the log contains ``needle``; raise with the log's tail if it exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._log.flush()
            text = self.log_path.read_text(errors="replace")
            if needle in text:
                return
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited early:\n{text[-3000:]}")
            time.sleep(0.2)
        raise SystemExit(f"{self.name}: no {needle!r} after {timeout:.0f} s")

    def wait_for_http(self, url: str, timeout: float) -> None:
        """Wait until ``url`` answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(url, timeout=5) as resp,
            ):
                if resp.status == 200:
                    return
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        raise SystemExit(f"{url} not ready after {timeout:.0f} s")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def remove_queues(queue: str) -> None:
    """Delete the run's queue and Dramatiq's delay (.DQ) and dead-letter (.XQ) queues."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        channel = connection.channel()
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            channel.queue_delete(queue=name)
    finally:
        connection.close()


class LocalStack:
    """moto S3, gateway, workers, janitor and queue exporter as processes on loopback."""

    def __init__(
        self, *, workers: int, model: str, scale: int, worker_threads: int, log_dir: Path
    ) -> None:
        self.workers_wanted = workers
        self.model, self.scale, self.worker_threads = model, scale, worker_threads
        self.log_dir = log_dir
        self.queue = f"picupscaler-loadtest-{uuid.uuid4().hex[:8]}"
        self.port = unused_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, Process] = {}

    @property
    def workers(self) -> list[Process]:
        """The worker processes."""
        return [p for name, p in self.processes.items() if name.startswith("worker-")]

    def start(self) -> None:
        """Start everything; wait for the gateway's readiness and every worker's models."""
        if not listening("127.0.0.1", 5672):
            raise SystemExit("RabbitMQ is not reachable on 127.0.0.1:5672 (start it first)")
        s3_port = unused_port()
        moto = Process(
            "moto", ["-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)], {}, self.log_dir
        )
        self.processes["moto"] = moto
        moto.wait_for_http(f"http://127.0.0.1:{s3_port}/moto-api/", 60)
        run_id = uuid.uuid4().hex[:8]
        key = base64.b64encode(os.urandom(32)).decode()
        env = {
            "STORAGE_BACKEND": "s3",
            "STORAGE_ENDPOINT": f"127.0.0.1:{s3_port}",
            "STORAGE_SECURE": "false",
            "STORAGE_ACCESS_KEY": "loadtest",
            "STORAGE_SECRET_KEY": "loadtest",
            "STORAGE_REGION": "us-east-1",
            "STORAGE_JOBS_BUCKET": f"loadtest-jobs-{run_id}",
            "STORAGE_AUDIT_BUCKET": f"loadtest-audit-{run_id}",
            "BROKER_BACKEND": "rabbitmq",
            "BROKER_URL": RABBITMQ_URL,
            "BROKER_QUEUE": self.queue,
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(self.port),
            # The users all come from 127.0.0.1: one client network. The harness measures the
            # service, not admission (run --host against a deployment to meet its limits).
            "ADMISSION_UPLOADS_PER_MINUTE": "0",
            "ADMISSION_MAX_IN_FLIGHT_PER_NETWORK": "1000000",
            "ADMISSION_WORK_BUDGET_TFLOP": "1e12",
            "CRYPTO_KEYS": f"loadtest-{run_id}:{key}",
            "WORKER_PRELOAD": json.dumps([f"{self.model}:{self.scale}"]),
            "WORKER_MODEL_CACHE_DIR": str(MODEL_CACHE),
            "WORKER_DEVICE": "cpu",
            "JANITOR_INTERVAL_SECONDS": "30",
            "LOG_FORMAT": "json",
        }
        self.processes["gateway"] = Process("gateway", ["-m", "gateway"], env, self.log_dir)
        self.processes["janitor"] = Process("janitor", ["-m", "janitor"], env, self.log_dir)
        self.processes["queue-exporter"] = Process(
            "queue-exporter",
            ["-m", "shared.ops_metrics"],
            {**env, "QUEUE_EXPORTER_PORT": str(unused_port())},
            self.log_dir,
        )
        worker_env = dict(env)
        if self.worker_threads > 0:
            threads = str(self.worker_threads)
            worker_env |= {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        for i in range(self.workers_wanted):
            name = f"worker-{i + 1}"
            self.processes[name] = Process(name, ["-m", "worker"], worker_env, self.log_dir)
        self.processes["gateway"].wait_for_http(f"{self.base}/readyz", 120)
        for worker in self.workers:
            worker.wait_for_line("worker_ready", 300)

    def stop(self) -> None:
        """Stop every process (gateway first, S3 last) and delete the run's queues."""
        order = sorted(self.processes.items(), key=lambda kv: kv[0] == "moto")
        for _, process in order:
            with contextlib.suppress(Exception):
                process.stop()
        with contextlib.suppress(Exception):
            remove_queues(self.queue)
