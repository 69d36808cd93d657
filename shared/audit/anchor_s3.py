"""The S3 anchor: an Object Lock bucket where each statement is a retention-locked object.

Keys: ``registry/<chain>.json`` (one per chain) and ``anchors/<chain>/<seq>.json`` (one per
append). With Object Lock the bucket is versioned and every version stays until its retention
ends (COMPLIANCE: not even the root account can shorten it), so a writer with the services'
credentials can only add: a delete leaves a *delete marker* over a version that is still
there, and an overwrite adds a version beside the original. Reading therefore lists
*versions*: delete markers are reported (``anchor_hidden``) and the hidden statement is still
used; a second version with other content is reported (``anchor_overwritten``) and the oldest
one is used.

minio-py's public ``put_object`` adds the Content-MD5 that S3 and MinIO require with a
retention header only over HTTPS; ``_put_object`` with explicit headers sends it always (the
same internal-API use as :mod:`shared.storage.s3`).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, ParamSpec, TypeVar

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error
from minio.helpers import genheaders, md5sum_hash
from minio.retention import Retention
from pydantic import ValidationError

from shared.audit.anchors import (
    AnchorCursor,
    AnchorReading,
    AnchorStatement,
    AnchorStatus,
    parse_statement,
)
from shared.audit.errors import AnchorUnavailable
from shared.audit.findings import Finding
from shared.audit.records import ChainRegistration

P = ParamSpec("P")
R = TypeVar("R")
REGISTRY = "registry/"
ANCHORS = "anchors/"


def _translated(fn: Callable[P, R]) -> Callable[P, R]:
    """Map transport and server failures to AnchorUnavailable."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except S3Error as exc:
            raise AnchorUnavailable(f"anchor bucket: S3 error {exc.code}") from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise AnchorUnavailable(f"anchor bucket: {type(exc).__name__}") from exc

    return wrapper


def checkpoint_key(chain: str, seq: int) -> str:
    """Where the checkpoint of ``chain`` at ``seq`` is stored."""
    return f"{ANCHORS}{chain}/{seq:012d}.json"


