"""The object-store interface every backend implements."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class IncompleteUpload:
    """A multipart upload that was started and never completed (its parts hold data)."""

    key: str
    upload_id: str
    initiated: datetime | None


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing or stat tells about one object (never its content)."""

    key: str
    size: int
    last_modified: datetime | None = None


@dataclass(frozen=True)
class Versioned:
    """An object's bytes with the entity tag that a conditional write must name."""

    data: bytes
    etag: str


#: Annotation alias: inside the classes, ``list`` is the listing method.
Uploads = list[IncompleteUpload]


class ObjectStore(Protocol):
    """A bucket of objects. Every method raises StorageUnavailable when the backend is down."""

    bucket: str

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist."""

    def ping(self) -> None:
        """Raise StorageUnavailable unless the bucket answers."""

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Store ``data`` under ``key``, replacing any previous object atomically."""

    def put_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        length: int,
        content_type: str = "application/octet-stream",
    ) -> None:
        """Store ``length`` bytes read from ``chunks`` under ``key`` (replacing atomically),
        without holding the whole object in memory."""

    def get(self, key: str) -> bytes:
        """Return the object's bytes; raise ObjectNotFound when it does not exist."""

    def get_stream(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The object's bytes in chunks, read as they are consumed (ObjectNotFound at once)."""

    def get_versioned(self, key: str) -> Versioned:
        """Return the object's bytes and entity tag; raise ObjectNotFound when it is missing."""

    def put_if(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        *,
        etag: str | None,
    ) -> str:
        """Compare-and-set: store ``data`` only if the object is unchanged; return the new tag.

        ``etag=None`` creates the object only if no object has the key (``If-None-Match: *``);
        a tag replaces the object only if its current tag is that one (``If-Match``). Raise
        PreconditionFailed otherwise, including when the object was deleted meanwhile, so a
        conditional write can never bring a deleted object back.
        """

    def stat(self, key: str) -> ObjectInfo | None:
        """Return the object's size and time, or None when it does not exist."""

    def delete_many(self, keys: Iterable[str]) -> list[str]:
        """Delete ``keys`` (missing ones count as deleted); return the keys that failed."""

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Yield every object whose key starts with ``prefix``."""

    def list_prefixes(self, prefix: str) -> Iterator[str]:
        """Yield the immediate "sub-folders" of ``prefix`` (keys up to the next ``/``)."""

    def list_incomplete_uploads(self, prefix: str) -> Uploads:
        """Return multipart uploads under ``prefix`` that were never completed."""

    def abort_upload(self, upload: IncompleteUpload) -> None:
        """Abort an incomplete multipart upload, deleting its parts."""

    def set_expiry_backstop(self, prefix: str, days: int) -> None:
        """Install a lifecycle rule expiring objects under ``prefix`` (a backstop only)."""
