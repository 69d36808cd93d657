"""What verification can find: one code per kind of evidence, each with its own message.

The codes are stable (operators alert on them, the tamper matrix in docs/audit.md lists them);
the text after the code says where.
"""

from __future__ import annotations

from dataclasses import dataclass

#: code -> what it means (printed by ``verify-audit`` and documented in docs/audit.md).
CODES: dict[str, str] = {
    "edited": "a record's content does not match its own hash",
    "broken_link": "a record does not link to the one before it (rehashed edit or splice)",
    "bad_signature": "a signature does not verify (content changed after signing)",
    "unknown_key": "signed by a key that is not in AUDIT_VERIFY_KEYS",
    "unsigned_segment": "a segment's last record carries no signature (truncated segment)",
    "reordered": "a record or segment is not where its sequence number says",
    "segment_removed": "records are missing between two segments",
    "segment_emptied": "a segment holds no records",
    "unreadable": "an object in the audit log does not parse",
    "truncated_tail": "a chain ends before its anchored checkpoint",
    "head_mismatch": "a chain's record at an anchored sequence number has another hash",
    "chain_removed": "a registered chain has no records left",
    "unregistered_chain": "a chain in the audit bucket was never registered in the anchor store",
    "checkpoint_rolled_back": "the anchor store holds less than a previous verification saw",
    "anchor_hidden": "someone deleted (hid) a checkpoint or registration in the anchor store",
    "anchor_overwritten": "a checkpoint or registration was written twice with other content",
    "anchor_unlocked": "an anchor object carries no Object Lock retention",
    "stray_object": "an object in the audit prefix that is not part of any chain",
    "state_invalid": "the saved verification state is not validly signed",
}


@dataclass(frozen=True)
class Finding:
    """One piece of evidence that the audit log was altered."""

    code: str
    where: str
    detail: str = ""

    def __str__(self) -> str:
        text = f"[{self.code}] {self.where}: {CODES[self.code]}"
        return f"{text} ({self.detail})" if self.detail else text
