"""A job's progress as Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from gateway.schemas import JobView
from gateway.services import Services
from shared import lifecycle
from shared.errors import StorageUnavailable
from shared.manifest import JobManifest
from shared.states import JobStatus

#: How long one stream lasts at most; the client reconnects if the job is still running.
STREAM_SECONDS = 600
#: A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_SECONDS = 15.0


async def status_stream(
    services: Services, manifest: JobManifest, request: Request
) -> AsyncIterator[bytes]:
    """``status`` events whenever the job's status document changes, until it finishes."""
    current: JobManifest | None = manifest
    last: str | None = None
    deadline = time.monotonic() + STREAM_SECONDS
    quiet_since = time.monotonic()
    while current is not None and time.monotonic() < deadline:
        body = JobView.of(current).model_dump_json(exclude_none=True)
        if body != last:
            yield f"event: status\ndata: {body}\n\n".encode()
            last, quiet_since = body, time.monotonic()
        elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            yield b": keep-alive\n\n"
            quiet_since = time.monotonic()
        if current.status.finished or await request.is_disconnected():
            return
        await asyncio.sleep(0.5)
        try:
            tracked = await run_in_threadpool(lifecycle.read, services.store, manifest.id)
        except StorageUnavailable:
            yield b": storage unavailable, retrying\n\n"
            continue
        deleted = tracked is None or tracked.status is JobStatus.DELETED
        current = None if deleted or tracked is None else tracked.manifest
    if current is None:
        yield f'event: deleted\ndata: {json.dumps({"status": "deleted"})}\n\n'.encode()
