"""Why a job can fail, declared once: the failure middleware turns these into the manifest.

Permanent failures subclass :class:`JobFailed`: they carry the code and message the client
reads, and the actor declares them in ``throws=`` so Dramatiq does not retry them. Anything
else a job raises (a storage outage, a bug) is retried by Dramatiq within the bounded budget,
and fails the job as ``processing_error`` when the budget is spent.
"""

from __future__ import annotations

from typing import ClassVar


class JobFailed(Exception):
    """Raised when a job cannot succeed, whatever the number of attempts."""

    code: ClassVar[str] = "processing_error"
    message: ClassVar[str] = "Processing failed on the worker."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        self.client_message = message or self.message


class InputMissing(JobFailed):
    """Raised when the job's uploaded image is no longer stored."""

    code = "input_missing"
    message = "The uploaded image is no longer stored."


class InputUnreadable(JobFailed):
    """Raised when the stored image does not decrypt (wrong or rotated-away service key)."""

    code = "input_unreadable"
    message = "The stored image could not be decrypted."


class UndecodableImage(JobFailed):
    """Raised when the stored image cannot be decoded (it passed the gateway: rare)."""

    code = "undecodable_image"
    message = "The uploaded image could not be decoded."


class UnknownModel(JobFailed):
    """Raised when this worker has no model of the name and scales the job asks for."""

    code = "unknown_model"
    message = "This worker has no such model."


class JobTimedOut(JobFailed):
    """Raised between tiles, or by Dramatiq's TimeLimit, when a job runs past its time limit."""

    code = "time_limit_exceeded"
    message = "Processing took longer than the time limit and was stopped."


class ProcessingCrashed(JobFailed):
    """Raised when earlier attempts died without an outcome (SIGKILL, out of memory)."""

    code = "processing_crashed"
    message = "Processing stopped unexpectedly too many times; giving up."


class FaceEnhanceUnavailable(JobFailed):
    """Raised when a job asks for face enhancement and this worker has no face restorer."""

    code = "face_enhance_unavailable"
    message = "Face enhancement is not available on this worker: no face restorer is installed."
