"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from gateway.services import ServicesDep
from shared.broker import ping_broker
from shared.errors import BrokerUnavailable, StorageUnavailable

router = APIRouter(tags=["system"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    """Readiness: storage and the broker both answer."""
    checks: dict[str, str] = {}
    try:
        await run_in_threadpool(services.store.ping)
        checks["storage"] = "ok"
    except StorageUnavailable:
        checks["storage"] = "unavailable"
    try:
        await run_in_threadpool(ping_broker, services.broker, services.settings.broker.queue)
        checks["broker"] = "ok"
    except BrokerUnavailable:
        checks["broker"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    # Not a readiness condition: what this gateway offers, for the operator's eyes.
    faces = services.faces
    capabilities = {
        "face_enhance": "available" if faces.available else f"unavailable: {faces.reason}"
    }
    headers = None if ready else {"Retry-After": str(services.settings.retry_after_seconds)}
    return JSONResponse(
        {
            "status": "ready" if ready else "not_ready",
            "checks": checks,
            "capabilities": capabilities,
        },
        status_code=200 if ready else 503,
        headers=headers,
    )


@router.get("/metrics")
async def metrics() -> Response:
    """Prometheus exposition of this process's aggregate counters."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
