"""FastAPI dependencies, as ``Annotated`` aliases the routes declare: the bearer token, the
authorised job, the client's minimised information, the streamed upload, and the no-store
header every job route answers with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

import structlog
from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from gateway.admission import AdmissionUnavailable
from gateway.client_info import client_address, minimise, opted_out
from gateway.errors import ApiError, not_found, unavailable
from gateway.services import ServicesDep
from gateway.upload import Upload, read_multipart
from shared import ids, lifecycle
from shared.errors import ManifestInvalid, StorageUnavailable
from shared.inflight import network_key
from shared.manifest import ClientInfo, JobManifest, report_tampering, token_matches
from shared.states import JobStatus

#: ``Authorization: Bearer <token>``; absent or malformed gives None (never a 403: a missing
#: token is the same 404 as a wrong one).
_bearer = HTTPBearer(auto_error=False, description="The job token returned by POST /v1/jobs.")


def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    """The presented bearer token, or None."""
    if credentials is None or not credentials.credentials.strip():
        return None
    return credentials.credentials.strip()


BearerToken = Annotated[str | None, Depends(bearer_token)]


async def authorised_job(job_id: str, token: BearerToken, services: ServicesDep) -> JobManifest:
    """The job's manifest if the token matches; one 404 for every other case.

    Missing, wrong or no token, a malformed id, a deleted job (its tombstone) and a job past
    its expiry (even before the janitor swept it) all answer the same 404.
    """
    if token is None or ids.created_at(job_id) is None:
        raise not_found()
    try:
        tracked = await run_in_threadpool(lifecycle.read, services.store, job_id)
    except StorageUnavailable:
        raise unavailable("storage", services.settings.retry_after_seconds) from None
    except ManifestInvalid:
        raise not_found() from None
    if tracked is None or tracked.status is JobStatus.DELETED:
        raise not_found()
    manifest = tracked.manifest
    if not manifest.seal_holds(services.keyring):
        report_tampering(job_id, "gateway")
        raise not_found()
    if not token_matches(manifest, token) or manifest.expires_at <= datetime.now(UTC):
        raise not_found()
    structlog.contextvars.bind_contextvars(job_id=job_id)
    return manifest


AuthorisedJob = Annotated[JobManifest, Depends(authorised_job)]


def no_store(response: Response) -> None:
    """Nothing about a job may be cached by a browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"


@dataclass(frozen=True)
class ClientFacts:
    """What the privacy policy lets the gateway keep about a request, and its consent."""

    info: ClientInfo
    opted_out: bool


def client_facts(request: Request, services: ServicesDep) -> ClientFacts:
    """The request's minimised technical information and its analytics opt-out."""
    return ClientFacts(
        info=minimise(
            client_address(request, services.settings),
            request.headers.get("user-agent"),
            request.headers.get("referer"),
        ),
        opted_out=opted_out(request.headers, request.cookies),
    )


Client = Annotated[ClientFacts, Depends(client_facts)]


@dataclass(frozen=True)
class UploadedForm:
    """A parsed upload form: the file's bytes and the text fields."""

    file: bytes
    fields: dict[str, str]


async def upload_slot(client: Client, services: ServicesDep) -> AsyncIterator[None]:
    """One of this process's places for an upload held in memory, for the whole request.

    Taken before a byte of the body is read: 429 when the client's network holds its share
    already (stalled uploads of one network cannot lock others out), 503 when the process
    holds all it can.
    """
    network = network_key(client.info.network)
    release = services.uploads.acquire(network=network)
    if release is None:
        retry = {"Retry-After": str(services.settings.retry_after_seconds)}
        share = services.uploads.per_key["network"]
        if services.uploads.held_by(network=network) >= share:
            message = f"Your network is already sending {share} uploads; wait for one to end."
            raise ApiError(429, "too_many_uploads", message, retry)
        message = "The service is receiving as many uploads as it can hold; retry shortly."
        raise ApiError(503, "too_many_uploads", message, retry)
    try:
        yield
    finally:
        release()


async def uploaded_form(
    request: Request,
    client: Client,
    services: ServicesDep,
    _: Annotated[None, Depends(upload_slot)],
) -> UploadedForm:
    """The multipart body, read into memory as it streams (never spooled to disk).

    The network's upload rate is checked first (429 before a byte of the body is read); a
    refusal here (429, 413, 415, 422) is counted like the use case's own refusals.
    """
    try:
        services.admission.check_upload_rate(client.info.network)
        upload: Upload = await read_multipart(
            request.headers.get("content-type"),
            request.headers.get("content-length"),
            request.stream(),
            max_file_bytes=services.settings.jobs.max_upload_bytes,
            idle_timeout=services.settings.upload_idle_timeout_seconds,
            total_timeout=services.settings.upload_timeout_seconds,
        )
    except ApiError as exc:
        services.refused(exc, opted_out=client.opted_out)
        raise
    except AdmissionUnavailable:
        raise unavailable("admission", services.settings.retry_after_seconds) from None
    assert upload.file is not None  # read_multipart refuses a form without one
    return UploadedForm(upload.file, upload.fields)


UploadForm = Annotated[UploadedForm, Depends(uploaded_form)]


def same_site_only(request: Request, services: ServicesDep) -> None:
    """Refuse a request that a page of another site made a visitor's browser send.

    ``POST /v1/jobs`` is a CORS-simple request: without this, any web page could make its
    visitors upload from their own addresses (and spend their networks' budgets). Browsers
    mark requests with ``Sec-Fetch-Site`` and cross-origin ones with ``Origin``; API clients
    send neither and pass. The page's own origin is recognised by its host (TLS may end at the
    ingress, so the scheme is not compared); other front ends are listed in
    ``GATEWAY_ALLOWED_ORIGINS``.
    """
    origin = request.headers.get("origin")
    allowed = origin is not None and origin in services.settings.allowed_origins
    site = (request.headers.get("sec-fetch-site") or "").lower()
    if site in ("cross-site", "same-site") and not allowed:
        raise _cross_site()
    if origin is None or allowed:
        return
    try:
        host = urlsplit(origin).netloc
    except ValueError:
        host = ""
    if origin == "null" or not host or host != request.headers.get("host"):
        raise _cross_site()


def _cross_site() -> ApiError:
    return ApiError(
        403,
        "cross_site_request",
        "This service accepts uploads from its own page and from API clients, "
        "not from pages of other sites.",
    )


SameSiteOnly = Depends(same_site_only)
