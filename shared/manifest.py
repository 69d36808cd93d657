"""The job manifest: the one record of a job, stored beside its images as ``manifest.json``.

It holds status, progress, options, timings and the token's hash, never the token itself and
never image content. Deleting it (with the images) is deleting the job.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter
from pydantic import BaseModel, Field, ValidationError

from shared import keys
from shared.crypto import KeyRing, Seal, WrappedKey
from shared.errors import ManifestInvalid, ObjectNotFound
from shared.formats import OutputFormatName
from shared.states import JobStatus
from shared.storage import ObjectStore

SCHEMA_VERSION = 1


class JobOptions(BaseModel):
    """What the client asked for."""

    model: str
    scale: int
    output_format: OutputFormatName = "png"
    face_enhance: bool = False
    #: JPEG/WebP quality 1..100; None means the format's default. PNG is lossless: ignored.
    quality: int | None = Field(default=None, ge=1, le=100)
    #: With face_enhance: 0 pastes the restored faces fully, 1 keeps the upscaled ones exactly.
    face_fidelity: float = Field(default=0.5, ge=0.0, le=1.0)
    #: Where the worker POSTs a signed notice when the job ends (checked at upload and again
    #: before each delivery; see shared.webhooks). Sealed with the options, deleted with them.
    webhook_url: str | None = None


class ModelWeights(BaseModel):
    """The weights one model pass ran with: where they came from and their sha256."""

    model: str
    scale: int
    #: "builtin" (the official weights shipped in a package) or "operator" (WORKER_MODEL_DIR).
    source: str
    arch: str
    file: str
    sha256: str
    #: The distribution the built-in weights came from, pinned (``name==version``).
    package: str | None = None


class FaceSummary(BaseModel):
    """What the face stage did: faces found and restored, why others were left, the restorer."""

    found: int
    restored: int
    skipped_over_cap: int
    skipped_small: int
    skipped_unaligned: int
    max_faces: int
    fidelity: float
    restorer: str
    restorer_sha256: str
    seconds: float


class JobReport(BaseModel):
    """What the worker did with the upload, for the client (served as the status' "report").

    ``kept``, ``converted`` and ``dropped`` use a small vocabulary, documented in
    ``worker.imaging``; ``notes`` are sentences (for example about 16-bit precision).
    """

    resolved_model: str
    #: Native model scales run in order (e.g. [2, 4] for x8 with animevideov3).
    model_passes: list[int] = Field(default_factory=list)
    #: "lanczos" when Lanczos resizing brought the passes' product to the requested scale.
    resize: str | None = None
    kept: list[str] = Field(default_factory=list)
    converted: list[str] = Field(default_factory=list)
    dropped: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    #: The weights of each native scale that ran, so a result can be traced to exact files.
    weights: list[ModelWeights] = Field(default_factory=list)
    #: The face stage, when face enhancement was asked for.
    faces: FaceSummary | None = None


class ImageInfo(BaseModel):
    """Facts about a stored image (input or result)."""

    width: int
    height: int
    format: str
    bytes: int


class JobError(BaseModel):
    """Why a job failed, in words fit for the client."""

    code: str
    message: str


class ClientInfo(BaseModel):
    """The minimised technical information of the upload request (see gateway.client_info)."""

    network: str | None
    country: str | None
    browser: str | None
    browser_major: str | None
    os: str | None
    device_class: str
    referrer_origin: str | None
    time: datetime


class DeletionMark(BaseModel):
    """Who deleted a job, why and when: all a deleted job's manifest (its tombstone) keeps."""

    reason: str
    service: str
    time: datetime


class JobManifest(BaseModel):
    """Everything held about one job.

    Its ``status`` changes only through :mod:`shared.lifecycle` (compare-and-set on this
    object), never by writing the file directly.
    """

    schema_version: int = SCHEMA_VERSION
    id: str
    status: JobStatus = JobStatus.QUEUED
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    created_at: datetime
    expires_at: datetime
    updated_at: datetime
    options: JobOptions
    token_sha256: str
    input: ImageInfo
    result: ImageInfo | None = None
    error: JobError | None = None
    attempts: int = 0
    timings: dict[str, float] = Field(default_factory=dict)
    report: JobReport | None = None
    #: The per-job data key, wrapped by a service key: the images cannot be read without it,
    #: so removing it (deletion, failure) crypto-shreds every copy of them at once.
    data_key: WrappedKey | None
    client: ClientInfo | None = None
    #: The upload opted out of anonymous usage counts (cookie, Sec-GPC or DNT).
    analytics_opt_out: bool = False
    #: Set when the job was deleted (status ``deleted``): the manifest is then a tombstone.
    deletion: DeletionMark | None = None
    #: A MAC, under a service key, over what must never change (:data:`SEALED_FIELDS`): someone
    #: who can write the bucket but holds no service key cannot swap in their token's hash,
    #: extend the expiry or change the options. Dropped with the data key (failed, deleted).
    seal: Seal | None = None

    def sealed_part(self) -> bytes:
        """The canonical bytes the seal covers.

        Options added after sealing began are left out while at their default
        (:data:`LATER_OPTIONS`), so that a manifest sealed before they existed still verifies
        (jobs in flight across an upgrade); changed from the default, they are covered.
        """
        at_default = {
            name
            for name, default in LATER_OPTIONS.items()
            if getattr(self.options, name) == default
        }
        exclude = {"options": at_default} if at_default else None
        return self.model_dump_json(include=SEALED_FIELDS, exclude=exclude).encode()

    def sealed_with(self, keyring: KeyRing) -> JobManifest:
        """This manifest with a fresh seal (the gateway seals a new job)."""
        return self.model_copy(update={"seal": keyring.seal(self.sealed_part())})

    def seal_holds(self, keyring: KeyRing) -> bool:
        """True when the seal matches the fixed part: the manifest was not altered in storage.

        A manifest without a seal holds only as a failed job or a tombstone (both have
        dropped their data key, so no image of theirs can be read through them).
        """
        if self.seal is None:
            return self.data_key is None and self.status in (JobStatus.FAILED, JobStatus.DELETED)
        return keyring.verify_seal(self.seal, self.sealed_part())

    def touch(self) -> None:
        """Record that the manifest changed now."""
        self.updated_at = datetime.now(UTC)


#: Options that came after the first sealed manifests, with their defaults (see sealed_part).
LATER_OPTIONS: dict[str, object] = {"face_fidelity": 0.5, "webhook_url": None}

#: What the gateway fixes at acceptance and nothing may change afterwards.
SEALED_FIELDS = {
    "schema_version",
    "id",
    "created_at",
    "expires_at",
    "options",
    "token_sha256",
    "input",
    "data_key",
    "client",
    "analytics_opt_out",
}


MANIFEST_TAMPERING = Counter(
    "picupscaler_manifest_tampering_total",
    "Manifests whose seal did not hold (altered in storage): the job was made unreadable.",
    ["service"],
)


def report_tampering(job_id: str, service: str) -> None:
    """Count and log a manifest whose seal does not hold (it is then treated as missing)."""
    MANIFEST_TAMPERING.labels(service).inc()
    structlog.get_logger(__name__).error("manifest_tampered", job_id=job_id, service=service)


def hash_token(token: str) -> str:
    """Return the stored form of a job token (sha256 hex); the token itself is never stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(manifest: JobManifest, token: str | None) -> bool:
    """Compare a presented token with the stored hash in constant time."""
    if not token:
        return False
    return hmac.compare_digest(manifest.token_sha256, hash_token(token))


def load_manifest(store: ObjectStore, job_id: str) -> JobManifest | None:
    """Read a job's manifest, or None when the job does not exist (or the id is malformed).

    A deleted job's tombstone is returned as it is: callers that serve clients check
    ``status`` (see :func:`shared.lifecycle.read`).
    """
    prefix = keys.job_prefix(job_id)
    if prefix is None:
        return None
    try:
        raw = store.get(prefix + keys.MANIFEST)
    except ObjectNotFound:
        return None
    return parse_manifest(raw, job_id)


def parse_manifest(raw: bytes, job_id: str) -> JobManifest:
    """Parse a stored manifest; ManifestInvalid when it is not one (or not this job's)."""
    try:
        manifest = JobManifest.model_validate_json(raw)
    except ValidationError as exc:
        raise ManifestInvalid(job_id) from exc
    if manifest.id != job_id:
        raise ManifestInvalid(job_id)
    return manifest
