"""Talking to services over the network: ports, HTTP calls, multipart bodies, a TCP proxy."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.processes import Service


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


class TcpProxy:
    """A loopback TCP proxy that a test can take down and bring back (a storage outage)."""

    def __init__(self, target_host: str, target_port: int) -> None:

        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.start()

    def start(self) -> None:
        """Listen again (the endpoint is back)."""

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
