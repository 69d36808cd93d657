"""Writing the audit log: one signed, anchored hash chain per writing process.

Each writing process keeps its own chain (gateway replicas, workers and the janitor write at
the same time, and one global chain would need a lock across them). An append is one segment:
the chain is registered in the anchor store before its first segment; the segment's last
record is signed; then a signed checkpoint (chain, seq, head hash, time) goes to the anchor
store. A deletion goes ahead only once its record is anchored (the caller retries otherwise).
"""

from __future__ import annotations

import re
import secrets
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter, Gauge

from shared.audit.anchors import Anchor, FileAnchor
from shared.audit.errors import AnchorUnavailable
from shared.audit.records import (
    AuditRecord,
    ChainRegistration,
    Checkpoint,
    Deletion,
    genesis_hash,
)
from shared.audit.segments import segment_key
from shared.audit.settings import AuditSettings
from shared.audit.signing import SigningKeys, VerifyKeys
from shared.storage import ObjectStore

log = structlog.get_logger(__name__)

HEAD_SEQ = Gauge(
    "picupscaler_audit_written_seq",
    "Sequence number of the last record this process appended and anchored, per chain.",
    ["chain"],
)
ANCHOR_FAILURES = Counter(
    "picupscaler_audit_anchor_failures_total",
    "Appends whose registration or checkpoint could not be anchored (retried by the caller).",
)


@dataclass
class AuditConfig:
    """What a process needs to write and check audit chains (read once, at first use)."""

    settings: AuditSettings
    #: None in an auditor's set-up (public keys only): it can verify, not write.
    signer: SigningKeys | None
    verify_keys: VerifyKeys

    def require_signer(self) -> SigningKeys:
        """The signing keys; ValueError when this process has none."""
        if self.signer is None:
            raise ValueError("no audit signing key (AUDIT_SIGNING_KEYS or AUDIT_SIGNING_KEY_FILE)")
        return self.signer

    @classmethod
    def from_settings(cls, settings: AuditSettings) -> AuditConfig:
        """Load the signing keys and the accepted public keys."""
        signer = SigningKeys.from_settings(settings)
        return cls(settings, signer, VerifyKeys.from_settings(settings, signer))


_config: AuditConfig | None = None
_config_lock = threading.Lock()


def configure(settings: AuditSettings | None = None) -> AuditConfig:
    """Set this process's audit configuration (each service calls it at start-up)."""
    global _config
    with _config_lock:
        _config = AuditConfig.from_settings(settings or AuditSettings())
        return _config


def current_config() -> AuditConfig:
    """The process's configuration; read from the environment if nobody configured it."""
    with _config_lock:
        config = _config
    return config if config is not None else configure()


def anchor_for(store: ObjectStore, settings: AuditSettings | None = None) -> Anchor:
    """The anchor that goes with the audit bucket ``store``.

    ``auto``: the S3 backend anchors in ``<audit bucket>-anchors`` (Object Lock); the local
    backend in ``<storage dir>.audit-anchors/<bucket>.jsonl``, beside the storage root.
    """
    from shared.storage.local import LocalStore
    from shared.storage.s3 import S3Store

    settings = settings or current_config().settings
    mode = settings.anchor
    if mode == "auto":
        mode = "s3" if isinstance(store, S3Store) else "file"
    if mode == "s3":
        if not isinstance(store, S3Store):
            raise ValueError("AUDIT_ANCHOR=s3 needs the S3 storage backend")
        from shared.audit.anchor_s3 import S3Anchor

        return S3Anchor(
            store.client,
            settings.anchor_bucket or f"{store.bucket}-anchors",
            lock_mode=settings.anchor_lock_mode,
            lock_days=settings.anchor_lock_days,
        )
    root = store.root.parent if isinstance(store, LocalStore) else None
    path = settings.anchor_file
    if path is None:
        if root is None:
            raise ValueError("AUDIT_ANCHOR=file needs AUDIT_ANCHOR_FILE with the S3 backend")
        path = root.parent / f"{root.name}.audit-anchors" / f"{store.bucket}.jsonl"
    return FileAnchor(path, storage_root=root, kernel_append_only=settings.anchor_file_append_only)


class AuditLog:
    """One process's chain in the audit bucket; thread-safe."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        service: str,
        signer: SigningKeys | None = None,
        anchor: Anchor | None = None,
    ) -> None:
        self.store = store
        self.service = service
        host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:40]
        self.chain = f"{service}-{host}-{secrets.token_hex(4)}"
        self.signer = signer or current_config().require_signer()
        self.anchor = anchor or anchor_for(store)
        self._seq = 0
        self._prev = genesis_hash(self.chain)
        self._registered = False
        self._lock = threading.Lock()

    def append(self, deletions: list[Deletion]) -> list[AuditRecord]:
        """Chain, sign, write and anchor ``deletions`` as one new segment.

        Nothing advances if the segment cannot be written. If it was written but its
        checkpoint could not be anchored, AnchorUnavailable is raised (the deletion must not
        go ahead) and the next append's checkpoint anchors both.
        """
        if not deletions:
            return []
        with self._lock:
            now = datetime.now(UTC)
            if not self._registered:
                self._register(now)
            records: list[AuditRecord] = []
            prev = self._prev
            for offset, deletion in enumerate(deletions):
                fields = deletion.model_dump(exclude={"objects"})
                # The objects themselves (not a dump) keep the in-process exact sizes.
                record = AuditRecord(
                    **fields,
                    objects=deletion.objects,
                    chain=self.chain,
                    seq=self._seq + offset,
                    prev_hash=prev,
                )
                record.hash = record.computed_hash()
                prev = record.hash
                records.append(record)
            self.signer.sign(records[-1])
            body = "".join(r.model_dump_json() + "\n" for r in records).encode()
            self.store.put(segment_key(self.chain, self._seq), body, "application/x-ndjson")
            self._seq += len(records)
            self._prev = prev
            checkpoint = Checkpoint(chain=self.chain, seq=records[-1].seq, head=prev, time=now)
            self.signer.sign(checkpoint)
            try:
                self.anchor.append(checkpoint)
            except AnchorUnavailable:
                ANCHOR_FAILURES.inc()
                log.error("audit_checkpoint_not_anchored", chain=self.chain, seq=checkpoint.seq)
                raise
            HEAD_SEQ.labels(chain=self.chain).set(checkpoint.seq)
            return records

    def _register(self, now: datetime) -> None:
        self.anchor.ensure(create=True)
        registration = ChainRegistration(chain=self.chain, service=self.service, time=now)
        self.signer.sign(registration)
        try:
            self.anchor.append(registration)
        except AnchorUnavailable:
            ANCHOR_FAILURES.inc()
            raise
        self._registered = True


_writers: dict[tuple[int, str], AuditLog] = {}
_writers_lock = threading.Lock()


def writer_for(store: ObjectStore, service: str) -> AuditLog:
    """The process-wide chain of ``service`` in ``store`` (created on first use)."""
    with _writers_lock:
        key = (id(store), service)
        writer = _writers.get(key)
        # id() of a collected store can be reused by a new one: check it is the same object.
        if writer is None or writer.store is not store:
            writer = _writers[key] = AuditLog(store, service=service)
        return writer
