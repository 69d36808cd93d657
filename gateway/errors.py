"""API errors in the fixed shape ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """Raised by a route to answer with a JSON error of the fixed contract."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Return the contract's JSON error body."""
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def not_found() -> ApiError:
    """The one answer for a missing job, a wrong token and a missing token alike."""
    return ApiError(404, "job_not_found", "No job with this id exists for this token.")


async def handle_api_error(_: Request, exc: Exception) -> JSONResponse:
    """Render ApiError."""
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def handle_http_exception(_: Request, exc: Exception) -> JSONResponse:
    """Render Starlette's own errors (404 route, 405 method) in the contract's shape."""
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))


async def handle_validation_error(_: Request, exc: Exception) -> JSONResponse:
    """Render FastAPI's request validation errors as 422 bad_request."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return error_response(
        422, "invalid_request", f"Invalid request: {where} {first.get('msg', '')}"
    )
