"""Helpers for tests that run the services as separate OS processes."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
#: Converted weights are cached here across test runs, like a worker's persistent volume.
MODEL_CACHE = REPO / "var" / "test-model-cache"


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
    fields: Mapping[str, str], file: bytes, filename: str = "photo.png"
) -> tuple[bytes, str]:
    """Encode a multipart/form-data body; returns (body, content type)."""
    boundary = "testboundary7f3a9c"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
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
