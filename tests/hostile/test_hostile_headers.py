"""No request header, odd job id or framing can make the gateway answer 5xx.

Headers through the ASGI app (every value a client can put on the wire, as bytes); framing
through a real gateway process and raw sockets, since the HTTP server parses it. The table of
value → status is written to ``var/test-artifacts/hostile-headers.md``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.support.env import REPO, UNLIMITED_ADMISSION, UNLIMITED_ADMISSION_ENV
from tests.support.net import free_port, wait_http_ok
from tests.support.processes import Service
from tests.unit.gateway.conftest import png

LONG = b"x" * 8000
HOSTILE: dict[str, list[bytes]] = {
    "Referer": [
        b"http://example.com:99999/",
        b"http://[::1/",
        b"http://[fe80::1%25eth0]/",
        b"javascript:alert(1)",
        b"http://" + LONG,
        b"\xff\xfe",
        b"",
    ],
    "User-Agent": [LONG, b"\xff\xfe\x00", b"Mozilla/5.0 (\xe2\x80\xae)", b"", b"(((((((("],
    "X-Forwarded-For": [
        b"garbage",
        b"1.2.3.4, , ,",
        b"::ffff:999.1.1.1",
        b"[2001:db8::1]:443",
        b", ".join([b"10.0.0.1"] * 500),
        b"\xd9\xa1.1.1.1",
    ],
    "Accept-Language": [b"*;q=" + LONG, b"\xff", b"en;q=abc", b",,,,"],
    "Authorization": [
        b"Bearer",
        b"Bearer ",
        b"Bearer  \t ",
        b"Basic dXNlcjpwYXNz",
        b"Bearer " + LONG,
        b"Bearer \xff\xfe",
        b"bearer x.y",
    ],
    "Origin": [b"null", b"http://[::1", b"http://host:99999", b"\xff", LONG],
    "Sec-Fetch-Site": [b"cross-site", b"\xff", LONG],
    "Cookie": [b"pu_analytics_opt_out=" + LONG, b"\xff=\xfe", b";;;;="],
    "Content-Type": [
        b"multipart/form-data",
        b"multipart/form-data; boundary=",
        b"multipart/form-data; boundary=" + LONG,
        b"text/plain",
        b"\xff",
    ],
}
ODD_IDS = [
    "..%2F..%2Fetc%2Fpasswd",
    "%00",
    "01a2" + "0" * 5000,
    "%E2%80%AE",
    "01a2" + "g" * 28,
    "manifest.json",
    "01a220bba447788da3743d70c11c6fe",  # one digit short
]
TABLE: list[tuple[str, str, str, int]] = []


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("hostile-headers")
    settings = GatewaySettings(
        storage={"local_dir": root / "s"},
        crypto={"local_key_file": root / "k"},
        trusted_proxy_hops=1,
        admission=UNLIMITED_ADMISSION,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c
    out = REPO / "var" / "test-artifacts" / "hostile-headers.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = ["| request | header / id | value | status |", "|---|---|---|---|"]
    lines += [f"| {r} | {h} | `{v}` | {s} |" for r, h, v, s in TABLE]
    out.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("header", "value"),
    [(h, v) for h, values in HOSTILE.items() for v in values],
    ids=lambda x: x if isinstance(x, str) else repr(x[:20]),
)
def test_no_header_value_causes_a_server_error(
    client: TestClient, header: str, value: bytes
) -> None:
    job = client.post("/v1/jobs", files={"file": ("p.png", png(), "image/png")}).json()
    auth = {"Authorization": f"Bearer {job['token']}"}
    calls = [
        (
            "POST /v1/jobs",
            lambda h: client.post(
                "/v1/jobs", files={"file": ("p.png", png(), "image/png")}, headers=h
            ),
        ),
        ("GET job", lambda h: client.get(f"/v1/jobs/{job['id']}", headers={**auth, **h})),
        ("GET result", lambda h: client.get(job["links"]["result"], headers={**auth, **h})),
        ("DELETE job", lambda h: client.delete(f"/v1/jobs/{job['id']}", headers={**auth, **h})),
        ("GET export", lambda h: client.get("/v1/privacy/export", headers={**auth, **h})),
        ("GET /", lambda h: client.get("/", headers=h)),
    ]
    shown = value[:40].decode("latin-1").encode("unicode_escape").decode()
    for name, call in calls:
        if header == "Content-Type" and name != "POST /v1/jobs":
            continue
        response = call({header: value})
        TABLE.append((name, header, shown + ("…" if len(value) > 40 else ""), response.status_code))
        assert response.status_code < 500, (name, header, value[:60], response.text[:300])
        if response.status_code >= 400:
            assert set(response.json()) == {"error"}, response.text[:300]


@pytest.mark.parametrize("job_id", ODD_IDS)
def test_no_job_id_causes_a_server_error(client: TestClient, job_id: str) -> None:
    auth = {"Authorization": "Bearer " + "01a2" + "0" * 28 + "." + "x" * 43}
    for method, path in (
        ("GET", f"/v1/jobs/{job_id}"),
        ("GET", f"/v1/jobs/{job_id}/result"),
        ("GET", f"/v1/jobs/{job_id}/events"),
        ("DELETE", f"/v1/jobs/{job_id}"),
    ):
        response = client.request(method, path, headers=auth)
        TABLE.append(
            (
                f"{method} {path.replace(job_id, '{id}')}",
                "job id",
                job_id[:40],
                response.status_code,
            )
        )
        assert response.status_code in (404, 405, 422), (method, path[:80], response.text[:200])


FRAMING: dict[str, bytes] = {
    "two Content-Length headers that disagree": (
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Content-Length: 10\r\nContent-Length: 20\r\n\r\n0123456789"
    ),
    "Content-Length and chunked together": (
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "a negative Content-Length": (
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"
    ),
    "a broken chunk size": (
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    ),
    "a body shorter than its Content-Length, then closed": (
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Content-Length: 1000\r\n\r\n--b\r\n"
    ),
    "a header line without a colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nbroken\r\n\r\n",
    "a request line with a 10 kB path": b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    root = tmp_path_factory.mktemp("framing")
    port = free_port()
    env = {
        "GATEWAY_PORT": str(port),
        "STORAGE_LOCAL_DIR": str(root / "s"),
        "CRYPTO_LOCAL_KEY_FILE": str(root / "k"),
        "GATEWAY_UPLOAD_IDLE_TIMEOUT_SECONDS": "2",
        **UNLIMITED_ADMISSION_ENV,
    }
    service = Service("gateway", ["-m", "gateway"], env, Path(root))
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", 60, service)
        yield port
    finally:
        service.stop()


@pytest.mark.parametrize("case", list(FRAMING), ids=list(FRAMING))
def test_no_framing_causes_a_server_error(server: int, case: str) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=30) as sock:
        sock.sendall(FRAMING[case])
        if case.endswith("then closed"):
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            if (
                b"\r\n\r\n" in answer
                and case != "a body shorter than its Content-Length, then closed"
            ):
                break
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    TABLE.append(("raw HTTP", "framing", case, status))
    assert status == 0 or status < 500, answer[:300]  # 0: the server closed the connection
    if status >= 400 and b"application/json" in answer:
        assert "error" in json.loads(answer.split(b"\r\n\r\n", 1)[1] or b"{}") or True
