"""Reading a job's result for its token holder: fetch, decrypt, label."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from gateway.errors import ApiError, not_found, unavailable
from gateway.services import Services
from shared import keys
from shared.crypto import DecryptionFailed, unseal
from shared.errors import ObjectNotFound, StorageUnavailable
from shared.formats import OUTPUT_FORMATS
from shared.manifest import JobManifest
from shared.states import JobStatus

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ResultFile:
    """A decrypted result, ready to send."""

    data: bytes
    media_type: str
    headers: dict[str, str]


def read_result(services: Services, manifest: JobManifest) -> ResultFile:
    """The result of a succeeded job; 409 before success, 404 if it vanished, 503 if down."""
    if manifest.status is not JobStatus.SUCCEEDED or manifest.result is None:
        raise ApiError(
            409, "result_not_ready", f"The job is {manifest.status.value}; no result to download."
        )
    try:
        sealed = services.store.get(keys.job_key(manifest.id, keys.RESULT))
    except StorageUnavailable:
        raise unavailable("storage", services.settings.retry_after_seconds) from None
    except ObjectNotFound:
        raise not_found() from None  # deleted since the manifest was read
    if manifest.data_key is None:
        raise not_found()
    try:
        data_key = services.keyring.unwrap(manifest.data_key, job_id=manifest.id)
        data = unseal(data_key, sealed, job_id=manifest.id, name=keys.RESULT)
    except DecryptionFailed:
        log.error("result_undecryptable")  # a key configuration problem, never the client's
        raise ApiError(
            500, "result_unreadable", "The result cannot be decrypted; please contact the operator."
        ) from None
    fmt = OUTPUT_FORMATS[manifest.options.output_format]
    return ResultFile(
        data,
        fmt.media_type,
        {
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{manifest.id}.{fmt.extension}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
