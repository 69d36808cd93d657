"""Helpers for tests that run the services as separate OS processes."""

from __future__ import annotations

import contextlib
import io
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
from typing import NoReturn

import numpy as np
from PIL import Image

from shared.settings import StorageSettings

REPO = Path(__file__).resolve().parents[1]
#: Converted weights are cached here across test runs, like a worker's persistent volume.
MODEL_CACHE = REPO / "var" / "test-model-cache"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
#: Under CI=true every test must run: a missing service fails instead of skipping.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(what: str) -> NoReturn:
    """Something a test needs is missing: skip it locally, fail it under CI=true."""
    import pytest

    if IN_CI:
        pytest.fail(f"{what} (CI=true: tests must not skip)")
    pytest.skip(what)


def s3_service_env(endpoint: str) -> dict[str, str]:
    """Environment pointing a service at an S3 endpoint (moto's test credentials), with
    buckets of its own."""
    suffix = uuid.uuid4().hex[:8]
    return {
        "STORAGE_BACKEND": "s3",
        "STORAGE_ENDPOINT": endpoint,
        "STORAGE_SECURE": "false",
        "STORAGE_ACCESS_KEY": "testing",
        "STORAGE_SECRET_KEY": "testing",
        "STORAGE_REGION": "us-east-1",
        "STORAGE_JOBS_BUCKET": f"jobs-{suffix}",
        "STORAGE_AUDIT_BUCKET": f"audit-{suffix}",
    }


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


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


def http(
    method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP call; returns status, lower-cased headers and body."""
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def wait_http_ok(url: str, timeout: float, service: Service | None = None) -> None:
    """Wait until ``url`` answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http("GET", url)[0] == 200:
                return
        except OSError:
            pass
        if service is not None and service.proc.poll() is not None:
            raise AssertionError(f"{service.name} exited:\n{service.log_text()[-4000:]}")
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready after {timeout}s")


def multipart(
    fields: Mapping[str, str],
    file: bytes,
    filename: str = "photo.png",
    content_type: str = "application/octet-stream",
) -> tuple[bytes, str]:
    """Encode a multipart/form-data body with one ``file`` part; returns (body, content type)."""
    boundary = f"picupscaler{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
    )
    parts += [file, f"\r\n--{boundary}--\r\n".encode()]
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def astronaut_lr() -> tuple[np.ndarray, bytes]:
    """scikit-image's astronaut downscaled 4x (128x128): the pixels and a PNG of them."""
    from skimage import data

    hr = Image.fromarray(data.astronaut())
    lr = hr.resize((hr.width // 4, hr.height // 4), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    lr.save(buf, "PNG")
    return np.asarray(lr), buf.getvalue()


def niqe(rgb: np.ndarray) -> float:
    """NIQE (lower is better) of an RGB uint8 image, with BasicSR's bundled parameters."""
    from basicsr.metrics.niqe import calculate_niqe

    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    return float(calculate_niqe(bgr, crop_border=0, input_order="HWC", convert_to="y"))


def upload_and_wait(
    base: str, image: bytes, fields: Mapping[str, str] | None = None, timeout: float = 600
) -> tuple[dict, dict]:
    """POST a job, poll until it finishes; returns (accept body, final status)."""
    body, ctype = multipart(fields or {}, image)
    status, _, raw = http("POST", f"{base}/v1/jobs", body, {"Content-Type": ctype})
    assert status == 202, (status, raw[:300])
    job = json.loads(raw)
    auth = {"Authorization": f"Bearer {job['token']}"}
    deadline = time.monotonic() + timeout
    state: dict = {}
    while time.monotonic() < deadline:
        status, _, raw = http("GET", f"{base}/v1/jobs/{job['id']}", headers=auth)
        assert status == 200, (status, raw[:300])
        state = json.loads(raw)
        if state["status"] in ("succeeded", "failed"):
            return job, state
        time.sleep(0.5)
    raise AssertionError(f"job did not finish in {timeout}s: {state}")


def delete_queues(rabbitmq_url: str, queue: str) -> None:
    """Remove a test's queues (and Dramatiq's delay and dead-letter queues) from RabbitMQ."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        channel = connection.channel()
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
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
        import uuid

        from tests.jobs_support import random_keys_env

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
            "GATEWAY_RATE_LIMIT_PER_MINUTE": "0",
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


class TcpProxy:
    """A loopback TCP proxy that a test can take down and bring back (a storage outage)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        import threading

        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.start()

    def start(self) -> None:
        """Listen again (the endpoint is back)."""
        import threading

        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones (the endpoint is down)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                    conn.close()
            self._conns.clear()

    def _accept(self, server: socket.socket) -> None:
        import threading

        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def storage_settings(s3_env: Mapping[str, str]) -> StorageSettings:
    """The StorageSettings a service would read from ``s3_env`` (STORAGE_* variables)."""
    return StorageSettings.model_validate(
        {k.removeprefix("STORAGE_").lower(): v for k, v in s3_env.items()}
    )
