"""What the audit log stores: deletion records, and the signed statements about chains.

A record holds what proves a deletion and nothing that re-identifies a person: the job id, the
object keys, whether each object was present and its *size class* (never its exact size), the
reason, the job's age and the time. Records are hash-chained (``prev_hash`` → ``hash``); the
last record of each written segment carries an Ed25519 signature over its hash, which covers
the whole chain up to it. Checkpoints, chain registrations and compaction summaries are signed
statements too, each with its own domain prefix so that a signature on one kind can never be
passed off as another.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 2
DeletionReason = Literal[
    "expired", "user_request", "operator_purge", "orphan", "failed_job", "incomplete_upload"
]
DELETION_REASONS: tuple[DeletionReason, ...] = get_args(DeletionReason)
#: Coarse size classes: enough to see that an image was there, too coarse to match a file.
SizeClass = Literal["0", "<1MB", "1-10MB", "10-100MB", ">=100MB"]
_MB = 1000 * 1000


def size_class_of(size: int) -> SizeClass:
    """The size class an object of ``size`` bytes falls in."""
    if size <= 0:
        return "0"
    if size < _MB:
        return "<1MB"
    if size < 10 * _MB:
        return "1-10MB"
    if size < 100 * _MB:
        return "10-100MB"
    return ">=100MB"


class DeletedObject(BaseModel):
    """One object a deletion covered: present then (with its size class) or already absent.

    ``DeletedObject(key=..., bytes=n)`` records the size class of ``n``; the exact size stays
    in this process (:attr:`bytes`, for sweep totals) and is never written to the audit log.
    ``present=False`` names an object the job had or could still get (a result not written
    yet, a partial upload) that was not there at deletion.
    """

    model_config = ConfigDict(extra="forbid")

    key: str
    present: bool = True
    #: A multipart upload under way at deletion (aborted): its parts held data, size unknown.
    partial: bool = False
    size_class: SizeClass | None = None
    #: The exact size, in this process only: never serialised, refused in stored records.
    exact_bytes: int | None = Field(default=None, alias="bytes", exclude=True, repr=False)

    def model_post_init(self, context: Any) -> None:
        """Derive the size class from an exact size; refuse what a record must not hold.

        A hook rather than a validator: it costs little on the path that parses a million
        stored records.
        """
        if not self.present and self.size_class is not None:
            raise ValueError("an object not present at deletion has no size class")
        if self.exact_bytes is None:
            return
        if isinstance(context, dict) and context.get("stored"):
            raise ValueError("a stored audit record carries size classes, not sizes")
        if not self.present:
            raise ValueError("an object not present at deletion has no size")
        if self.size_class is None:
            self.size_class = size_class_of(self.exact_bytes)

    @property
    def bytes(self) -> int:
        """The exact size known to this process when it recorded the deletion (0 otherwise)."""
        return self.exact_bytes or 0


class Deletion(BaseModel):
    """What is known about a deletion before it is chained."""

    model_config = ConfigDict(extra="forbid")

    v: int = FORMAT_VERSION
    event: Literal["job_deleted"] = "job_deleted"
    time: datetime
    job_id: str
    reason: DeletionReason
    service: str
    age_seconds: float | None
    objects: list[DeletedObject]
    #: An operator's reason for a purge: a case number, never a person's details.
    note: str | None = None


class AuditRecord(Deletion):
    """A chained audit record; the last one of each segment is signed."""

    chain: str
    seq: int
    prev_hash: str
    hash: str = ""
    key_id: str | None = None
    signature: str | None = None

    def computed_hash(self) -> str:
        """sha256 over the record's canonical JSON without its hash and signature."""
        body = self.model_dump_json(exclude={"hash", "key_id", "signature"})
        return hashlib.sha256(body.encode()).hexdigest()

    def digest(self) -> str:
        """The record's hash (quoted on deletion receipts)."""
        return self.hash

    @classmethod
    def parse_stored(cls, line: str | bytes) -> AuditRecord:
        """Parse a record as stored (strictly: no exact sizes, no unknown fields)."""
        return cls.model_validate_json(line, context={"stored": True})

    def signed_message(self) -> bytes:
        """What the segment signature covers: the hash, which chains everything before it."""
        return b"picupscaler-audit-record\n" + self.hash.encode()


class SignedStatement(BaseModel):
    """A statement signed by a service's audit key (checkpoint, registration, summary)."""

    model_config = ConfigDict(extra="forbid")

    key_id: str | None = None
    signature: str | None = None

    def signed_message(self) -> bytes:
        """Domain prefix (the statement's kind) plus its canonical JSON without the signature."""
        kind = getattr(self, "kind", type(self).__name__)
        body = self.model_dump_json(exclude={"signature"})
        return f"picupscaler-audit-{kind}\n".encode() + body.encode()


class ChainRegistration(SignedStatement):
    """A chain exists: written to the anchor store before the chain's first segment."""

    kind: Literal["registration"] = "registration"
    chain: str
    service: str
    time: datetime


class Checkpoint(SignedStatement):
    """The head of a chain after an append: written where the audit bucket's writers cannot
    rewrite it, so that truncation or rewriting of the chain is detectable."""

    kind: Literal["checkpoint"] = "checkpoint"
    chain: str
    seq: int
    head: str
    time: datetime


class ChainSummary(SignedStatement):
    """Records ``first_seq..last_seq`` of a chain compacted after the audit retention period:
    counts by day and reason, and the hashes that let the rest of the chain still link."""

    kind: Literal["summary"] = "summary"
    chain: str
    first_seq: int
    last_seq: int
    prev_hash: str
    last_hash: str
    records: int
    first_time: datetime
    last_time: datetime
    #: ``{"YYYY-MM-DD": {"expired": n, ...}}``
    by_day: dict[str, dict[str, int]]
    compacted_at: datetime


def genesis_hash(chain: str) -> str:
    """The ``prev_hash`` of a chain's first record."""
    return hashlib.sha256(f"picupscaler-audit-genesis:{chain}".encode()).hexdigest()
