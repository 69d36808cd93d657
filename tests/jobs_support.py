"""Writing jobs into storage the way the gateway does (sealed input, wrapped key), for tests
that exercise the worker or janitor without going through HTTP."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta

from shared import ids, keys
from shared.crypto import KeyRing, new_data_key, seal, unseal
from shared.manifest import ImageInfo, JobManifest, JobOptions, hash_token, load_manifest
from shared.manifest import save_manifest as _save
from shared.storage import ObjectStore


def random_keys_env() -> str:
    """A fresh CRYPTO_KEYS value (one random service key)."""
    return f"test-{os.urandom(3).hex()}:{base64.b64encode(os.urandom(32)).decode()}"


def keyring() -> KeyRing:
    """A key ring with one random service key."""
    key_id, _, encoded = random_keys_env().partition(":")
    return KeyRing({key_id: base64.b64decode(encoded)})


def store_job(
    store: ObjectStore,
    ring: KeyRing,
    data: bytes,
    options: JobOptions,
    *,
    created: datetime | None = None,
    width: int = 24,
    height: int = 16,
) -> str:
    """Store an input and its manifest as the gateway would; return the job id."""
    created = created or datetime.now(UTC)
    job_id = ids.new_job_id(int(created.timestamp() * 1000))
    data_key = new_data_key()
    store.put(keys.job_key(job_id, keys.INPUT), seal(data_key, data, job_id=job_id, name="input"))
    _save(
        store,
        JobManifest(
            id=job_id,
            created_at=created,
            expires_at=created + timedelta(hours=24),
            updated_at=created,
            options=options,
            token_sha256=hash_token("t"),
            input=ImageInfo(width=width, height=height, format="PNG", bytes=len(data)),
            data_key=ring.wrap(data_key, job_id=job_id),
        ),
    )
    return job_id


def read_result(store: ObjectStore, ring: KeyRing, job_id: str) -> bytes:
    """Decrypt a job's stored result."""
    manifest = load_manifest(store, job_id)
    assert manifest is not None
    data_key = ring.unwrap(manifest.data_key, job_id=job_id)
    return unseal(
        data_key, store.get(keys.job_key(job_id, keys.RESULT)), job_id=job_id, name="result"
    )
