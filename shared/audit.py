"""The deletion audit log: one record per deleted job, appended as segments to the audit bucket.

A record names the job, the objects and their sizes, the job's age, why and when it was deleted.
It never holds image content or anything that identifies a person.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from shared.storage import ObjectStore

AUDIT_ROOT = "audit/"
DeletionReason = Literal["expired", "user_request", "operator_purge", "orphan"]


class DeletedObject(BaseModel):
    """One object that a deletion removed."""

    key: str
    bytes: int


class AuditRecord(BaseModel):
    """What the audit log keeps about one deletion."""

    event: Literal["job_deleted"] = "job_deleted"
    time: datetime
    job_id: str
    reason: DeletionReason
    service: str
    age_seconds: float | None
    objects: list[DeletedObject]

    def digest(self) -> str:
        """Return the sha256 of the record's canonical JSON (quoted on receipts)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def append_records(store: ObjectStore, records: Iterable[AuditRecord], *, service: str) -> str:
    """Write ``records`` as one new JSON-lines segment; return the segment's key.

    Segments are never rewritten: each writer adds its own objects, so replicas need no lock.
    """
    batch = list(records)
    now = datetime.now(UTC)
    key = (
        f"{AUDIT_ROOT}{now:%Y/%m/%d}/{now:%Y%m%dT%H%M%S%fZ}-{service}-{secrets.token_hex(4)}.jsonl"
    )
    body = "".join(r.model_dump_json() + "\n" for r in batch).encode()
    store.put(key, body, "application/x-ndjson")
    return key


def read_records(store: ObjectStore, prefix: str = AUDIT_ROOT) -> Iterator[AuditRecord]:
    """Yield every audit record under ``prefix``, oldest segment first."""
    for info in sorted(store.list(prefix), key=lambda i: i.key.rsplit("/", 1)[-1]):
        for line in store.get(info.key).decode().splitlines():
            if line.strip():
                yield AuditRecord.model_validate_json(line)
