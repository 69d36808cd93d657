"""``/v1/analytics``: anonymous aggregate usage counts for operators (token-protected).

There is no endpoint or tool that shows an image: this one serves sums of counters.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gateway.deps import BearerToken, no_store
from gateway.errors import ApiError
from gateway.services import ServicesDep
from shared.analytics import aggregate

router = APIRouter(prefix="/v1/analytics", tags=["operators"], dependencies=[Depends(no_store)])


@router.get("")
async def analytics(
    token: BearerToken,
    services: ServicesDep,
    hours: int = Query(default=24, ge=1, le=24 * 90),
) -> JSONResponse:
    """Aggregate counts over the last ``hours``: uploads, images processed, times, errors."""
    expected = services.settings.analytics_token
    if (
        expected is None
        or token is None
        or not hmac.compare_digest(token.encode(), expected.get_secret_value().encode())
    ):
        # The same answer whether the endpoint is off or the token is wrong.
        raise ApiError(404, "not_found", "Not Found")
    now = datetime.now(UTC)
    services.analytics.flush(now)  # include this process's latest counts
    totals = await run_in_threadpool(
        aggregate, services.audit_store, since=now - timedelta(hours=hours), until=now
    )
    return JSONResponse(
        {
            "from": (now - timedelta(hours=hours)).isoformat(),
            "to": now.isoformat(),
            "counts": totals,
        },
        headers={"Cache-Control": "no-store"},
    )
