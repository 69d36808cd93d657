"""``/v1/privacy/export``: everything held about the caller's jobs (access and portability)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gateway.errors import ApiError
from gateway.services import ServicesDep
from gateway.tokens import job_id_of_token
from shared.errors import StorageUnavailable
from shared.manifest import load_manifest, token_matches

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])
MAX_TOKENS = 100


def presented_tokens(request: Request) -> list[str]:
    """Tokens from ``Authorization: Bearer`` and/or ``X-Job-Tokens`` (comma-separated)."""
    tokens: list[str] = []
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        tokens.append(value.strip())
    tokens += [t.strip() for t in request.headers.get("x-job-tokens", "").split(",") if t.strip()]
    return list(dict.fromkeys(tokens))


@router.get("/export")
async def export(request: Request, services: ServicesDep) -> JSONResponse:
    """Everything stored about the jobs whose tokens are presented, as JSON.

    What is not here is not held: no image is ever inspected, and deleted jobs leave only an
    audit record (job id, object sizes, time, reason) that names no person.
    """
    tokens = presented_tokens(request)
    if not tokens:
        raise ApiError(
            401,
            "token_required",
            "Present your job tokens: 'Authorization: Bearer <token>' or "
            "'X-Job-Tokens: <token>, <token>'.",
        )
    if len(tokens) > MAX_TOKENS:
        raise ApiError(422, "too_many_tokens", f"Present at most {MAX_TOKENS} tokens at once.")
    jobs: list[dict[str, Any]] = []
    unknown = 0
    now = datetime.now(UTC)
    for token in tokens:
        job_id = job_id_of_token(token)
        try:
            manifest = (
                await run_in_threadpool(load_manifest, services.store, job_id) if job_id else None
            )
        except StorageUnavailable:
            raise ApiError(
                503,
                "storage_unavailable",
                "The service cannot reach its storage right now; please retry shortly.",
                {"Retry-After": str(services.settings.retry_after_seconds)},
            ) from None
        if manifest is None or not token_matches(manifest, token) or manifest.expires_at <= now:
            unknown += 1
            continue
        record = manifest.model_dump(mode="json", exclude={"token_sha256", "data_key"})
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
