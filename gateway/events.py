"""A job's progress as Server-Sent Events."""

from __future__ import annotations

import asyncio
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
from shared.inflight import network_key
from shared.manifest import JobManifest
from shared.states import JobStatus

#: How long one stream lasts at most; the client reconnects if the job is still running.
STREAM_SECONDS = 600
#: A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_SECONDS = 15.0
#: How often the job's manifest is read for a change (one storage GET per stream).
POLL_SECONDS = 1.0


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


async def status_stream(
    services: Services, manifest: JobManifest, request: Request, release: Callable[[], None]
) -> AsyncIterator[bytes]:
    """``status`` events whenever the job's status document changes, until it finishes."""
    try:
        async for event in _status_events(services, manifest, request):
            yield event
    finally:
        release()


async def _status_events(
    services: Services, manifest: JobManifest, request: Request
) -> AsyncIterator[bytes]:
    current: JobManifest | None = manifest
    last: str | None = None
    deadline = time.monotonic() + STREAM_SECONDS
    quiet_since = time.monotonic()
    while current is not None and time.monotonic() < deadline:
        body = JobView.of(current).model_dump_json(exclude_unset=True)
        if body != last:
            yield f"event: status\ndata: {body}\n\n".encode()
            last, quiet_since = body, time.monotonic()
        elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            yield b": keep-alive\n\n"
            quiet_since = time.monotonic()
        if current.status.finished or await request.is_disconnected():
            return
        await asyncio.sleep(POLL_SECONDS)
        try:
            tracked = await run_in_threadpool(lifecycle.read, services.store, manifest.id)
        except StorageUnavailable:
            yield b": storage unavailable, retrying\n\n"
            continue
        deleted = tracked is None or tracked.status is JobStatus.DELETED
        current = None if deleted or tracked is None else tracked.manifest
    if current is None:
        yield f'event: deleted\ndata: {json.dumps({"status": "deleted"})}\n\n'.encode()
