"""``/v1/jobs``: create a job, read its status and result, follow its progress, delete it.

Thin adapters: the use cases are :func:`gateway.submit.submit_job`,
:func:`shared.deletion.delete_job` and :func:`gateway.results.read_result`.
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from gateway import metrics
from gateway.deps import AuthorisedJob, Client, SameSiteOnly, UploadForm, no_store
from gateway.errors import not_found, unavailable
from gateway.events import open_stream_slot, progress_stream
from gateway.results import open_result
from gateway.schemas import DeletionReceipt, JobAccepted, JobView, error_responses
from gateway.services import ServicesDep
from shared.deletion import delete_job
from shared.errors import StorageUnavailable
from shared.formats import OUTPUT_FORMATS

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(no_store)])

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
                        "output_format": {"type": "string", "enum": list(OUTPUT_FORMATS)},
                        "face_enhance": {"type": "boolean"},
                        "face_fidelity": {
                            "type": "number",
                            "minimum": 0,
                            "maximum": 1,
                            "description": "0: the restored face; 1: the upscaled one",
                        },
                        "quality": {"type": "integer", "minimum": 1, "maximum": 100},
                        "webhook_url": {
                            "type": "string",
                            "format": "uri",
                            "description": "https URL that receives a signed POST when the "
                            "job ends (see docs/webhooks.md)",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=202,
    openapi_extra=UPLOAD_SCHEMA,
    dependencies=[SameSiteOnly],
    responses=error_responses(403, 408, 409, 413, 415, 422, 429, 503),
)
async def create_job(
    upload: UploadForm,
    client: Client,
    services: ServicesDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JobAccepted:
    """Accept an image: validate it, store it sealed with its manifest, enqueue the job.

    With ``Idempotency-Key``, the same key and body give the same job, never two.
    """
    job = await run_in_threadpool(
        services.submit,
        file=upload.file,
        fields=upload.fields,
        client=client.info,
        opted_out=client.opted_out,
        idempotency_key=idempotency_key,
    )
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobAccepted.of(job.id, job.token, job.expires_at)


@router.get("/{job_id}", responses=error_responses(404, 503), response_model_exclude_unset=True)
async def get_job(manifest: AuthorisedJob) -> JobView:
    """The job's status, progress and, once done, the result's facts and the report."""
    return JobView.of(manifest)


@router.get(
    "/{job_id}/result",
    response_class=StreamingResponse,
    responses={
        200: {"content": {fmt.media_type: {} for fmt in OUTPUT_FORMATS.values()}},
        **error_responses(404, 409, 503),
    },
)
async def get_result(manifest: AuthorisedJob, services: ServicesDep) -> StreamingResponse:
    """The result image, to the token holder only, never cached; decrypted as it streams."""
    result = await run_in_threadpool(open_result, services, manifest)
    return StreamingResponse(result.chunks, media_type=result.media_type, headers=result.headers)


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **error_responses(404, 429, 503)},
)
async def job_events(
    manifest: AuthorisedJob,
    client: Client,
    request: Request,
    services: ServicesDep,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Progress as Server-Sent Events until the job ends; resumes after ``Last-Event-ID``."""
    release = open_stream_slot(services, manifest.id, client.info.network)
    return StreamingResponse(
        progress_stream(services, manifest, request, release, last_event_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store"},
        background=BackgroundTask(release),
    )


@router.delete("/{job_id}", responses=error_responses(404, 503))
async def delete(manifest: AuthorisedJob, services: ServicesDep) -> DeletionReceipt:
    """Delete the job's input, result and manifest now; answer with a deletion receipt."""
    try:
        record = await run_in_threadpool(
            delete_job,
            services.store,
            services.audit_store,
            manifest.id,
            reason="user_request",
            service="gateway",
        )
    except StorageUnavailable:
        raise unavailable("storage", services.settings.retry_after_seconds) from None
    if record is None:
        raise not_found()  # deleted meanwhile by another request or the janitor
    metrics.JOBS_DELETED_BY_USER.inc()
    log.info("job_deleted", reason="user_request", objects=len(record.objects))
    services.publish_deleted(manifest.id)  # open streams of the job end now
    return DeletionReceipt.of(record)
