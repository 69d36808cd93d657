"""Rendering every error in the contract's shape: ours, Starlette's and FastAPI's."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import metrics
from gateway.errors import ApiError
from shared import ops_metrics


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Return the contract's JSON error body (and count it, if it is a refusal)."""
    ops_metrics.count_refusal(code, status)
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


async def handle_api_error(_: Request, exc: Exception) -> JSONResponse:
    """Render ApiError (and count a dependency outage)."""
    assert isinstance(exc, ApiError)
    if exc.status == 503 and exc.code.endswith("_unavailable"):
        metrics.DEPENDENCY_UNAVAILABLE.labels(exc.code.removesuffix("_unavailable")).inc()
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def handle_http_exception(_: Request, exc: Exception) -> JSONResponse:
    """Render Starlette's own errors (404 route, 405 method) in the contract's shape."""
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))


async def handle_validation_error(_: Request, exc: Exception) -> JSONResponse:
    """Render FastAPI's request validation errors as 422 invalid_request."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return error_response(
        422, "invalid_request", f"Invalid request: {where} {first.get('msg', '')}"
    )
