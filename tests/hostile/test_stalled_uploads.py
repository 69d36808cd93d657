"""Stalled uploads cannot hold the gateway: a network's share of upload places is capped, the
idle timeout closes them, and a normal upload from another network goes through meanwhile.

A real gateway process; 40 connections from 127.0.0.1 send their headers and part of a body,
then nothing. The figures are printed (answer times while they are open, and after).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.env import UNLIMITED_ADMISSION_ENV
from tests.support.net import free_port, http, multipart, wait_http_ok
from tests.support.photos import photo
from tests.support.processes import Service

IDLE_TIMEOUT_S = 3
STALLED = 40


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("stalled")
    port = free_port()
    env = {
        **UNLIMITED_ADMISSION_ENV,
        "GATEWAY_PORT": str(port),
        "STORAGE_LOCAL_DIR": str(root / "s"),
        "CRYPTO_LOCAL_KEY_FILE": str(root / "k"),
        "GATEWAY_UPLOAD_IDLE_TIMEOUT_SECONDS": str(IDLE_TIMEOUT_S),
        "GATEWAY_MAX_UPLOADS_IN_MEMORY_PER_NETWORK": "3",
    }
    service = Service("gateway", ["-m", "gateway"], env, Path(root))
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", 60, service)
        yield f"http://127.0.0.1:{port}"
    finally:
        service.stop()


def stalled_upload(port: int) -> socket.socket:
    """Headers and the start of a 5 MB body, then silence."""
    body, ctype = multipart({}, b"\x89PNG\r\n\x1a\n" + b"\0" * 5_000_000)
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body[:65536]
    )
    return sock


def answer_of(sock: socket.socket) -> int:
    """The status the gateway answered on ``sock`` (0 if it closed without one)."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    sock.close()
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def timed_upload(base: str, source: str) -> tuple[int, float]:
    body, ctype = multipart({"model": "realesr-animevideov3", "scale": "2"}, photo(32, 32))
    start = time.monotonic()
    code, _, raw = http("POST", f"{base}/v1/jobs", body, {"Content-Type": ctype}, source=source)
    assert code in (202, 429), raw
    return code, time.monotonic() - start


def test_stalled_uploads_are_capped_and_closed(gateway: str) -> None:
    port = int(gateway.rsplit(":", 1)[1])
    _, quiet = timed_upload(gateway, "127.0.1.1")
    socks = [stalled_upload(port) for _ in range(STALLED)]
    opened = time.monotonic()
    code, during = timed_upload(gateway, "127.0.1.1")  # another /24
    assert code == 202
    statuses = [answer_of(s) for s in socks]
    closed_after = time.monotonic() - opened
    # The network's share (3) waited for their bodies until the idle timeout closed them;
    # the other 37 were refused at once, before the gateway read their bodies.
    assert statuses.count(408) == 3 and statuses.count(429) == STALLED - 3, statuses
    assert closed_after < IDLE_TIMEOUT_S + 10
    code, after = timed_upload(gateway, "127.0.0.1")  # the stalling network, afterwards
    assert code == 202
    print(
        f"\n{STALLED} stalled uploads: a normal upload took {quiet * 1000:.0f} ms before, "
        f"{during * 1000:.0f} ms while they were open (another network), "
        f"{after * 1000:.0f} ms after the gateway closed them ({closed_after:.1f} s after "
        f"they opened; idle timeout {IDLE_TIMEOUT_S} s); answers: "
        f"{json.dumps({s: statuses.count(s) for s in set(statuses)})}"
    )
