"""Following a job to its end: the event stream first, polling when the stream fails.

The stream (``GET /v1/jobs/{id}/events``) sends ``status`` events (the status document),
``progress`` events (stage, progress, tile n of N, time left, queue position) and ``deleted``.
A dropped stream is reopened with ``Last-Event-ID``, after the ``retry:`` time the server
asked for; after a few failures in a row (or an answer that is not an event stream) the client
polls ``GET /v1/jobs/{id}`` instead, as the web page does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.client.api import RETRYABLE, Api, ServiceError, retry_after_seconds
from gateway.client.sse import Event, SseParser

TERMINAL = ("succeeded", "failed")


class JobGone(Exception):
    """Raised when the job no longer exists (deleted, expired, or a wrong token)."""


@dataclass(frozen=True)
class Update:
    """What is known about the job's progress now (None where the service said nothing)."""

    status: str
    progress: float | None = None
    stage: str | None = None
    tile: int | None = None
    tiles: int | None = None
    eta_seconds: float | None = None
    queue_position: int | None = None

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Update:
        """From a status document or a progress event's data."""

        def number(key: str) -> float | None:
            value = doc.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            return float(value)

        def whole(key: str) -> int | None:
            value = doc.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        stage = doc.get("stage")
        return cls(
            status=str(doc.get("status") or "running"),
            progress=number("progress"),
            stage=stage if isinstance(stage, str) else None,
            tile=whole("tile"),
            tiles=whole("tiles"),
            eta_seconds=number("eta_seconds"),
            queue_position=whole("queue_position"),
        )


class Follower:
    """Follows one job; :meth:`run` returns its final status document."""

    def __init__(
        self,
        api: Api,
        job_id: str,
        token: str,
        on_update: Callable[[Update], None],
        *,
        on_mode: Callable[[str], None] | None = None,
        max_stream_failures: int = 3,
        poll_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.job_id = job_id
        self.token = token
        self.on_update = on_update
        self.on_mode = on_mode or (lambda mode: None)
        self.max_stream_failures = max_stream_failures
        self.poll_seconds = poll_seconds
        self.sleep = sleep
        self.last_event_id = ""
        self.retry_seconds = 1.0
        self.final: dict[str, Any] | None = None

    def run(self) -> dict[str, Any]:
        """Follow until the job succeeds or fails; JobGone if it disappears."""
        failures = 0
        while self.final is None and failures < self.max_stream_failures:
            got_events = self._stream_once()
            if self.final is not None:
                break
            failures = 0 if got_events else failures + 1
            self.sleep(self.retry_seconds)
        if self.final is None:
            self.on_mode("polling")
            self._poll()
        assert self.final is not None
        return self.final

    def _stream_once(self) -> bool:
        """One connection of the stream; True when it carried at least one event."""
        got = False
        try:
            with self.api.events(self.job_id, self.token, self.last_event_id) as response:
                if response.status_code == 404:
                    raise JobGone(self.job_id)
                kind = response.headers.get("content-type", "")
                if response.status_code != 200 or not kind.startswith("text/event-stream"):
                    if response.status_code in RETRYABLE:
                        response.read()
                        self.sleep(retry_after_seconds(response))
                    return False
                self.on_mode("stream")
                parser = SseParser()
                for chunk in response.iter_text():
                    for event in parser.feed(chunk):
                        got = True
                        self._handle(event)
                        if self.final is not None:
                            return True
                    self.last_event_id = parser.last_event_id or self.last_event_id
                    if parser.retry_ms is not None:
                        self.retry_seconds = parser.retry_ms / 1000
                for event in parser.end():
                    got = True
                    self._handle(event)
        except httpx.TransportError:
            return got
        return got

    def _handle(self, event: Event) -> None:
        if event.id:
            self.last_event_id = event.id
        if event.type == "deleted":
            raise JobGone(self.job_id)
        try:
            data = json.loads(event.data)
        except ValueError:
            return  # not ours to understand
        if not isinstance(data, dict):
            return
        if event.type == "status":
            self._see_status(data)
        elif event.type == "progress":
            if data.get("status") == "deleted":
                raise JobGone(self.job_id)
            self.on_update(Update.of(data))
            if data.get("status") in TERMINAL:
                # The progress event says "finished" before we hold the result's facts.
                self._see_status(self._status())

    def _see_status(self, doc: dict[str, Any]) -> None:
        self.on_update(Update.of(doc))
        if doc.get("status") in TERMINAL:
            self.final = doc

    def _status(self) -> dict[str, Any]:
        try:
            return self.api.status(self.job_id, self.token)
        except ServiceError as error:
            if error.status == 404:
                raise JobGone(self.job_id) from None
            raise

    def _poll(self) -> None:
        while self.final is None:
            self._see_status(self._status())
            if self.final is None:
                self.sleep(self.poll_seconds)
