"""Audit retention: records older than ``AUDIT_RETENTION_DAYS`` become a signed summary.

Per chain, the leading run of segments whose records are all past retention (together with
the chain's earlier summary, if any) is checked exactly as verification would check it, then
replaced by one :class:`ChainSummary`: counts by day and reason, the number of records, the
hash before the first and of the last record. The chain still verifies across it (the next
record links to ``last_hash``), while job ids and keys of old deletions are gone.

Safe to interrupt and to run twice at once: the new summary is written before anything is
deleted, and a summary or segment wholly covered by a longer summary is skipped by the
verifier and deleted by the next compaction.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from shared.audit.chainwalk import start_of, walk_chain
from shared.audit.findings import Finding
from shared.audit.records import AuditRecord, ChainSummary
from shared.audit.segments import ChainItem, chain_items, chain_names, segment_lines, summary_key
from shared.audit.signing import SigningKeys, VerifyKeys
from shared.storage import ObjectStore

log = structlog.get_logger(__name__)


@dataclass
class CompactionResult:
    """What a compaction did."""

    chains_compacted: int = 0
    records_summarised: int = 0
    objects_deleted: int = 0
    findings: list[Finding] = field(default_factory=list)


def compact(
    store: ObjectStore,
    *,
    retention: timedelta,
    signer: SigningKeys,
    keys: VerifyKeys,
    now: datetime | None = None,
) -> CompactionResult:
    """Summarise, chain by chain, the records older than ``retention``."""
    cutoff = (now or datetime.now(UTC)) - retention
    result = CompactionResult()
    for chain in chain_names(store):
        items = chain_items(store, chain)
        run = _expired_run(store, items, cutoff)
        covered = _covered(items)
        if len(run) > 1 or (run and not run[0].summary):
            _compact_run(store, chain, run, signer, keys, result)
            covered = _covered(chain_items(store, chain))
        if covered:
            store.delete_many(item.key for item in covered)
            result.objects_deleted += len(covered)
    return result


def _expired_run(store: ObjectStore, items: list[ChainItem], cutoff: datetime) -> list[ChainItem]:
    """The leading items whose records are all older than ``cutoff``."""
    run: list[ChainItem] = []
    for item in items:
        if item.summary:
            if run and not run[-1].summary:
                break  # a summary after segments: leave the layout to the verifier
            run.append(item)
            continue
        lines = segment_lines(store, item.key)
        if not lines or AuditRecord.parse_stored(lines[-1]).time >= cutoff:
            break
        run.append(item)
    return _without_covered(run)


def _covered(items: list[ChainItem]) -> list[ChainItem]:
    """Items wholly inside a longer summary (left behind by an interrupted compaction).

    Items sort by first seq, longest first; a segment never straddles a summary's end, so one
    that starts inside a summary's range lies wholly inside it.
    """
    covered = []
    reach = -1
    for item in items:
        if item.first <= reach and (item.last is None or item.last <= reach):
            covered.append(item)
        elif item.last is not None:
            reach = max(reach, item.last)
    return covered


def _without_covered(run: list[ChainItem]) -> list[ChainItem]:
    covered = {item.key for item in _covered(run)}
    return [item for item in run if item.key not in covered]


def _compact_run(
    store: ObjectStore,
    chain: str,
    run: list[ChainItem],
    signer: SigningKeys,
    keys: VerifyKeys,
    result: CompactionResult,
) -> None:
    by_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    times: list[datetime] = []
    summaries: list[ChainSummary] = []

    def count(record: AuditRecord) -> None:
        by_day[record.time.date().isoformat()][record.reason] += 1
        times.append(record.time)
        if len(times) > 2:  # keep only the earliest and the latest
            times[:] = [min(times), max(times)]

    walked = walk_chain(
        store,
        chain,
        run,
        keys,
        start=start_of(chain),
        on_record=count,
        on_summary=summaries.append,
    )
    if walked.findings or walked.position.prev_hash is None:
        result.findings.extend(walked.findings)
        log.error("audit_compaction_refused", chain=chain, problems=len(walked.findings))
        return
    for summary in summaries:
        for day, reasons in summary.by_day.items():
            for reason, n in reasons.items():
                by_day[day][reason] += n
    first_time = min([s.first_time for s in summaries] + times)
    last_time = max([s.last_time for s in summaries] + times)
    last_seq = walked.position.next_seq - 1
    summary = ChainSummary(
        chain=chain,
        first_seq=0,
        last_seq=last_seq,
        prev_hash=start_of(chain).prev_hash or "",
        last_hash=walked.position.prev_hash,
        records=walked.records + walked.summarised,
        first_time=first_time,
        last_time=last_time,
        by_day={day: dict(sorted(r.items())) for day, r in sorted(by_day.items())},
        compacted_at=datetime.now(UTC),
    )
    signer.sign(summary)
    body = summary.model_dump_json().encode()
    store.put(summary_key(chain, 0, last_seq), body, "application/json")
    result.chains_compacted += 1
    result.records_summarised += walked.records
    log.info("audit_chain_compacted", chain=chain, last_seq=last_seq, records=walked.records)
