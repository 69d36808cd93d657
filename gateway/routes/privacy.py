"""``/v1/privacy/export``: everything held about the caller's jobs (access and portability).

A thin adapter over :func:`gateway.export.export_jobs`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gateway.admission import AdmissionUnavailable
from gateway.deps import BearerToken, Client, no_store
from gateway.errors import ApiError, unavailable
from gateway.export import export_jobs
from gateway.schemas import error_responses
from gateway.services import ServicesDep
from shared.errors import StorageUnavailable

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
    audit record (job id, object size classes, time, reason) that names no person.
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
    retry_after = services.settings.retry_after_seconds
    try:
        services.admission.check_export_rate(client.info.network)
        document = await run_in_threadpool(
            export_jobs,
            store=services.store,
            keyring=services.keyring,
            tokens=tokens,
            now=datetime.now(UTC),
        )
    except AdmissionUnavailable:
        raise unavailable("admission", retry_after) from None
    except StorageUnavailable:
        raise unavailable("storage", retry_after) from None
    return JSONResponse(document, headers={"Cache-Control": "no-store"})
