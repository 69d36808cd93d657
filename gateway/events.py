"""A job's progress as Server-Sent Events, relayed from the workers' progress events."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from gateway.errors import ApiError
from gateway.schemas import JobView
from gateway.services import Services
from shared import lifecycle
from shared.errors import StorageUnavailable
from shared.events import Subscription
from shared.inflight import network_key
from shared.manifest import JobManifest
from shared.states import JobStatus

#: How long one stream lasts at most; the client reconnects if the job is still running.
STREAM_SECONDS = 600
#: A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_SECONDS = 15.0
#: After this long without an event the manifest is read once (an end no event announced).
RECHECK_SECONDS = 60.0


def open_stream_slot(services: Services, job_id: str, network: str | None) -> Callable[[], None]:
    """Take a place for one more stream of ``job_id`` from ``network`` (429 when full); return
    the function that gives it back (safe to call more than once)."""
    release = services.streams.acquire(job=job_id, network=network_key(network))
    if release is None:
        raise ApiError(
            429,
            "too_many_streams",
            "Too many progress streams are open for this job or from your network; "
            "close one, or poll GET /v1/jobs/{id}.",
            {"Retry-After": str(services.settings.retry_after_seconds)},
        )
    return release


async def progress_stream(
    services: Services,
    manifest: JobManifest,
    request: Request,
    release: Callable[[], None],
    last_event_id: str | None = None,
) -> AsyncIterator[bytes]:
    """The job's progress as it happens, from the workers' events (no storage polling).

    First the job as stored (a ``status`` event), or, when the client resumes with
    ``Last-Event-ID``, the events after it that this gateway kept; then each ``progress``
    event, keep-alive comments when nothing happens, and at the end the final ``status``
    (with the result's facts) or ``deleted``. After a long silence the manifest is read once,
    in case the end happened where no event reached this gateway (a janitor's deletion).
    """
    subscription = services.events.subscribe(manifest.id)  # before reading: miss nothing
    try:
        async for chunk in _progress(services, manifest, request, subscription, last_event_id):
            yield chunk
    finally:
        subscription.close()
        release()


async def _progress(
    services: Services,
    manifest: JobManifest,
    request: Request,
    subscription: Subscription,
    last_event_id: str | None,
) -> AsyncIterator[bytes]:
    after = _sequence(last_event_id)
    resumed = services.events.recent(manifest.id, after) if after is not None else []
    if resumed:
        for past in resumed:
            yield _frame("progress", past.to_json(), past.seq)
            after = past.seq
    else:
        yield _frame("status", JobView.of(manifest).model_dump_json(exclude_unset=True))
        if manifest.status is JobStatus.QUEUED:
            waiting = await run_in_threadpool(_waiting, services)
            body: dict[str, object] = {"status": "queued", "progress": 0.0, "stage": "queued"}
            if waiting is not None:
                body["queue_position"] = waiting  # at most: higher priorities go first
            yield _frame("progress", json.dumps(body))
    if manifest.status.finished or (resumed and resumed[-1].finished):
        return
    deadline = time.monotonic() + STREAM_SECONDS
    quiet = 0.0
    while time.monotonic() < deadline and not await request.is_disconnected():
        event = await subscription.next(KEEPALIVE_SECONDS)
        if event is None:
            yield b": keep-alive\n\n"
            quiet += KEEPALIVE_SECONDS
            if quiet >= RECHECK_SECONDS:
                quiet = 0.0
                ending = await _ending_in_storage(services, manifest.id)
                if ending is not None:
                    yield ending
                    return
            continue
        quiet = 0.0
        if after is not None and event.seq <= after:
            continue
        yield _frame("progress", event.to_json(), event.seq)
        if event.finished:
            ending = await _ending_in_storage(services, manifest.id)
            yield ending or _frame("deleted", json.dumps({"status": "deleted"}))
            return


async def _ending_in_storage(services: Services, job_id: str) -> bytes | None:
    """The final frame if the job has ended (``status`` or ``deleted``), else None."""
    try:
        tracked = await run_in_threadpool(lifecycle.read, services.store, job_id)
    except StorageUnavailable:
        return None
    if tracked is None or tracked.status is JobStatus.DELETED:
        return _frame("deleted", json.dumps({"status": "deleted"}))
    if tracked.status.finished:
        return _frame("status", JobView.of(tracked.manifest).model_dump_json(exclude_unset=True))
    return None


def _waiting(services: Services) -> int | None:
    try:
        return services.admission.backlog()
    except Exception:  # the broker is down: no position, the stream goes on
        return None


def _sequence(last_event_id: str | None) -> int | None:
    try:
        return int(last_event_id) if last_event_id else None
    except ValueError:
        return None


def _frame(event: str, data: str, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()
