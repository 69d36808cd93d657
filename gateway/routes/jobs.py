"""``/v1/jobs``: create a job, read its status and result, follow its progress, delete it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from gateway import metrics
from gateway.client_info import client_address, minimise
from gateway.errors import ApiError, not_found
from gateway.images import check_output_size, inspect_image
from gateway.options import parse_options
from gateway.services import Services, ServicesDep
from gateway.tokens import new_token
from gateway.upload import read_multipart
from shared import ids, keys
from shared.analytics import opted_out
from shared.broker import enqueue_job
from shared.crypto import DecryptionFailed, new_data_key, seal, unseal
from shared.deletion import delete_job_now
from shared.errors import BrokerUnavailable, ObjectNotFound, StorageUnavailable
from shared.manifest import (
    ImageInfo,
    JobManifest,
    JobStatus,
    hash_token,
    load_manifest,
    save_manifest,
    token_matches,
)
from shared.retrying import call_with_retries

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
UPLOAD_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "model": {"type": "string", "description": "a model name or auto"},
                        "scale": {"type": "integer", "minimum": 1},
                        "output_format": {"type": "string", "enum": ["png", "jpeg", "webp"]},
                        "face_enhance": {"type": "boolean"},
                        "quality": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                }
            }
        },
    }
}


def unavailable(services: Services, dependency: str) -> ApiError:
    """503 with Retry-After: storage or broker is down, the client should try again."""
    metrics.DEPENDENCY_UNAVAILABLE.labels(dependency).inc()
    return ApiError(
        503,
        f"{dependency}_unavailable",
        f"The service cannot reach its {dependency} right now; please retry shortly.",
        {"Retry-After": str(services.settings.retry_after_seconds)},
    )


def bearer_token(request: Request) -> str | None:
    """Return the token of an ``Authorization: Bearer`` header."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def links(job_id: str) -> dict[str, str]:
    """Where the client finds the job's status, events and result."""
    base = f"/v1/jobs/{job_id}"
    return {"self": base, "result": f"{base}/result", "events": f"{base}/events"}


async def authorised_manifest(request: Request, services: Services, job_id: str) -> JobManifest:
    """Return the job's manifest if the bearer token matches, else the one 404 for all cases."""
    token = bearer_token(request)
    if token is None or ids.created_at(job_id) is None:
        raise not_found()
    structlog.contextvars.bind_contextvars(job_id=job_id)
    try:
        manifest = await run_in_threadpool(load_manifest, services.store, job_id)
    except StorageUnavailable:
        raise unavailable(services, "storage") from None
    if manifest is None or not token_matches(manifest, token):
        raise not_found()
    if manifest.expires_at <= datetime.now(UTC):
        raise not_found()  # past its expiry: gone, even if the janitor has not swept yet
    return manifest


def status_body(manifest: JobManifest) -> dict[str, Any]:
    """The status document of the fixed contract."""
    body: dict[str, Any] = {
        "id": manifest.id,
        "status": manifest.status.value,
        "progress": manifest.progress,
        "created_at": manifest.created_at.isoformat(),
        "expires_at": manifest.expires_at.isoformat(),
        "options": manifest.options.model_dump(),
    }
    if manifest.error is not None:
        body["error"] = manifest.error.model_dump()
    if manifest.result is not None:
        body["result"] = manifest.result.model_dump()
    if manifest.report is not None:
        # Extra key beyond the fixed contract: the model that ran and what was kept,
        # converted or dropped from the upload.
        body["report"] = manifest.report.model_dump()
    return body


@router.post("", status_code=202, openapi_extra=UPLOAD_SCHEMA)
async def create_job(request: Request, services: ServicesDep) -> JSONResponse:
    """Accept an image: validate it, store it with its manifest, enqueue the job; 202."""
    settings = services.settings
    try:
        upload = await read_multipart(
            request.headers.get("content-type"),
            request.headers.get("content-length"),
            request.stream(),
            max_file_bytes=settings.jobs.max_upload_bytes,
        )
        options = parse_options(upload.fields, settings, services.models)
        assert upload.file is not None
        facts = await run_in_threadpool(
            inspect_image, upload.file, max_input_pixels=settings.jobs.max_input_pixels
        )
        check_output_size(
            facts,
            options.scale,
            options.output_format,
            max_output_pixels=settings.jobs.max_output_pixels,
        )
    except ApiError as exc:
        metrics.UPLOADS_REFUSED.labels(exc.code).inc()
        if not opted_out(dict(request.headers), request.cookies):
            services.analytics.count("uploads_refused", code=exc.code)
        raise

    now = datetime.now(UTC)
    job_id = ids.new_job_id(int(now.timestamp() * 1000))
    token = new_token(job_id)
    data_key = new_data_key()
    opt_out = opted_out(dict(request.headers), request.cookies)
    manifest = JobManifest(
        id=job_id,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.jobs.expiry_seconds),
        updated_at=now,
        options=options,
        token_sha256=hash_token(token),
        input=ImageInfo(
            width=facts.width, height=facts.height, format=facts.format, bytes=len(upload.file)
        ),
        data_key=services.keyring.wrap(data_key, job_id=job_id),
        client=minimise(
            client_address(request, settings),
            request.headers.get("user-agent"),
            request.headers.get("referer"),
            now,
        ),
        analytics_opt_out=opt_out,
    )
    structlog.contextvars.bind_contextvars(job_id=job_id)
    # Only ciphertext leaves this process; the plaintext lives in memory until the reply.
    data = seal(data_key, upload.file, job_id=job_id, name=keys.INPUT)
    del upload

    def store_and_enqueue() -> None:
        call_with_retries(lambda: services.store.put(keys.job_key(job_id, keys.INPUT), data))
        call_with_retries(lambda: save_manifest(services.store, manifest))
        call_with_retries(lambda: enqueue_job(services.broker, settings.broker.queue, job_id))

    try:
        await run_in_threadpool(store_and_enqueue)
    except (StorageUnavailable, BrokerUnavailable) as exc:
        dependency = "broker" if isinstance(exc, BrokerUnavailable) else "storage"
        log.warning("job_not_accepted", dependency=dependency, error=type(exc).__name__)
        # Leave nothing behind that was not accepted (the janitor would catch it at expiry).
        with contextlib.suppress(StorageUnavailable):
            await run_in_threadpool(
                services.store.delete_many,
                [keys.job_key(job_id, keys.INPUT), keys.job_key(job_id, keys.MANIFEST)],
            )
        raise unavailable(services, dependency) from None

    metrics.JOBS_ACCEPTED.labels(options.model, str(options.scale)).inc()
    if not opt_out:
        services.analytics.count("uploads_accepted", model=options.model, scale=str(options.scale))
    log.info(
        "job_accepted",
        model=options.model,
        scale=options.scale,
        input_format=facts.format,
        input_pixels=facts.width * facts.height,
        input_bytes=len(data),
        client_network=manifest.client.network if manifest.client else None,
    )
    return JSONResponse(
        {
            "id": job_id,
            "token": token,
            "status": JobStatus.QUEUED.value,
            "expires_at": manifest.expires_at.isoformat(),
            "links": links(job_id),
        },
        status_code=202,
        headers={"Location": f"/v1/jobs/{job_id}", "Cache-Control": "no-store"},
    )


