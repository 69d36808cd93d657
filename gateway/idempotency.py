"""``Idempotency-Key`` on ``POST /v1/jobs``: the same key and body give the same job, never two.

A client that retries an upload (a timeout, a double click) sends the same key; the first
request creates the job, every later one with the same body gets the same answer, and one
with another body is refused. Keys are kept as hashes, in the admission state's Redis (shared
by the replicas; memory in all-in-one), until the job's expiry.

No token is stored to answer a replay: a job created under an idempotency key gets the token
``<job id>.<HMAC(service key, job id | key)>``, which the gateway can compute again from the
key the client presents and the service key, and nobody else can (the manifest still keeps
only its hash).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from shared.crypto import KeyRing
from shared.settings import AdmissionSettings

#: A key a client may send: 8 to 128 visible ASCII characters (a UUID, 32 hex digits...).
MIN_KEY, MAX_KEY = 8, 128
#: How long a second request waits for the first one with its key to finish.
WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class Entry:
    """What is kept about a key: its body's hash and, once created, the job."""

    body_sha256: str
    job_id: str | None = None
    key_id: str | None = None
    expires_at: str | None = None


class IdempotencyStore(Protocol):
    """Entries by key hash, with a lifetime."""

    def claim(self, key_hash: str, entry: Entry, ttl_seconds: int) -> Entry | None:
        """Store ``entry`` unless one exists; return the existing one (None when claimed)."""
        ...

    def get(self, key_hash: str) -> Entry | None:
        """The entry of ``key_hash``, if any."""
        ...

    def put(self, key_hash: str, entry: Entry, ttl_seconds: int) -> None:
        """Replace the entry (the job now exists)."""
        ...

    def drop(self, key_hash: str) -> None:
        """Forget the key (the first request failed: a retry may create the job)."""
        ...


class MemoryIdempotency:
    """Entries in this process (all-in-one)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Entry]] = {}
        self._lock = threading.Lock()

    def claim(self, key_hash: str, entry: Entry, ttl_seconds: int) -> Entry | None:
        with self._lock:
            existing = self._live(key_hash)
            if existing is not None:
                return existing
            self._entries[key_hash] = (time.time() + ttl_seconds, entry)
            return None

    def get(self, key_hash: str) -> Entry | None:
        with self._lock:
            return self._live(key_hash)

    def put(self, key_hash: str, entry: Entry, ttl_seconds: int) -> None:
        with self._lock:
            self._entries[key_hash] = (time.time() + ttl_seconds, entry)

    def drop(self, key_hash: str) -> None:
        with self._lock:
            self._entries.pop(key_hash, None)

    def _live(self, key_hash: str) -> Entry | None:
        found = self._entries.get(key_hash)
        if found is None or found[0] <= time.time():
            self._entries.pop(key_hash, None)
            return None
        return found[1]


class RedisIdempotency:
    """Entries in Redis, shared by every gateway replica (SET NX EX: one claim wins)."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._prefix = f"{prefix}:idempotency:"

    def claim(self, key_hash: str, entry: Entry, ttl_seconds: int) -> Entry | None:
        if self._redis.set(self._prefix + key_hash, _dump(entry), nx=True, ex=ttl_seconds):
            return None
        return self.get(key_hash) or entry

    def get(self, key_hash: str) -> Entry | None:
        raw: Any = self._redis.get(self._prefix + key_hash)
        return None if raw is None else Entry(**json.loads(raw))

    def put(self, key_hash: str, entry: Entry, ttl_seconds: int) -> None:
        self._redis.set(self._prefix + key_hash, _dump(entry), ex=ttl_seconds)

    def drop(self, key_hash: str) -> None:
        self._redis.delete(self._prefix + key_hash)


def open_idempotency(settings: AdmissionSettings) -> IdempotencyStore:
    """Redis when the admission state is there, else memory."""
    if settings.redis_url is None:
        return MemoryIdempotency()
    return RedisIdempotency(settings.redis_url.get_secret_value(), settings.redis_key_prefix)


def valid_key(key: str) -> bool:
    """A key of 8..128 visible ASCII characters."""
    return MIN_KEY <= len(key) <= MAX_KEY and all(33 <= ord(c) <= 126 for c in key)


def key_hash(key: str) -> str:
    """What is stored instead of the key."""
    return hashlib.sha256(f"picupscaler-idempotency:{key}".encode()).hexdigest()


def body_hash(file: bytes, fields: dict[str, str]) -> str:
    """The identity of an upload: its file and its form fields."""
    digest = hashlib.sha256(file)
    digest.update(json.dumps(sorted(fields.items())).encode())
    return digest.hexdigest()


def idempotent_token(keyring: KeyRing, key_id: str, job_id: str, key: str) -> str:
    """The token of a job created under ``key``: computable again, by the gateway only."""
    mac = hmac.new(keyring.token_key(key_id), f"{job_id}|{key}".encode(), hashlib.sha256)
    return f"{job_id}.{base64.urlsafe_b64encode(mac.digest()).decode().rstrip('=')}"


def _dump(entry: Entry) -> str:
    return json.dumps(entry.__dict__)