class S3Anchor:
    """Statements in an Object Lock bucket, each version locked for ``lock_days``."""

    def __init__(
        self,
        client: Minio,
        bucket: str,
        *,
        lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE",
        lock_days: int = 400,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.lock_mode = lock_mode
        self.lock_days = lock_days
        self._locked: bool | None = None

    @_translated
    def ensure(self, *, create: bool) -> None:
        if create and not self.client.bucket_exists(self.bucket):
            try:
                # Object Lock can only be switched on when a bucket is made (MinIO; moto).
                self.client.make_bucket(self.bucket, object_lock=True)
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    @_translated
    def status(self) -> AnchorStatus:
        where = f"s3 bucket {self.bucket}"
        try:
            self.client.get_object_lock_config(self.bucket)
        except S3Error as exc:
            if exc.code in ("ObjectLockConfigurationNotFoundError", "NoSuchBucket"):
                self._locked = False
                return AnchorStatus(where, False, f"no Object Lock ({exc.code})")
            raise
        self._locked = True
        return AnchorStatus(
            where, True, f"Object Lock, {self.lock_mode} retention of {self.lock_days} days"
        )

    @_translated
    def append(self, statement: AnchorStatement) -> None:
        if isinstance(statement, ChainRegistration):
            key = f"{REGISTRY}{statement.chain}.json"
        else:
            key = checkpoint_key(statement.chain, statement.seq)
        data = statement.model_dump_json().encode()
        retention = None
        if self._locked is None:
            self.status()
        if self._locked:
            until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=self.lock_days)
            retention = Retention(self.lock_mode, until)
        headers = genheaders(None, None, None, retention, False)
        headers["Content-MD5"] = md5sum_hash(data) or ""
        headers["Content-Type"] = "application/json"
        self.client._put_object(self.bucket, key, data, headers=headers)

    @_translated
    def read(
        self,
        cursor: AnchorCursor | None,
        *,
        full: bool,
        accept: Callable[[AnchorStatement], bool] = lambda _: True,
    ) -> AnchorReading:
        previous = cursor or AnchorCursor()
        start = AnchorCursor() if full else previous
        reading = AnchorReading(cursor=previous.model_copy(deep=True))
        if not self.client.bucket_exists(self.bucket):
            return reading  # nothing anchored yet: every chain in the audit bucket is unregistered
        known = set(start.registered)
        for key, versions in self._versions(REGISTRY, None, reading).items():
            chain = key[len(REGISTRY) : -len(".json")]
            if chain not in known and (statement := self._read_key(key, versions, reading)):
                reading.add(statement)
        chains = known | set(reading.registrations) | self._anchor_chains()
        for chain in sorted(chains):
            after = start.checkpoints.get(chain)
            # Start one before the newest checkpoint seen, so a marker hiding it shows up too.
            start_after = checkpoint_key(chain, after - 1) if after else None
            by_key = self._versions(f"{ANCHORS}{chain}/", start_after, reading)
            # Newest first, until one is signed by an accepted key (a forged newest one must
            # not hide the genuine one below it).
            for key in sorted(by_key, reverse=True):
                statement = self._read_key(key, by_key[key], reading)
                if statement is not None:
                    reading.add(statement)
                    if accept(statement):
                        break
        return reading

    def _anchor_chains(self) -> set[str]:
        return {
            o.object_name[len(ANCHORS) :].rstrip("/")
            for o in self.client.list_objects(self.bucket, prefix=ANCHORS, recursive=False)
            if o.is_dir and o.object_name
        }

    def _versions(
        self, prefix: str, start_after: str | None, reading: AnchorReading
    ) -> dict[str, list[Any]]:
        """Every stored version by key (delete markers reported, not returned)."""
        versions: dict[str, list[Any]] = defaultdict(list)
        listed = self.client.list_objects(
            self.bucket,
            prefix=prefix,
            recursive=True,
            include_version=True,
            start_after=start_after,
        )
        for obj in listed:
            name = obj.object_name or ""
            if start_after is not None and name <= start_after:
                continue  # some servers ignore the key marker of a versions listing
            if obj.is_delete_marker:
                reading.findings.append(Finding("anchor_hidden", f"{self.bucket}/{name}"))
            else:
                versions[name].append(obj)
        return dict(versions)

    def _read_key(
        self, key: str, versions: list[Any], reading: AnchorReading
    ) -> AnchorStatement | None:
        """The oldest version's statement; every other version must say the same."""
        oldest_first = datetime.min.replace(tzinfo=UTC)
        ordered = sorted(versions, key=lambda o: o.last_modified or oldest_first)
        bodies: list[bytes] = []
        for obj in ordered:
            response = self.client.get_object(self.bucket, key, version_id=obj.version_id)
            try:
                bodies.append(response.read())
                locked = response.headers.get("x-amz-object-lock-mode")
            finally:
                response.close()
                response.release_conn()
            if self._locked and not locked:
                reading.findings.append(Finding("anchor_unlocked", f"{self.bucket}/{key}"))
        if any(body != bodies[0] for body in bodies[1:]):
            reading.findings.append(Finding("anchor_overwritten", f"{self.bucket}/{key}"))
        try:
            statement = parse_statement(bodies[0])
        except ValidationError:
            reading.findings.append(Finding("unreadable", f"{self.bucket}/{key}"))
            return None
        if key != _key_of(statement):
            reading.findings.append(
                Finding("anchor_overwritten", f"{self.bucket}/{key}", "content names another key")
            )
            return None
        return statement


def _key_of(statement: AnchorStatement) -> str:
    if isinstance(statement, ChainRegistration):
        return f"{REGISTRY}{statement.chain}.json"
    return checkpoint_key(statement.chain, statement.seq)
