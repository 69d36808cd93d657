"""The client's reconnects, polling fallback and Retry-After, over real HTTP against a scripted
server (the happy path against the real service is tests/e2e/test_client.py)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway.client.api import Api, ServiceError
from gateway.client.follow import Follower, JobGone, Update
from tests.support.env import REPO

JOB = "01a2212ae71a70bba63c54029bc5fb1c"
DONE = {"id": JOB, "status": "succeeded", "progress": 1.0, "options": {"scale": 2}}


@dataclass
class Reply:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Script:
    """Replies per (method, path), in order; every request is recorded."""

    replies: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    seen: queue.Queue[tuple[str, str, dict[str, str]]] = field(default_factory=queue.Queue)

    def add(self, method: str, path: str, *replies: Reply) -> None:
        self.replies.setdefault((method, path), []).extend(replies)

    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        out = []
        while not self.seen.empty():
            out.append(self.seen.get())
        return out


def sse(*events: tuple[str | None, str, dict], retry_ms: int = 10) -> Reply:
    text = f": keep-alive\n\nretry: {retry_ms}\n\n"
    for event_id, kind, data in events:
        text += (f"id: {event_id}\n" if event_id else "") + f"event: {kind}\n"
        text += f"data: {json.dumps(data)}\n\n"
    return Reply(200, text, {"Content-Type": "text/event-stream"})


def doc(body: dict, status: int = 200) -> Reply:
    return Reply(status, json.dumps(body), {"Content-Type": "application/json"})


@pytest.fixture
def server() -> Iterator[tuple[Script, str]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            script.seen.put((self.command, self.path, dict(self.headers)))
            queued = script.replies.get((self.command, self.path)) or []
            reply = queued.pop(0) if queued else Reply(500, "no reply scripted")
            data = reply.body.encode()
            self.send_response(reply.status)
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _answer  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield script, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def follow(base: str, waits: list[float]) -> tuple[dict, list[Update], list[str]]:
    updates: list[Update] = []
    modes: list[str] = []
    api = Api(base, sleep=waits.append)
    try:
        final = Follower(
            api, JOB, "tok", updates.append, on_mode=modes.append, sleep=waits.append
        ).run()
    finally:
        api.close()
    return final, updates, modes


EVENTS = f"/v1/jobs/{JOB}/events"
STATUS = f"/v1/jobs/{JOB}"


def test_a_dropped_stream_resumes_from_the_last_event_id(server: tuple[Script, str]) -> None:
    script, base = server
    progress = {"status": "running", "progress": 0.5, "stage": "upscaling", "tile": 3, "tiles": 6}
    script.add(
        "GET",
        EVENTS,
        sse(
            ("41", "progress", {"status": "queued", "queue_position": 2}),
            ("42", "progress", progress),
        ),
        sse(("43", "status", DONE)),
    )
    waits: list[float] = []
    final, updates, modes = follow(base, waits)
    assert final == DONE
    assert updates[0] == Update("queued", queue_position=2)
    assert updates[1] == Update("running", 0.5, "upscaling", 3, 6)
    first, second = [r for r in script.requests() if r[1] == EVENTS]
    assert "Last-Event-ID" not in first[2] and second[2]["Last-Event-ID"] == "42"
    assert second[2]["Authorization"] == "Bearer tok" and first[2]["Accept"] == "text/event-stream"
    assert waits == [0.01] and modes == ["stream", "stream"]  # the server's retry: 10 ms


def test_a_failing_stream_falls_back_to_polling(server: tuple[Script, str]) -> None:
    script, base = server
    script.add(
        "GET", EVENTS, Reply(500), Reply(200, "<html>", {"Content-Type": "text/html"}), Reply(502)
    )
    script.add("GET", STATUS, doc({"id": JOB, "status": "running", "progress": 0.3}), doc(DONE))
    final, updates, modes = follow(base, [])
    assert final == DONE and modes == ["polling"]
    assert [u.status for u in updates] == ["running", "succeeded"]


def test_a_finished_progress_event_fetches_the_status_document(
    server: tuple[Script, str],
) -> None:
    script, base = server
    script.add("GET", EVENTS, sse(("9", "progress", {"status": "succeeded", "progress": 1})))
    script.add("GET", STATUS, doc(DONE))
    final, _, _ = follow(base, [])
    assert final == DONE


def test_a_deleted_job_ends_the_following(server: tuple[Script, str]) -> None:
    script, base = server
    script.add("GET", EVENTS, sse((None, "deleted", {"status": "deleted"})))
    with pytest.raises(JobGone):
        follow(base, [])
    script.add("GET", EVENTS, doc({"error": {"code": "job_not_found", "message": "No."}}, 404))
    with pytest.raises(JobGone):
        follow(base, [])


def test_retry_after_is_honoured_on_429_and_503(server: tuple[Script, str]) -> None:
    script, base = server
    busy = {"error": {"code": "too_many_uploads", "message": "Busy."}}
    script.add(
        "POST",
        "/v1/jobs",
        Reply(429, json.dumps(busy), {"Retry-After": "7"}),
        Reply(503, json.dumps(busy), {"Retry-After": "2"}),
        doc({"id": JOB, "token": "t"}, 202),
    )
    waits: list[float] = []
    api = Api(base, sleep=waits.append)
    assert api.upload(REPO / "pyproject.toml", {"scale": "2"}) == {"id": JOB, "token": "t"}
    posts = [r for r in script.requests() if r[0] == "POST"]
    assert waits == [7.0, 2.0] and len(posts) == 3
    assert len({p[2]["Idempotency-Key"] for p in posts}) == 1  # one key for every try
    # A refusal that is not temporary is raised at once, with the API's words.
    bad = {"error": {"code": "unsupported_format", "message": "Not an image."}}
    script.add("POST", "/v1/jobs", doc(bad, 415))
    with pytest.raises(ServiceError, match="Not an image") as refused:
        api.upload(REPO / "pyproject.toml", {})
    assert refused.value.code == "unsupported_format" and waits == [7.0, 2.0]
    api.close()


def test_the_client_imports_nothing_of_the_server() -> None:
    code = (
        "import sys, gateway.client.__main__\n"
        "mods = [m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'starlette', 'pydantic', 'shared', 'worker', 'dramatiq', 'torch')"
        " or (m.startswith('gateway.') and not m.startswith('gateway.client'))]\n"
        "print(sorted(mods))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
