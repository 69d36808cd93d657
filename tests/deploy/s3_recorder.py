"""Which S3 permissions a service's requests need, and whether its MinIO policy grants them.

:class:`RecordingProxy` sits between the services and the S3 endpoint (moto's server) and
records every request with the access key that signed it. :func:`needed` maps one request to
the IAM actions S3 and MinIO check for it, and :class:`Policy` evaluates a policy document
(Allow statements, ``*`` in resources, ``StringLike`` on ``s3:prefix``: what our policies use).

Hand-written because nothing on PyPI evaluates S3 policies against requests the way MinIO
does: moto can enforce IAM, but its request-to-action table differs from MinIO's (HeadBucket is
its own action there, ``?object-lock`` falls to ListBucket, multi-object delete is not
mapped). The table in :func:`needed` follows MinIO's handlers (cmd/*-handlers.go) and the S3
API reference; a request it does not know fails the test instead of passing unchecked.
"""

from __future__ import annotations

import fnmatch
import http.client
import re
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.etree import ElementTree

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te"}


@dataclass(frozen=True)
class S3Request:
    """One request as the endpoint saw it."""

    key_id: str
    method: str
    bucket: str
    key: str
    query: dict[str, str]
    lock_headers: frozenset[str]
    deleted_keys: tuple[str, ...] = ()
    status: int = 0

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" if v else k for k, v in sorted(self.query.items()))
        return f"{self.method} /{self.bucket}/{self.key}{'?' + query if query else ''}"


@dataclass(frozen=True)
class Need:
    """One action a request needs, on one resource (``bucket`` or ``bucket/key``)."""

    action: str
    resource: str
    #: The listing's prefix, for ``s3:prefix`` conditions (None: not a listing).
    prefix: str | None = None


def needed(request: S3Request, locked_buckets: set[str]) -> list[Need]:
    """The actions MinIO (and S3) check for ``request``. ``locked_buckets`` have Object Lock:
    a read there needs GetObjectRetention too, or MinIO leaves the lock headers out
    (``objectlock.FilterObjectLockMetadata``) and the reader cannot tell a locked version."""
    q, b, k = request.query, request.bucket, request.key
    method = request.method
    if not k:
        if method == "HEAD":
            return [Need("ListBucket", b, "")]  # HeadBucket is authorised as ListBucket
        if method == "GET":
            for sub, action in (
                ("object-lock", "GetBucketObjectLockConfiguration"),
                ("versions", "ListBucketVersions"),
                ("uploads", "ListBucketMultipartUploads"),
                ("location", "GetBucketLocation"),
                ("lifecycle", "GetLifecycleConfiguration"),
                ("versioning", "GetBucketVersioning"),
            ):
                if sub in q:
                    return [Need(action, b, q.get("prefix", "") if sub == "versions" else None)]
            return [Need("ListBucket", b, q.get("prefix", ""))]
        if method == "PUT":
            for sub, action in (
                ("lifecycle", "PutLifecycleConfiguration"),
                ("object-lock", "PutBucketObjectLockConfiguration"),
                ("versioning", "PutBucketVersioning"),
                ("policy", "PutBucketPolicy"),
            ):
                if sub in q:
                    return [Need(action, b)]
            return [Need("CreateBucket", b)]
        if method == "POST" and "delete" in q:
            return [Need("DeleteObject", f"{b}/{key}") for key in request.deleted_keys]
        if method == "DELETE":
            return [Need("PutLifecycleConfiguration" if "lifecycle" in q else "DeleteBucket", b)]
        raise AssertionError(f"unmapped bucket request {request}")
    obj = f"{b}/{k}"
    if method in ("GET", "HEAD"):
        for sub, action in (
            ("uploadId", "ListMultipartUploadParts"),
            ("retention", "GetObjectRetention"),
            ("legal-hold", "GetObjectLegalHold"),
            ("tagging", "GetObjectTagging"),
        ):
            if sub in q:
                return [Need(action, obj)]
        needs = [Need("GetObject", obj)]
        if "versionId" in q:
            needs.append(Need("GetObjectVersion", obj))
        if b in locked_buckets:
            needs.append(Need("GetObjectRetention", obj))
        return needs
    if method == "PUT":
        for sub, action in (
            ("retention", "PutObjectRetention"),
            ("legal-hold", "PutObjectLegalHold"),
            ("tagging", "PutObjectTagging"),
        ):
            if sub in q:
                return [Need(action, obj)]
        needs = [Need("PutObject", obj)]  # also UploadPart (?partNumber&uploadId)
        if "x-amz-object-lock-mode" in request.lock_headers:
            needs.append(Need("PutObjectRetention", obj))
        if "x-amz-object-lock-legal-hold" in request.lock_headers:
            needs.append(Need("PutObjectLegalHold", obj))
        return needs
    if method == "POST" and ("uploads" in q or "uploadId" in q):
        return [Need("PutObject", obj)]  # CreateMultipartUpload, CompleteMultipartUpload
    if method == "DELETE":
        if "uploadId" in q:
            return [Need("AbortMultipartUpload", obj)]
        return [Need("DeleteObjectVersion" if "versionId" in q else "DeleteObject", obj)]
    raise AssertionError(f"unmapped object request {request}")


