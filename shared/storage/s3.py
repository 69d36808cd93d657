"""A bucket on an S3-compatible endpoint (MinIO in production, moto's server in tests).

Only S3 features MinIO implements are used. Network and server errors become
StorageUnavailable so the callers can answer 503 or retry; a missing key is ObjectNotFound.

Conditional writes use S3's ``If-Match`` / ``If-None-Match: *`` on PutObject (MinIO, AWS S3
since 2024, and moto's server implement them). minio-py's ``put_object`` turns unknown headers
into user metadata, so :meth:`S3Store.put_if` calls its one-request PutObject directly.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, ParamSpec, TypeVar, cast

import urllib3
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error
from minio.helpers import MIN_PART_SIZE
from minio.lifecycleconfig import AbortIncompleteMultipartUpload, Expiration, LifecycleConfig, Rule

from shared.errors import ObjectNotFound, PreconditionFailed, StorageUnavailable
from shared.failpoints import failpoint
from shared.settings import StorageSettings
from shared.storage.base import IncompleteUpload, ObjectInfo, Uploads, Versioned

P = ParamSpec("P")
R = TypeVar("R")

_MISSING = {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}
#: A conditional write lost: the tag differs (412), a concurrent conditional write won (409),
#: or the object is gone (If-Match on a missing key answers NoSuchKey).
_CONDITION_LOST = {"PreconditionFailed", "ConditionalRequestConflict", *_MISSING}


def _translated(fn: Callable[P, R]) -> Callable[P, R]:
    """Map transport and server failures to StorageUnavailable."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (ObjectNotFound, PreconditionFailed, StorageUnavailable):
            raise
        except S3Error as exc:
            if exc.code in _MISSING:
                raise ObjectNotFound(exc.object_name or "") from exc
            raise StorageUnavailable(f"S3 error {exc.code}") from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise StorageUnavailable(type(exc).__name__) from exc

    return wrapper


