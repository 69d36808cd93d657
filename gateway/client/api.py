"""The HTTP API of PicUpscaler as seen by a program: httpx only, no part of the server.

Every call that the service may refuse for a while (429 rate-limited, 503 a dependency down)
waits for the ``Retry-After`` it names and tries again, a few times; an upload is retried only
on those answers, which mean "not accepted", so it can never create two jobs. Other errors
raise :class:`ServiceError` with the body's ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

RETRYABLE = (429, 503)
#: Waits longer than this (a Retry-After in hours, say) are cut to it.
MAX_WAIT_SECONDS = 60.0


class ServiceError(Exception):
    """Raised when the service answers with an error (or cannot be reached: status 0)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})" if status else message)
        self.status = status
        self.code = code
        self.message = message


def retry_after_seconds(response: httpx.Response, default: float = 1.0) -> float:
    """The wait a 429/503 asks for (``Retry-After`` in seconds or as an HTTP date), bounded."""
    value = response.headers.get("retry-after", "").strip()
    seconds = default
    if value.isdigit():
        seconds = float(value)
    elif value:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            seconds = default
    return min(max(seconds, 0.0), MAX_WAIT_SECONDS)


def service_error(response: httpx.Response) -> ServiceError:
    """The API's error body as an exception (any body that is not one is summarised)."""
    try:
        detail = response.json()["error"]
        return ServiceError(response.status_code, str(detail["code"]), str(detail["message"]))
    except (ValueError, KeyError, TypeError):
        reason = response.reason_phrase or "error"
        return ServiceError(response.status_code, "http_error", f"The service answered {reason}.")


class Api:
    """The calls of ``/v1/jobs``, over one httpx client."""

    def __init__(
        self,
        base_url: str,
        *,
        attempts: int = 5,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[float, ServiceError], None] | None = None,
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=10.0),
            headers={"User-Agent": "picupscaler-client/1"},
        )
        self.attempts = attempts
        self.sleep = sleep
        self.on_wait = on_wait

    def close(self) -> None:
        """Close the connections."""
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call, repeated after ``Retry-After`` while it answers 429 or 503."""
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                raise ServiceError(0, "unreachable", f"Cannot reach the service: {exc}.") from None
            if response.status_code not in RETRYABLE or attempt == self.attempts:
                break
            wait = retry_after_seconds(response)
            if self.on_wait is not None:
                self.on_wait(wait, service_error(response))
            self.sleep(wait)
        if response.is_error:
            raise service_error(response)
        return response

    def upload(self, image: Path, fields: Mapping[str, str]) -> dict[str, Any]:
        """``POST /v1/jobs``: the accepted job (id, token, expiry, links)."""
        data = image.read_bytes()
        files = {"file": (image.name, data, "application/octet-stream")}
        # One key for every try of this upload: where the service honours Idempotency-Key, a
        # repeated request answers with the same job.
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        body: dict[str, Any] = self.request(
            "POST", "/v1/jobs", files=files, data=dict(fields), headers=headers
        ).json()
        return body

    def status(self, job_id: str, token: str) -> dict[str, Any]:
        """``GET /v1/jobs/{id}``: the status document."""
        doc: dict[str, Any] = self.request("GET", f"/v1/jobs/{job_id}", headers=_auth(token)).json()
        return doc

    def delete(self, job_id: str, token: str) -> dict[str, Any]:
        """``DELETE /v1/jobs/{id}``: the deletion receipt."""
        receipt: dict[str, Any] = self.request(
            "DELETE", f"/v1/jobs/{job_id}", headers=_auth(token)
        ).json()
        return receipt

    def download(self, job_id: str, token: str, out: Path) -> int:
        """``GET /v1/jobs/{id}/result`` into ``out`` (written beside it, then renamed)."""
        partial = out.with_name(f".{out.name}.part")
        for attempt in range(1, self.attempts + 1):
            try:
                with self.http.stream(
                    "GET", f"/v1/jobs/{job_id}/result", headers=_auth(token)
                ) as response:
                    if response.status_code in RETRYABLE and attempt < self.attempts:
                        response.read()
                        self.sleep(retry_after_seconds(response))
                        continue
                    if response.is_error:
                        response.read()
                        raise service_error(response)
                    size = 0
                    with partial.open("wb") as sink:
                        for chunk in response.iter_bytes():
                            sink.write(chunk)
                            size += len(chunk)
                    partial.replace(out)
                    return size
            except httpx.TransportError as exc:
                partial.unlink(missing_ok=True)
                raise ServiceError(0, "unreachable", f"Download failed: {exc}.") from None
        raise ServiceError(503, "unavailable", "The service stayed unavailable.")

    @contextmanager
    def events(self, job_id: str, token: str, last_event_id: str) -> Iterator[httpx.Response]:
        """``GET /v1/jobs/{id}/events`` as an open stream (the caller checks its status)."""
        headers = {**_auth(token), "Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        # Reads wait up to 60 s: the server sends a keep-alive comment every 15 s.
        timeout = httpx.Timeout(60.0, connect=10.0)
        with self.http.stream(
            "GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=timeout
        ) as response:
            yield response


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