@router.get("/{job_id}")
async def get_job(job_id: str, request: Request, services: ServicesDep) -> JSONResponse:
    """The job's status, progress and, once done, the result's facts."""
    manifest = await authorised_manifest(request, services, job_id)
    return JSONResponse(status_body(manifest), headers={"Cache-Control": "no-store"})


@router.get("/{job_id}/result")
async def get_result(job_id: str, request: Request, services: ServicesDep) -> Response:
    """The result image's bytes, to the token holder only, never cached."""
    manifest = await authorised_manifest(request, services, job_id)
    if manifest.status is not JobStatus.SUCCEEDED or manifest.result is None:
        raise ApiError(
            409, "result_not_ready", f"The job is {manifest.status.value}; no result to download."
        )
    try:
        sealed = await run_in_threadpool(services.store.get, keys.job_key(job_id, keys.RESULT))
    except StorageUnavailable:
        raise unavailable(services, "storage") from None
    except ObjectNotFound:
        raise not_found() from None
    try:
        data_key = services.keyring.unwrap(manifest.data_key, job_id=job_id)
        data = unseal(data_key, sealed, job_id=job_id, name=keys.RESULT)
    except DecryptionFailed:
        log.error("result_undecryptable")  # a key configuration problem, never the client's
        raise ApiError(
            500, "result_unreadable", "The result cannot be decrypted; please contact the operator."
        ) from None
    fmt = manifest.result.format
    filename = f"{job_id}.{'jpg' if fmt == 'jpeg' else fmt}"
    return Response(
        data,
        media_type=MEDIA_TYPES.get(fmt, "application/octet-stream"),
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/{job_id}/events")
async def job_events(job_id: str, request: Request, services: ServicesDep) -> StreamingResponse:
    """Progress as Server-Sent Events until the job finishes (or 10 minutes pass)."""
    manifest = await authorised_manifest(request, services, job_id)

    async def stream() -> AsyncIterator[bytes]:
        current: JobManifest | None = manifest
        last: str | None = None
        deadline = time.monotonic() + 600
        while current is not None and time.monotonic() < deadline:
            body = json.dumps(status_body(current))
            if body != last:
                yield f"event: status\ndata: {body}\n\n".encode()
                last = body
            if current.status.finished or await request.is_disconnected():
                return
            await asyncio.sleep(0.5)
            try:
                current = await run_in_threadpool(load_manifest, services.store, job_id)
            except StorageUnavailable:
                yield b": storage unavailable, retrying\n\n"
        if current is None:
            yield b'event: deleted\ndata: {"status": "deleted"}\n\n'

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


@router.delete("/{job_id}")
async def delete_job(job_id: str, request: Request, services: ServicesDep) -> JSONResponse:
    """Delete the job's input, result and manifest now; answer with a deletion receipt."""
    await authorised_manifest(request, services, job_id)
    try:
        record = await run_in_threadpool(
            delete_job_now,
            services.store,
            services.audit_store,
            job_id,
            reason="user_request",
            service="gateway",
        )
    except StorageUnavailable:
        raise unavailable(services, "storage") from None
    metrics.JOBS_DELETED_BY_USER.inc()
    log.info("job_deleted", reason="user_request", objects=len(record.objects))
    return JSONResponse(
        {
            "id": job_id,
            "status": "deleted",
            "deleted_at": record.time.isoformat(),
            "objects_deleted": [o.model_dump() for o in record.objects],
            "audit_record_sha256": record.digest(),
        },
        headers={"Cache-Control": "no-store"},
    )
