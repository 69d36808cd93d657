"""Walking one chain's segments and summaries: hashes, links, order, signatures.

Used by verification (from the start of a chain, or from where the last verification ended)
and by compaction (which must not summarise anything that does not verify).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from shared.audit.findings import Finding
from shared.audit.records import AuditRecord, ChainSummary, genesis_hash
from shared.audit.segments import ChainItem, segment_lines
from shared.audit.signing import VerifyKeys
from shared.storage import ObjectStore


@dataclass
class WalkPosition:
    """Where a walk stands: the next expected sequence number and the hash it links to."""

    next_seq: int
    prev_hash: str | None  # None after a gap: the next link cannot be checked
    #: The segment or summary holding the last record walked.
    item_key: str | None = None
    #: The last segment was empty: the gap up to the next one is already reported.
    after_emptied: bool = False


@dataclass
class WalkResult:
    """What walking a chain found."""

    position: WalkPosition
    records: int = 0
    summarised: int = 0
    findings: list[Finding] = field(default_factory=list)
    #: sequence number -> record hash, only for the numbers asked for (anchored heads).
    hashes: dict[int, str] = field(default_factory=dict)


def start_of(chain: str) -> WalkPosition:
    """The position before a chain's first record."""
    return WalkPosition(0, genesis_hash(chain))


def walk_chain(
    store: ObjectStore,
    chain: str,
    items: Iterable[ChainItem],
    keys: VerifyKeys,
    *,
    start: WalkPosition,
    remember: Collection[int] = (),
    on_record: Callable[[AuditRecord], None] | None = None,
    on_summary: Callable[[ChainSummary], None] | None = None,
) -> WalkResult:
    """Check ``items`` (sorted) from ``start``; items wholly before it are skipped."""
    result = WalkResult(WalkPosition(start.next_seq, start.prev_hash, start.item_key))
    pos = result.position
    for item in items:
        if item.summary:
            _walk_summary(store, chain, item, keys, result, remember, on_summary)
            continue
        if item.first < pos.next_seq:
            continue  # already walked, or covered by a summary (deleted at the next compaction)
        if item.first > pos.next_seq:
            if not pos.after_emptied:
                result.findings.append(
                    Finding("segment_removed", chain, f"records {pos.next_seq}..{item.first - 1}")
                )
            pos.next_seq, pos.prev_hash = item.first, None
        pos.after_emptied = False
        _walk_segment(store, chain, item, keys, result, remember, on_record)
    return result


def _walk_segment(
    store: ObjectStore,
    chain: str,
    item: ChainItem,
    keys: VerifyKeys,
    result: WalkResult,
    remember: Collection[int],
    on_record: Callable[[AuditRecord], None] | None,
) -> None:
    pos = result.position
    lines = segment_lines(store, item.key)
    if not lines:
        result.findings.append(Finding("segment_emptied", item.key))
        pos.after_emptied = True  # the records up to the next segment are this one's
        return
    last: AuditRecord | None = None
    for n, line in enumerate(lines):
        try:
            record = AuditRecord.parse_stored(line)
        except ValidationError:
            result.findings.append(Finding("unreadable", f"{item.key} line {n + 1}"))
            pos.next_seq, pos.prev_hash, last = pos.next_seq + 1, None, None
            continue
        result.records += 1
        where = f"{chain} seq {record.seq}"
        if record.chain != chain or record.seq != pos.next_seq:
            result.findings.append(
                Finding("reordered", where, f"expected seq {pos.next_seq} in {item.key}")
            )
        if record.hash != record.computed_hash():
            result.findings.append(Finding("edited", where))
        elif pos.prev_hash is not None and record.prev_hash != pos.prev_hash:
            result.findings.append(Finding("broken_link", where))
        if record.signature is not None:
            _check_signature(keys, record, where, result)
        if record.seq in remember:
            result.hashes[record.seq] = record.hash
        if on_record is not None:
            on_record(record)
        pos.next_seq, pos.prev_hash, last = record.seq + 1, record.hash, record
    pos.item_key = item.key
    if last is not None and last.signature is None:
        result.findings.append(Finding("unsigned_segment", item.key))


def _walk_summary(
    store: ObjectStore,
    chain: str,
    item: ChainItem,
    keys: VerifyKeys,
    result: WalkResult,
    remember: Collection[int],
    on_summary: Callable[[ChainSummary], None] | None,
) -> None:
    pos = result.position
    assert item.last is not None
    if item.last < pos.next_seq:
        return  # superseded by a longer summary, or walked before
    try:
        summary = ChainSummary.model_validate_json(store.get(item.key))
    except ValidationError:
        result.findings.append(Finding("unreadable", item.key))
        return
    where = f"{chain} summary {item.first}..{item.last}"
    if (summary.chain, summary.first_seq, summary.last_seq) != (chain, item.first, item.last):
        result.findings.append(Finding("reordered", where, "content names another range"))
    _check_signature(keys, summary, where, result)
    if item.first > pos.next_seq:
        result.findings.append(
            Finding("segment_removed", chain, f"records {pos.next_seq}..{item.first - 1}")
        )
    elif (
        item.first == pos.next_seq
        and pos.prev_hash is not None
        and summary.prev_hash != pos.prev_hash
    ):
        result.findings.append(Finding("broken_link", where))
    if summary.last_seq in remember:
        result.hashes[summary.last_seq] = summary.last_hash
    result.summarised += summary.records
    if on_summary is not None:
        on_summary(summary)
    pos.next_seq, pos.prev_hash, pos.item_key = summary.last_seq + 1, summary.last_hash, item.key


def _check_signature(
    keys: VerifyKeys, statement: AuditRecord | ChainSummary, where: str, result: WalkResult
) -> None:
    verdict = keys.check(statement)
    if verdict == "bad_signature":
        result.findings.append(Finding("bad_signature", where))
    elif verdict == "unknown_key":
        result.findings.append(Finding("unknown_key", where, f"key id {statement.key_id}"))
    elif verdict == "unsigned" and isinstance(statement, ChainSummary):
        result.findings.append(Finding("bad_signature", where, "summary is unsigned"))
