"""Following a job: the event stream read with fetch(), its reconnects, and the polling fallback.

The upload, the job and the status documents are the real server's. Where a test needs events
the server does not send yet (``progress`` events with ids, queue positions and tiles; a
``deleted`` event) or a broken stream, Playwright answers ``/events`` in the server's place:
what is under test is the page's reading of the stream.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.browser.conftest import Server
from tests.browser.helpers import choose_and_upscale, small_photo, wait_done

EVENTS = "**/v1/jobs/*/events"


def event_stream(*events: tuple[str | None, str, dict[str, Any]], retry_ms: int = 100) -> str:
    """An event stream's text: a keep-alive comment, a retry time, then (id, type, data)."""
    parts = [": keep-alive\n\n", f"retry: {retry_ms}\n\n"]
    for event_id, kind, data in events:
        head = f"id: {event_id}\n" if event_id is not None else ""
        parts.append(f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n")
    return "".join(parts)


def stages(page: Any) -> list[str]:
    return [p["stage"] for p in page.evaluate("window.__progress") if p["kind"] == "stage"]


def test_progress_events_and_reconnect_with_last_event_id(
    open_page: Callable[..., Any], server: Server, shots: Callable[..., Path], tmp_path: Path
) -> None:
    page = open_page()
    requests: list[dict[str, str]] = []

    def events(route: Any) -> None:
        request = route.request
        requests.append({"url": request.url, **request.headers})
        if len(requests) > 1:
            route.continue_()  # the real stream from here on
            return
        # The first connection gives two progress events, then drops.
        route.fulfill(
            status=200,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"},
            body=event_stream(
                ("41", "progress", {"status": "queued", "queue_position": 2}),
                (
                    "42",
                    "progress",
                    {
                        "status": "running",
                        "progress": 0.5,
                        "stage": "upscaling",
                        "tile": 3,
                        "tiles": 6,
                        "eta_seconds": 12,
                    },
                ),
            ),
        )

    page.route(EVENTS, events)
    choose_and_upscale(page, [small_photo(tmp_path)])
    wait_done(page)
    seen = stages(page)
    assert "Waiting in line, number 2 in line" in seen, seen
    assert "Upscaling · 50 % · part 3 of 6 · about 12 s left" in seen, seen
    assert seen[-1].startswith("Done: 192 × 128 PNG")
    first, second = requests[0], requests[1]
    assert first["authorization"].startswith("Bearer ") and "token" not in first["url"]
    assert "last-event-id" not in first
    assert second["last-event-id"] == "42"
    assert second["authorization"] == first["authorization"]


def test_polling_when_the_stream_fails(
    open_page: Callable[..., Any], server: Server, tmp_path: Path
) -> None:
    page = open_page()
    streams: list[str] = []
    polls: list[str] = []
    page.on(
        "request",
        lambda r: (
            polls.append(r.url)
            if r.method == "GET" and r.url.split("?")[0].rsplit("/", 2)[-2] == "jobs"
            else None
        ),
    )

    def refuse(route: Any) -> None:
        streams.append(route.request.url)
        route.fulfill(
            status=503,
            headers={"Retry-After": "1"},
            json={"error": {"code": "too_many_streams", "message": "Too many open streams."}},
        )

    page.route(EVENTS, refuse)
    choose_and_upscale(page, [small_photo(tmp_path)])
    wait_done(page)
    assert len(streams) == 3  # three tries, then polling GET /v1/jobs/{id}
    assert polls, "no polling after the stream failed"
    assert page.locator(".job .message.error").count() == 0  # nothing the user must act on


def test_deleted_event_closes_the_job(
    open_page: Callable[..., Any], server: Server, tmp_path: Path
) -> None:
    page = open_page()
    page.route(
        EVENTS,
        lambda route: route.fulfill(
            status=200,
            headers={"Content-Type": "text/event-stream"},
            body=event_stream((None, "deleted", {"status": "deleted"})),
        ),
    )
    choose_and_upscale(page, [small_photo(tmp_path)])
    page.wait_for_selector(".job .job-message:not([hidden])")
    message = page.locator(".job .job-message")
    assert "no longer exists" in message.inner_text()
    assert "error" not in (message.get_attribute("class") or "")
    assert not page.locator(".job .delete").is_visible()
    assert page.locator(".job .forget").is_visible()
