"""``/v1/privacy/export``: everything held about the caller's jobs (access and portability)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gateway.admission import AdmissionUnavailable
from gateway.deps import BearerToken, Client, no_store
from gateway.errors import ApiError, unavailable
from gateway.schemas import error_responses
from gateway.services import ServicesDep
from gateway.tokens import job_id_of_token
from shared import lifecycle
from shared.errors import ManifestInvalid, StorageUnavailable
from shared.manifest import report_tampering, token_matches
from shared.states import JobStatus

router = APIRouter(prefix="/v1/privacy", tags=["privacy"], dependencies=[Depends(no_store)])
#: Tokens per export request: each costs a storage read, so a request of made-up tokens is
#: bounded; a person with more jobs asks in several requests (exports are rate-limited).
MAX_TOKENS = 20


def presented_tokens(
    bearer: BearerToken,
    x_job_tokens: Annotated[
        str | None, Header(description="More job tokens, comma-separated.")
    ] = None,
) -> list[str]:
    """Tokens from ``Authorization: Bearer`` and/or ``X-Job-Tokens`` (comma-separated)."""
    tokens = [bearer] if bearer else []
    tokens += [t.strip() for t in (x_job_tokens or "").split(",") if t.strip()]
    return list(dict.fromkeys(tokens))


@router.get("/export", responses=error_responses(401, 422, 429, 503))
async def export(
    tokens: Annotated[list[str], Depends(presented_tokens)], client: Client, services: ServicesDep
) -> JSONResponse:
    """Everything stored about the jobs whose tokens are presented, as JSON.

    What is not here is not held: no image is ever inspected, and deleted jobs leave only an
    audit record (job id, object sizes, time, reason) that names no person.
    """
    if not tokens:
        raise ApiError(
            401,
            "token_required",
            "Present your job tokens: 'Authorization: Bearer <token>' or "
            "'X-Job-Tokens: <token>, <token>'.",
        )
    if len(tokens) > MAX_TOKENS:
        raise ApiError(422, "too_many_tokens", f"Present at most {MAX_TOKENS} tokens at once.")
    try:
        services.admission.check_export_rate(client.info.network)
    except AdmissionUnavailable:
        raise unavailable("admission", services.settings.retry_after_seconds) from None
    jobs: list[dict[str, Any]] = []
    unknown = 0
    now = datetime.now(UTC)
    for token in tokens:
        job_id = job_id_of_token(token)
        try:
            tracked = (
                await run_in_threadpool(lifecycle.read, services.store, job_id) if job_id else None
            )
        except StorageUnavailable:
            raise unavailable("storage", services.settings.retry_after_seconds) from None
        except ManifestInvalid:
            tracked = None
        manifest = tracked.manifest if tracked is not None else None
        if (
            manifest is None
            or manifest.status is JobStatus.DELETED
            or not token_matches(manifest, token)
            or manifest.expires_at <= now
        ):
            unknown += 1
            continue
        if not manifest.seal_holds(services.keyring):
            report_tampering(manifest.id, "gateway")
            unknown += 1
            continue
        record = manifest.model_dump(mode="json", exclude={"token_sha256", "data_key", "deletion"})
        record["links"] = {
            "status": f"/v1/jobs/{manifest.id}",
            "result": f"/v1/jobs/{manifest.id}/result",
        }
        jobs.append(record)
    return JSONResponse(
        {
            "generated_at": now.isoformat(),
            "jobs": jobs,
            "tokens_not_matching_a_job": unknown,
            "note": "Job tokens are stored only as SHA-256 hashes; data keys are not exported. "
            "Images are downloadable from each job's result link until the job expires.",
        },
        headers={"Cache-Control": "no-store"},
    )