@dataclass
class Grant:
    """One (action, resource pattern, prefix condition) of a policy."""

    action: str
    resource: str
    prefixes: tuple[str, ...] | None

    def allows(self, need: Need) -> bool:
        if need.action != self.action or not fnmatch.fnmatchcase(need.resource, self.resource):
            return False
        if self.prefixes is None:
            return True
        # StringLike on s3:prefix: a request without a prefix parameter does not match.
        return need.prefix is not None and any(
            fnmatch.fnmatchcase(need.prefix, p) for p in self.prefixes
        )

    def __str__(self) -> str:
        where = f" (prefix {', '.join(self.prefixes)})" if self.prefixes else ""
        return f"{self.action} on {self.resource}{where}"


@dataclass
class Policy:
    """A MinIO/IAM policy of Allow statements, with bucket names translated for a test."""

    grants: list[Grant] = field(default_factory=list)

    @classmethod
    def of(cls, document: dict[str, Any], buckets: dict[str, str]) -> Policy:
        """``buckets`` maps the policy's bucket names to the ones the test uses."""
        policy = cls()
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            condition = statement.get("Condition", {})
            prefixes = condition.get("StringLike", {}).get("s3:prefix")
            for resource in statement["Resource"]:
                name = resource.removeprefix("arn:aws:s3:::")
                bucket, _, rest = name.partition("/")
                name = buckets.get(bucket, bucket) + ("/" + rest if rest else "")
                for action in statement["Action"]:
                    policy.grants.append(
                        Grant(
                            action.removeprefix("s3:"), name, tuple(prefixes) if prefixes else None
                        )
                    )
        return policy

    def allowing(self, need: Need) -> list[Grant]:
        return [g for g in self.grants if g.allows(need)]


class RecordingProxy:
    """An HTTP proxy in front of an S3 endpoint that records who asked for what."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.partition(":")
        self.upstream = (host, int(port))
        self.requests: list[S3Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[RecordingProxy]:
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()

    def by(self, key_id: str) -> list[S3Request]:
        with self._lock:
            return [r for r in self.requests if r.key_id == key_id]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _relay(self) -> None:
                assert "chunked" not in self.headers.get("Transfer-Encoding", "")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                proxy._record(self, body, response.status)
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                length = response.getheader("Content-Length")
                self.send_header(
                    "Content-Length", length if self.command == "HEAD" else str(len(payload))
                )
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        return Handler

    def _record(self, handler: BaseHTTPRequestHandler, body: bytes, status: int) -> None:
        url = urllib.parse.urlsplit(handler.path)
        bucket, _, key = urllib.parse.unquote(url.path).lstrip("/").partition("/")
        query = {k: v for k, v in urllib.parse.parse_qsl(url.query, keep_blank_values=True)}
        auth = handler.headers.get("Authorization", "")
        match = re.search(r"Credential=([^/]+)/", auth) or re.search(
            r"X-Amz-Credential=([^%/]+)", url.query
        )
        deleted: tuple[str, ...] = ()
        if handler.command == "POST" and "delete" in query:
            tree = ElementTree.fromstring(body)
            deleted = tuple(e.text or "" for e in tree.iter() if e.tag.endswith("Key"))
        lock = frozenset(
            h.lower() for h in handler.headers if h.lower().startswith("x-amz-object-lock-")
        )
        request = S3Request(
            match.group(1) if match else "",
            handler.command,
            bucket,
            key,
            query,
            lock,
            deleted,
            status,
        )
        with self._lock:
            self.requests.append(request)
