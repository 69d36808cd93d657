"""Object storage for the tests: S3 endpoint settings, keys, and jobs put there the way the
gateway puts them (through its own use case, :func:`gateway.submit.submit_job`)."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import dramatiq

from shared import keys
from shared.broker import build_broker
from shared.crypto import KeyRing, seal, unseal
from shared.manifest import load_manifest
from shared.models import catalogue
from shared.settings import BrokerSettings, JobSettings, StorageSettings
from shared.storage import ObjectStore

if TYPE_CHECKING:
    from gateway.submit import SubmittedJob


def s3_service_env(endpoint: str) -> dict[str, str]:
    """Environment pointing a service at an S3 endpoint (moto's test credentials), with
    buckets of its own."""
    suffix = uuid.uuid4().hex[:8]
    return {
        "STORAGE_BACKEND": "s3",
        "STORAGE_ENDPOINT": endpoint,
        "STORAGE_SECURE": "false",
        "STORAGE_ACCESS_KEY": "testing",
        "STORAGE_SECRET_KEY": "testing",
        "STORAGE_REGION": "us-east-1",
        "STORAGE_JOBS_BUCKET": f"jobs-{suffix}",
        "STORAGE_AUDIT_BUCKET": f"audit-{suffix}",
    }


def storage_settings(s3_env: Mapping[str, str]) -> StorageSettings:
    """The StorageSettings a service would read from ``s3_env`` (STORAGE_* variables)."""
    return StorageSettings.model_validate(
        {k.removeprefix("STORAGE_").lower(): v for k, v in s3_env.items()}
    )


def random_keys_env() -> str:
    """A fresh CRYPTO_KEYS value (one random service key)."""
    return f"test-{os.urandom(3).hex()}:{base64.b64encode(os.urandom(32)).decode()}"


def keyring() -> KeyRing:
    """A key ring with one random service key."""
    key_id, _, encoded = random_keys_env().partition(":")
    return KeyRing({key_id: base64.b64decode(encoded)})


def submitted_job(
    store: ObjectStore,
    ring: KeyRing,
    image: bytes,
    fields: Mapping[str, str] | None = None,
    *,
    created: datetime | None = None,
    expiry_seconds: int = 86400,
    broker: dramatiq.Broker | None = None,
    face_enhance_available: bool = False,
) -> SubmittedJob:
    """Put a job in storage exactly as the gateway does (its own use case), queued on ``broker``
    (an in-process Dramatiq broker nobody consumes, unless given)."""
    from gateway.submit import submit_job

    return submit_job(
        file=image,
        fields=dict(fields or {}),
        store=store,
        broker=broker or build_broker(BrokerSettings(), JobSettings()),
        keyring=ring,
        models=catalogue(),
        jobs=JobSettings(expiry_seconds=expiry_seconds),
        broker_settings=BrokerSettings(),
        max_scale=8,
        face_enhance_available=face_enhance_available,
        retry_after_seconds=1,
        now=created,
    )


def replace_input(store: ObjectStore, ring: KeyRing, job_id: str, plaintext: bytes) -> None:
    """Seal ``plaintext`` as the job's stored input, as if it had got past the gateway."""
    manifest = load_manifest(store, job_id)
    assert manifest is not None and manifest.data_key is not None
    data_key = ring.unwrap(manifest.data_key, job_id=job_id)
    sealed = seal(data_key, plaintext, job_id=job_id, name="input")
    store.put(keys.job_key(job_id, keys.INPUT), sealed)


def read_result(store: ObjectStore, ring: KeyRing, job_id: str) -> bytes:
    """Decrypt a job's stored result."""
    manifest = load_manifest(store, job_id)
    assert manifest is not None and manifest.data_key is not None
    data_key = ring.unwrap(manifest.data_key, job_id=job_id)
    return unseal(
        data_key, store.get(keys.job_key(job_id, keys.RESULT)), job_id=job_id, name="result"
    )
