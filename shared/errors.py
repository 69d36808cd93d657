"""One error hierarchy for the code shared between services."""


class PicUpscalerError(Exception):
    """Base class of every error this project raises on purpose."""


class StorageUnavailable(PicUpscalerError):
    """Raised when object storage cannot be reached or answers with a server error."""


class ObjectNotFound(PicUpscalerError):
    """Raised when a requested object does not exist (or was already deleted)."""


class BrokerUnavailable(PicUpscalerError):
    """Raised when the message broker cannot be reached or did not confirm a message."""


class ManifestInvalid(PicUpscalerError):
    """Raised when a stored manifest cannot be parsed; treated like a missing job."""


class PreconditionFailed(PicUpscalerError):
    """Raised when a conditional write loses: the object changed, exists, or is gone."""
