"""The bodies of the HTTP API as pydantic models, so the OpenAPI schema shows the real ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.audit import AuditRecord, DeletedObject
from shared.manifest import ImageInfo, JobError, JobManifest, JobOptions, JobReport


class ErrorDetail(BaseModel):
    """What went wrong, for programs (``code``) and people (``message``)."""

    code: str = Field(examples=["unsupported_format"])
    message: str = Field(examples=["The file is not an image in a supported format."])


class ErrorBody(BaseModel):
    """Every error answer of the API."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the listed error statuses."""
    meaning = {
        401: "No token presented.",
        403: "Sent by a page of another site.",
        408: "The upload stalled and was closed.",
        404: "No such job for this token (also: wrong token, deleted, expired).",
        409: "The job has no result yet; or a request with this Idempotency-Key is running.",
        413: "The upload or the image is too large.",
        415: "Not a supported image format, or not multipart/form-data.",
        422: "Undecodable image or a bad option.",
        429: "Rate-limited: see Retry-After.",
        503: "Storage or broker unavailable: see Retry-After.",
    }
    return {s: {"model": ErrorBody, "description": meaning[s]} for s in statuses}


class JobLinks(BaseModel):
    """Where the client finds the job."""

    self: str
    result: str
    events: str


class JobAccepted(BaseModel):
    """The answer to an accepted upload: keep the token, it is shown once."""

    id: str
    token: str
    status: Literal["queued"] = "queued"
    expires_at: datetime
    links: JobLinks

    @classmethod
    def of(cls, job_id: str, token: str, expires_at: datetime) -> JobAccepted:
        """The body for a new job."""
        base = f"/v1/jobs/{job_id}"
        links = JobLinks(self=base, result=f"{base}/result", events=f"{base}/events")
        return cls(id=job_id, token=token, expires_at=expires_at, links=links)


class JobView(BaseModel):
    """A job's status document (the fixed contract, plus ``options`` and ``report``)."""

    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    progress: float
    created_at: datetime
    expires_at: datetime
    options: JobOptions
    error: JobError | None = None
    result: ImageInfo | None = None
    #: The model that ran and what was kept, converted or dropped from the upload.
    report: JobReport | None = None

    @classmethod
    def of(cls, manifest: JobManifest) -> JobView:
        """The client's view of a (live) job's manifest.

        ``error``, ``result`` and ``report`` are left unset until they exist, so that serialising
        with ``exclude_unset`` omits them (the contract's ``"error"?``, ``"result"?``) while
        None values inside them stay.
        """
        body = manifest.model_dump(
            include={"id", "status", "progress", "created_at", "expires_at", "options"}
        )
        for optional in ("error", "result", "report"):
            value = getattr(manifest, optional)
            if value is not None:
                body[optional] = value.model_dump()
        return cls.model_validate(body)


class DeletionReceipt(BaseModel):
    """Proof of a deletion: what was deleted, when, and the audit record that says so."""

    id: str
    status: Literal["deleted"] = "deleted"
    deleted_at: datetime
    objects_deleted: list[DeletedObject]
    audit_record_sha256: str

    @classmethod
    def of(cls, record: AuditRecord) -> DeletionReceipt:
        """The receipt quoting an audit record."""
        return cls(
            id=record.job_id,
            deleted_at=record.time,
            objects_deleted=record.objects,
            audit_record_sha256=record.digest(),
        )
