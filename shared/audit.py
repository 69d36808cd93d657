"""The deletion audit log: append-only, hash-chained records in the audit bucket.

Each writing process keeps its own chain (gateway replicas and the janitor write at the same
time, and a single global chain would need a lock across them). A chain is a series of
segments ``audit/chains/<chain>/<first seq>.jsonl``; every record carries its sequence number,
the hash of the previous record of its chain and its own hash, so an edited, removed or
reordered record breaks the chain and ``python -m janitor verify-audit`` reports it.

A record names the job, the objects and their sizes, the job's age, why and when it was
deleted. It never holds image content or anything that identifies a person.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, ValidationError

from shared.storage import ObjectStore

AUDIT_ROOT = "audit/"
CHAINS_ROOT = f"{AUDIT_ROOT}chains/"
DeletionReason = Literal[
    "expired", "user_request", "operator_purge", "orphan", "failed_job", "incomplete_upload"
]
DELETION_REASONS: tuple[DeletionReason, ...] = get_args(DeletionReason)
_SEGMENT_RE = re.compile(r"^audit/chains/([A-Za-z0-9._-]+)/(\d{12})\.jsonl$")


class DeletedObject(BaseModel):
    """One object that a deletion removed, or that it covers without having seen it."""

    key: str
    bytes: int
    #: ``stored``: the object existed and was removed; ``partial``: a multipart upload under
    #: way, aborted; ``absent``: part of the job's layout, not stored at the time (a worker
    #: that writes it later finds the job deleted and removes it).
    state: Literal["stored", "partial", "absent"] = "stored"


class Deletion(BaseModel):
    """What is known about a deletion before it is chained."""

    event: Literal["job_deleted"] = "job_deleted"
    time: datetime
    job_id: str
    reason: DeletionReason
    service: str
    age_seconds: float | None
    objects: list[DeletedObject]
    note: str | None = None


class AuditRecord(Deletion):
    """A chained audit record."""

    chain: str
    seq: int
    prev_hash: str
    hash: str = ""

    def computed_hash(self) -> str:
        """sha256 over the record's canonical JSON without its own hash."""
        body = self.model_dump_json(exclude={"hash"})
        return hashlib.sha256(body.encode()).hexdigest()

    def digest(self) -> str:
        """The record's hash (quoted on deletion receipts)."""
        return self.hash


def genesis_hash(chain: str) -> str:
    """The ``prev_hash`` of a chain's first record."""
    return hashlib.sha256(f"picupscaler-audit-genesis:{chain}".encode()).hexdigest()


class AuditLog:
    """One process's chain in the audit bucket; thread-safe."""

    def __init__(self, store: ObjectStore, *, service: str) -> None:
        self.store = store
        host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:40]
        self.chain = f"{service}-{host}-{secrets.token_hex(4)}"
        self._seq = 0
        self._prev = genesis_hash(self.chain)
        self._lock = threading.Lock()

    def append(self, deletions: list[Deletion]) -> list[AuditRecord]:
        """Chain and write ``deletions`` as one new segment; nothing advances if the write fails."""
        with self._lock:
            records: list[AuditRecord] = []
            prev = self._prev
            for offset, deletion in enumerate(deletions):
                record = AuditRecord(
                    **deletion.model_dump(),
                    chain=self.chain,
                    seq=self._seq + offset,
                    prev_hash=prev,
                )
                record.hash = record.computed_hash()
                prev = record.hash
                records.append(record)
            if not records:
                return []
            key = f"{CHAINS_ROOT}{self.chain}/{self._seq:012d}.jsonl"
            body = "".join(r.model_dump_json() + "\n" for r in records).encode()
            self.store.put(key, body, "application/x-ndjson")
            self._seq += len(records)
            self._prev = prev
            return records


_writers: dict[tuple[int, str], AuditLog] = {}
_writers_lock = threading.Lock()


def writer_for(store: ObjectStore, service: str) -> AuditLog:
    """The process-wide chain of ``service`` in ``store`` (created on first use)."""
    with _writers_lock:
        key = (id(store), service)
        if key not in _writers:
            _writers[key] = AuditLog(store, service=service)
        return _writers[key]


def read_records(store: ObjectStore) -> Iterator[AuditRecord]:
    """Yield every parseable audit record, chain by chain, in chain order."""
    for segments in _segments_by_chain(store).values():
        for _, key in segments:
            for line in store.get(key).decode().splitlines():
                if line.strip():
                    yield AuditRecord.model_validate_json(line)


def _segments_by_chain(store: ObjectStore) -> dict[str, list[tuple[int, str]]]:
    chains: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for info in store.list(CHAINS_ROOT):
        match = _SEGMENT_RE.match(info.key)
        if match:
            chains[match.group(1)].append((int(match.group(2)), info.key))
    for segments in chains.values():
        segments.sort()
    return dict(chains)


@dataclass
class VerifyReport:
    """The outcome of checking every chain."""

    chains: int = 0
    records: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every chain verified."""
        return not self.problems


def verify(store: ObjectStore) -> VerifyReport:
    """Check every chain: hashes, links, contiguous sequence numbers, no stray objects."""
    report = VerifyReport()
    for info in store.list(AUDIT_ROOT):
        if not _SEGMENT_RE.match(info.key):
            report.problems.append(f"{info.key}: not an audit segment")
    for chain, segments in sorted(_segments_by_chain(store).items()):
        report.chains += 1
        expected_seq, prev = 0, genesis_hash(chain)
        for first_seq, key in segments:
            if first_seq != expected_seq:
                report.problems.append(
                    f"{chain}: gap, records {expected_seq}..{first_seq - 1} are missing"
                )
                expected_seq = first_seq
                prev = ""  # unknown after a gap; the next record's link cannot be checked
            for n, line in enumerate(store.get(key).decode().splitlines()):
                try:
                    record = AuditRecord.model_validate_json(line)
                except ValidationError:
                    report.problems.append(f"{key} line {n + 1}: unreadable record")
                    expected_seq += 1
                    prev = ""
                    continue
                report.records += 1
                where = f"{chain} seq {record.seq}"
                if record.chain != chain or record.seq != expected_seq:
                    report.problems.append(f"{where}: out of place (expected seq {expected_seq})")
                if record.hash != record.computed_hash():
                    report.problems.append(f"{where}: content does not match its hash (edited)")
                if prev and record.prev_hash != prev:
                    report.problems.append(f"{where}: does not link to the previous record")
                expected_seq, prev = record.seq + 1, record.hash
    return report
