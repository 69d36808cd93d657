"""Reading a job's result for its token holder: fetch, decrypt, label, as a stream.

The sealed result is decrypted segment by segment while it streams from storage to the
client (``shared.crypto.unseal_stream``): the gateway holds about one segment of it, not the
ciphertext and the plaintext of the whole image at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import structlog

from gateway.errors import ApiError, not_found, unavailable
from gateway.services import Services
from shared import keys
from shared.crypto import DecryptionFailed, unseal_stream
from shared.errors import ObjectNotFound, StorageUnavailable
from shared.formats import OUTPUT_FORMATS
from shared.manifest import JobManifest
from shared.states import JobStatus

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ResultStream:
    """A result on its way out: the plaintext in segments, and how to label it."""

    chunks: Iterator[bytes]
    media_type: str
    headers: dict[str, str]


def open_result(services: Services, manifest: JobManifest) -> ResultStream:
    """The result of a succeeded job; 409 before success, 404 if it vanished, 503 if down.

    The first segment is decrypted here, so that a key problem is an error answer, not a
    response cut off after its headers.
    """
    if manifest.status is not JobStatus.SUCCEEDED or manifest.result is None:
        raise ApiError(
            409, "result_not_ready", f"The job is {manifest.status.value}; no result to download."
        )
    if manifest.data_key is None:
        raise not_found()
    try:
        data_key = services.keyring.unwrap(manifest.data_key, job_id=manifest.id)
        sealed = services.store.get_stream(keys.job_key(manifest.id, keys.RESULT))
        plain = unseal_stream(data_key, sealed, job_id=manifest.id, name=keys.RESULT)
        first = next(plain)
    except StorageUnavailable:
        raise unavailable("storage", services.settings.retry_after_seconds) from None
    except ObjectNotFound:
        raise not_found() from None  # deleted since the manifest was read
    except DecryptionFailed:
        log.error("result_undecryptable")  # a key configuration problem, never the client's
        raise ApiError(
            500, "result_unreadable", "The result cannot be decrypted; please contact the operator."
        ) from None
    fmt = OUTPUT_FORMATS[manifest.options.output_format]
    return ResultStream(
        itertools.chain([first], plain),
        fmt.media_type,
        {
            "Cache-Control": "no-store",
            "Content-Length": str(manifest.result.bytes),
            "Content-Disposition": f'attachment; filename="{manifest.id}.{fmt.extension}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
