"""Object storage adapters: the S3 API through the minio SDK, or a local directory.

The services see only :class:`ObjectStore`; which backend is used is configuration.
"""

from __future__ import annotations

from shared.settings import StorageSettings
from shared.storage.base import IncompleteUpload, ObjectInfo, ObjectStore

__all__ = ["IncompleteUpload", "ObjectInfo", "ObjectStore", "ensure_buckets", "open_store"]


def open_store(settings: StorageSettings, bucket: str) -> ObjectStore:
    """Return the store for ``bucket`` on the configured backend."""
    if settings.backend == "s3":
        from shared.storage.s3 import S3Store

        return S3Store(settings, bucket)
    from shared.storage.local import LocalStore

    return LocalStore(settings.local_dir, bucket)


def ensure_buckets(*stores: ObjectStore) -> list[str]:
    """Create missing buckets; return the ones that could not be ensured (storage down).

    A service starts anyway: readiness reports storage, and a later call retries.
    """
    from shared.errors import StorageUnavailable

    failed = []
    for store in stores:
        try:
            store.ensure_bucket()
        except StorageUnavailable:
            failed.append(store.bucket)
    return failed
