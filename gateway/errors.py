"""Refusals in the fixed shape ``{"error": {"code": ..., "message": ...}}``.

:class:`ApiError` is a plain exception (the use cases raise it without knowing FastAPI);
``gateway.handlers`` renders it.
"""

from __future__ import annotations


class ApiError(Exception):
    """Raised to answer with a JSON error of the fixed contract."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def not_found() -> ApiError:
    """The one answer for a missing job, a wrong token, a missing token and a deleted job."""
    return ApiError(404, "job_not_found", "No job with this id exists for this token.")


def unavailable(dependency: str, retry_after_seconds: int) -> ApiError:
    """503 with Retry-After: storage or broker is down, the client should try again."""
    return ApiError(
        503,
        f"{dependency}_unavailable",
        f"The service cannot reach its {dependency} right now; please retry shortly.",
        {"Retry-After": str(retry_after_seconds)},
    )
