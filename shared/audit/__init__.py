"""The deletion audit log: signed, hash-chained records, anchored where writers cannot reach.

Each writing process keeps its own chain of segments in the audit bucket
(``audit/chains/<chain>/<first seq>.jsonl``). Every record carries its sequence number, the
hash of the previous record and its own hash; the last record of each segment is signed with
the writing service's Ed25519 key; after each append a signed checkpoint (chain, seq, head
hash, time) goes to the anchor store, which the bucket's writers cannot rewrite (an S3 Object
Lock bucket, or an append-only file outside the storage root). The anchor store also
registers every chain, so that a whole chain cannot disappear unnoticed.

``python -m janitor verify-audit`` checks everything with public keys only; the janitor runs
an incremental verification on its own cadence, outside the sweep, and compacts records older
than ``AUDIT_RETENTION_DAYS`` into signed summaries. See docs/audit.md.

A record proves a deletion and holds nothing that re-identifies a person: the job id, the
keys, whether each object was present and its size class (never its exact size), the reason,
the job's age and the time.
"""

from shared.audit.anchors import Anchor, AnchorCursor, AnchorStatus, FileAnchor
from shared.audit.compaction import CompactionResult, compact
from shared.audit.errors import AnchorUnavailable, AnchorUnprotected
from shared.audit.findings import CODES, Finding
from shared.audit.records import (
    DELETION_REASONS,
    AuditRecord,
    ChainRegistration,
    ChainSummary,
    Checkpoint,
    DeletedObject,
    Deletion,
    DeletionReason,
    SizeClass,
    genesis_hash,
    size_class_of,
)
from shared.audit.segments import (
    AUDIT_ROOT,
    CHAINS_ROOT,
    read_recent_records,
    read_records,
)
from shared.audit.settings import AuditSettings
from shared.audit.signing import SigningKeys, VerifyKeys, new_signing_key_line
from shared.audit.startup import check_anchor
from shared.audit.verify import VerifyReport, verify
from shared.audit.writer import (
    AuditConfig,
    AuditLog,
    anchor_for,
    configure,
    current_config,
    writer_for,
)

__all__ = [
    "AUDIT_ROOT",
    "CHAINS_ROOT",
    "CODES",
    "Anchor",
    "AnchorCursor",
    "AnchorStatus",
    "AnchorUnavailable",
    "AnchorUnprotected",
    "AuditConfig",
    "AuditLog",
    "AuditRecord",
    "AuditSettings",
    "ChainRegistration",
    "ChainSummary",
    "Checkpoint",
    "CompactionResult",
    "DeletedObject",
    "Deletion",
    "DELETION_REASONS",
    "DeletionReason",
    "FileAnchor",
    "Finding",
    "SigningKeys",
    "SizeClass",
    "VerifyKeys",
    "VerifyReport",
    "anchor_for",
    "check_anchor",
    "compact",
    "configure",
    "current_config",
    "genesis_hash",
    "new_signing_key_line",
    "read_recent_records",
    "read_records",
    "size_class_of",
    "verify",
    "writer_for",
]
