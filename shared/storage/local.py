"""A bucket in a local directory: all-in-one mode's object storage.

Writes go to a temporary name in the same directory and are renamed into place, so a reader
never sees half an object; a temporary left by a crash is listed like any object, so it
expires with its job. Keys are checked so that none escapes the bucket directory.

Conditional writes (:meth:`LocalStore.put_if`) give the guarantee S3's ``If-Match`` /
``If-None-Match`` give: the compare and the rename happen under an exclusive ``flock`` on a
lock file beside (not inside) the bucket directory, which serialises them across the threads
and processes of one installation (all-in-one, and an operator's ``python -m janitor`` on the
same directory). The entity tag is a digest of the content.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from shared.errors import ObjectNotFound, PreconditionFailed, StorageUnavailable
from shared.failpoints import failpoint
from shared.storage.base import IncompleteUpload, ObjectInfo, Uploads, Versioned

_TMP = ".tmp-"


class LocalStore:
    """Object storage in ``root/bucket`` on the local file system."""

    def __init__(self, root: Path, bucket: str) -> None:
        self.bucket = bucket
        self.root = (Path(root) / bucket).resolve()
        self._lock_path = self.root.parent / f".{bucket}.lock"

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid object key {key!r}")
        return self.root.joinpath(*parts)

    def ensure_bucket(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def ping(self) -> None:
        if not self.root.is_dir():
            raise StorageUnavailable(f"bucket directory {self.root} is missing")

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._write(key, [data])

    def put_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        length: int,
        content_type: str = "application/octet-stream",
    ) -> None:
        self._write(key, chunks)

    def _write(self, key: str, chunks: Iterable[bytes]) -> None:
        path = self._path(key)
        tmp = path.with_name(f"{_TMP}{uuid.uuid4().hex}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
            # The object exists only as a temporary here: a partial upload, as S3 has them.
            failpoint(f"storage.partial.{path.name}")
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise StorageUnavailable(str(exc)) from exc

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold the installation-wide lock of this bucket (threads and processes alike)."""
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def get_stream(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        try:
            handle = open(self._path(key), "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc
        return _chunks(handle, chunk_size)

    def get_versioned(self, key: str) -> Versioned:
        data = self.get(key)
        return Versioned(data, _etag(data))

    def put_if(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        *,
        etag: str | None,
    ) -> str:
        with self._exclusive():
            try:
                current: str | None = _etag(self._path(key).read_bytes())
            except FileNotFoundError:
                current = None
            except OSError as exc:
                raise StorageUnavailable(str(exc)) from exc
            if current != etag:
                raise PreconditionFailed(key)
            self._write(key, [data])
        return _etag(data)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = self._path(key).stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def delete_many(self, keys: Iterable[str]) -> list[str]:
        # Under the lock, so that a delete cannot fall between a conditional write's compare
        # and its rename (S3 gives that order server-side).
        with self._exclusive():
            return self._delete_all(keys)

    def _delete_all(self, keys: Iterable[str]) -> list[str]:
        failed = []
        for key in keys:
            path = self._path(key)
            try:
                path.unlink(missing_ok=True)
            except OSError:
                failed.append(key)
                continue
            self._prune(path.parent)
        return failed

    def _prune(self, directory: Path) -> None:
        # Remove emptied job/hour directories so listings stay proportional to live data.
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root.joinpath(*base.split("/")) if base else self.root
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            for name in sorted(filenames):
                # Half-written temporaries are listed too, so the janitor deletes what a
                # crashed writer left behind together with the rest of its job.
                path = Path(dirpath, name)
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    info = self.stat(key)
                    if info is not None:
                        yield info

    def list_prefixes(self, prefix: str) -> Iterator[str]:
        directory = self.root.joinpath(*prefix.rstrip("/").split("/")) if prefix else self.root
        if not directory.is_dir():
            return
        for child in sorted(directory.iterdir()):
            if child.is_dir():
                yield f"{prefix}{child.name}/"

    def list_incomplete_uploads(self, prefix: str) -> Uploads:
        # Writes here are single renames: a crashed write leaves a listed temporary instead.
        return []

    def abort_upload(self, upload: IncompleteUpload) -> None:
        return None

    def set_expiry_backstop(self, prefix: str, days: int) -> None:
        # A directory has no lifecycle rules; the janitor's sweep is the only mechanism.
        return None


def _chunks(handle: BinaryIO, size: int) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(size):
            yield chunk


def _etag(data: bytes) -> str:
    """The entity tag of an object's content."""
    return hashlib.sha256(data).hexdigest()[:32]