class S3Store:
    """Object storage in one bucket of an S3-compatible service."""

    def __init__(self, settings: StorageSettings, bucket: str) -> None:
        self.bucket = bucket
        # Short timeouts and few retries: a caller waiting on a dead endpoint should get a
        # prompt 503, not hang for minutes in urllib3's default back-off.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=3.0, read=60.0),
            maxsize=16,
            retries=urllib3.Retry(
                total=2, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)
            ),
        )
        self.client = Minio(
            settings.endpoint,
            access_key=settings.access_key.get_secret_value() or None,
            secret_key=settings.secret_key.get_secret_value() or None,
            secure=settings.secure,
            region=settings.region,
            http_client=http,
        )

    @_translated
    def ensure_bucket(self) -> None:
        if not self.client.bucket_exists(self.bucket):
            try:
                self.client.make_bucket(self.bucket)
            except S3Error as exc:  # another replica created it first
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    @_translated
    def ping(self) -> None:
        if not self.client.bucket_exists(self.bucket):
            raise StorageUnavailable(f"bucket {self.bucket} does not exist")

    @_translated
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.put_stream(key, [data], len(data), content_type)

    @_translated
    def put_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        length: int,
        content_type: str = "application/octet-stream",
    ) -> None:
        # Objects over one part go up as a multipart upload (minio-py's choice, 5 MiB parts),
        # read part by part from the chunks: no whole copy of the object here.
        stream = _PartWatch(chunks, key.rsplit("/", 1)[-1])
        self.client.put_object(self.bucket, key, cast(BinaryIO, stream), length, content_type)

    @_translated
    def get_stream(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        response = self.client.get_object(self.bucket, key)  # a missing key raises here
        return _translate_stream(_read_chunks(response, chunk_size))

    @_translated
    def get_versioned(self, key: str) -> Versioned:
        response = self.client.get_object(self.bucket, key)
        try:
            return Versioned(response.read(), response.headers.get("ETag", "").strip('"'))
        finally:
            response.close()
            response.release_conn()

    @_translated
    def put_if(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        *,
        etag: str | None,
    ) -> str:
        condition = {"If-None-Match": "*"} if etag is None else {"If-Match": f'"{etag}"'}
        try:
            written = self.client._put_object(
                self.bucket, key, data, {"Content-Type": content_type, **condition}
            )
        except S3Error as exc:
            if exc.code in _CONDITION_LOST:
                raise PreconditionFailed(key) from exc
            raise
        return (written.etag or "").strip('"')

    @_translated
    def get(self, key: str) -> bytes:
        response = self.client.get_object(self.bucket, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    @_translated
    def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING:
                return None
            raise
        return ObjectInfo(key, st.size or 0, st.last_modified)

    @_translated
    def delete_many(self, keys: Iterable[str]) -> list[str]:
        objects = [DeleteObject(k) for k in keys]
        if not objects:
            return []
        # remove_objects is lazy: the deletes happen while its error iterator is consumed.
        errors = self.client.remove_objects(self.bucket, objects)
        return [e.name or "" for e in errors if e.code not in _MISSING]

    @_translated
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        # Materialised so that a connection error surfaces here, inside the translation.
        return iter(
            [
                ObjectInfo(o.object_name, o.size or 0, o.last_modified)
                for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
                if o.object_name is not None
            ]
        )

    @_translated
    def list_prefixes(self, prefix: str) -> Iterator[str]:
        return iter(
            [
                o.object_name
                for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=False)
                if o.is_dir and o.object_name is not None
            ]
        )

    @_translated
    def list_incomplete_uploads(self, prefix: str) -> Uploads:
        # minio-py has no public call for ListMultipartUploads since 7.0; its internal one
        # is a thin wrapper of the S3 API, which MinIO implements.
        found: Uploads = []
        key_marker: str | None = None
        upload_marker: str | None = None
        while True:
            page = self.client._list_multipart_uploads(
                self.bucket, prefix=prefix, key_marker=key_marker, upload_id_marker=upload_marker
            )
            found.extend(
                IncompleteUpload(u.object_name, u.upload_id, u.initiated_time)
                for u in page.uploads
                if u.upload_id
            )
            if not page.is_truncated:
                return found
            key_marker, upload_marker = page.next_key_marker, page.next_upload_id_marker

    @_translated
    def abort_upload(self, upload: IncompleteUpload) -> None:
        self.client._abort_multipart_upload(self.bucket, upload.key, upload.upload_id)

    @_translated
    def set_expiry_backstop(self, prefix: str, days: int) -> None:
        rule = Rule(
            ENABLED,
            rule_filter=Filter(prefix=prefix),
            rule_id="picupscaler-expiry-backstop",
            expiration=Expiration(days=days),
            abort_incomplete_multipart_upload=AbortIncompleteMultipartUpload(
                days_after_initiation=1
            ),
        )
        self.client.set_bucket_lifecycle(self.bucket, LifecycleConfig([rule]))


def _read_chunks(response: urllib3.BaseHTTPResponse, size: int) -> Iterator[bytes]:
    try:
        yield from response.stream(size)
    finally:
        response.close()
        response.release_conn()


def _translate_stream(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A streamed body whose transport errors become StorageUnavailable too."""
    try:
        yield from chunks
    except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise StorageUnavailable(type(exc).__name__) from exc


class _PartWatch(io.RawIOBase):
    """The bytes of an upload, read from its chunks as minio-py asks for them, marking the
    moment a multipart upload is under way.

    minio-py reads the next part only after it has created the multipart upload and sent the
    part before, so the first read past one part is a moment at which the object exists only
    as a partial upload: the failpoint there lets the lifecycle tests delete a job mid-upload.
    """

    def __init__(self, chunks: Iterable[bytes], name: str) -> None:
        super().__init__()
        self._chunks = iter(chunks)
        self._buffer = b""
        self._name = name
        self._position = 0
        self._marked = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if not self._marked and self._position >= MIN_PART_SIZE:
            self._marked = True
            failpoint(f"storage.partial.{self._name}")
        want = None if size is None or size < 0 else size
        while want is None or len(self._buffer) < want:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if want is None:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:want], self._buffer[want:]
        self._position += len(out)
        return out
