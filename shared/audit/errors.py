"""Errors of the audit log (part of the project's one hierarchy in :mod:`shared.errors`)."""

from shared.errors import PicUpscalerError, StorageUnavailable


class AnchorUnavailable(StorageUnavailable):
    """Raised when a chain's registration or checkpoint could not be anchored (the deletion
    it covers must not go ahead: the caller retries, as when storage is down)."""


class AnchorUnprotected(PicUpscalerError):
    """Raised at start-up when the anchor store cannot refuse rewrites (no Object Lock on the
    anchor bucket, an anchor file inside the storage root) and that is not allowed."""
