"""Verifying the audit log against its anchors: fully, or from where the last run ended.

A full verification reads every segment and summary and the whole anchor store. An
incremental one starts from the signed state the previous run saved (per chain: the next
sequence number, the hash it must link to, the newest anchored checkpoint) and reads only what
was appended since, plus one listing or stat per chain, so its cost follows the new records,
not the history. Both check the registry of chains (a chain cannot vanish unnoticed) and
compare the anchor store with the saved state (a rolled-back checkpoint is found).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import structlog
from pydantic import BaseModel, ValidationError

from shared.audit.anchors import Anchor, AnchorCursor, AnchorReading, AnchorStatus
from shared.audit.chainwalk import WalkPosition, start_of, walk_chain
from shared.audit.findings import Finding
from shared.audit.records import SignedStatement
from shared.audit.segments import (
    STATE_KEY,
    ChainItem,
    chain_items,
    chain_names,
    items_by_chain,
    parse_item,
)
from shared.audit.signing import SigningKeys, VerifyKeys
from shared.audit.writer import anchor_for, current_config
from shared.errors import ObjectNotFound
from shared.storage import ObjectStore

log = structlog.get_logger(__name__)


class ChainState(BaseModel):
    """Where verification of one chain ended."""

    next_seq: int
    prev_hash: str
    item_key: str | None
    anchored_seq: int = -1
    anchored_head: str | None = None


class VerifierState(SignedStatement):
    """The last clean verification, signed by the verifier (so it cannot be moved forward)."""

    kind: Literal["verifier-state"] = "verifier-state"
    time: datetime
    chains: dict[str, ChainState]
    anchor: AnchorCursor


@dataclass
class VerifyReport:
    """The outcome of a verification."""

    full: bool
    chains: int = 0
    records: int = 0
    summarised: int = 0
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    anchored_seq: dict[str, int] = field(default_factory=dict)
    verified_seq: dict[str, int] = field(default_factory=dict)
    anchor: AnchorStatus | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing suggests the log was altered."""
        return not self.findings

    @property
    def problems(self) -> list[str]:
        """The findings as printable lines."""
        return [str(f) for f in self.findings]

    @property
    def codes(self) -> set[str]:
        """The distinct finding codes."""
        return {f.code for f in self.findings}


def verify(
    store: ObjectStore,
    *,
    incremental: bool = False,
    keys: VerifyKeys | None = None,
    anchor: Anchor | None = None,
    save_state_with: SigningKeys | None = None,
) -> VerifyReport:
    """Verify the audit log in ``store`` against its anchor.

    ``incremental`` starts from the saved state (a full run when there is none). A clean run
    saves a new state when given the verifier's signing keys; a run with findings keeps the
    old one, so the same evidence is reported again next time.
    """
    started = time.perf_counter()
    keys = keys or current_config().verify_keys
    anchor = anchor or anchor_for(store)
    state = load_state(store, keys)
    report = VerifyReport(full=not incremental or isinstance(state, Finding) or state is None)
    if isinstance(state, Finding):
        report.findings.append(state)
        state = None
    report.anchor = anchor.status()
    reading = anchor.read(
        state.anchor if state else None,
        full=report.full,
        accept=lambda statement: keys.check(statement) == "ok",
    )
    report.findings.extend(reading.findings)
    registered, checkpoints = _anchored(reading, state, keys, report)
    reading.cursor.registered = sorted(registered)
    reading.cursor.checkpoints = {chain: seq for chain, (seq, _) in checkpoints.items()}

    if report.full:
        items, strays = items_by_chain(store)
        report.findings.extend(Finding("stray_object", key) for key in strays)
        in_bucket = set(items)
    else:
        in_bucket = set(chain_names(store))
        items = {}
    new_chains: dict[str, ChainState] = {}
    everything = registered | in_bucket | set(checkpoints) | set(state.chains if state else ())
    for chain in sorted(everything):
        previous = state.chains.get(chain) if state else None
        checkpoint = checkpoints.get(chain)
        if previous is not None and previous.anchored_seq > (checkpoint[0] if checkpoint else -1):
            report.findings.append(
                Finding(
                    "checkpoint_rolled_back",
                    chain,
                    f"anchored seq {checkpoint[0] if checkpoint else 'none'}, "
                    f"a previous verification saw {previous.anchored_seq}",
                )
            )
        if chain not in in_bucket:
            if checkpoint is not None or previous is not None:
                report.findings.append(Finding("chain_removed", chain))
            else:
                report.warnings.append(f"{chain}: registered, nothing written yet")
            continue
        report.chains += 1
        if chain not in registered:
            report.findings.append(Finding("unregistered_chain", chain))
        chain_list = items.get(chain)
        new_chains[chain] = _verify_chain(
            store, chain, chain_list, previous, checkpoint, keys, report
        )
    report.seconds = time.perf_counter() - started
    if report.ok and save_state_with is not None:
        save_state(store, save_state_with, new_chains, reading.cursor)
    return report


def _anchored(
    reading: AnchorReading, state: VerifierState | None, keys: VerifyKeys, report: VerifyReport
) -> tuple[set[str], dict[str, tuple[int, str]]]:
    """Registered chains and the newest anchored (seq, head) per chain, signatures checked."""
    registered = set(state.anchor.registered) if state and not report.full else set()
    for chain, registration in reading.registrations.items():
        verdict = keys.check(registration)
        if verdict == "ok":
            registered.add(chain)
        else:
            report.findings.append(_signature_finding(verdict, f"registration of {chain}"))
    checkpoints: dict[str, tuple[int, str]] = {}
    if state and not report.full:
        for chain, chain_state in state.chains.items():
            if chain_state.anchored_head is not None:
                checkpoints[chain] = (chain_state.anchored_seq, chain_state.anchored_head)
    for chain, by_key_id in reading.checkpoints.items():
        for checkpoint in by_key_id.values():
            verdict = keys.check(checkpoint)
            if verdict != "ok":
                report.findings.append(
                    _signature_finding(verdict, f"checkpoint {chain} seq {checkpoint.seq}")
                )
            elif chain not in checkpoints or checkpoint.seq >= checkpoints[chain][0]:
                checkpoints[chain] = (checkpoint.seq, checkpoint.head)
    report.anchored_seq = {chain: seq for chain, (seq, _) in checkpoints.items()}
    return registered, checkpoints


def _signature_finding(verdict: str, where: str) -> Finding:
    return Finding("unknown_key" if verdict == "unknown_key" else "bad_signature", where)


def _verify_chain(
    store: ObjectStore,
    chain: str,
    listed: list[ChainItem] | None,
    previous: ChainState | None,
    checkpoint: tuple[int, str] | None,
    keys: VerifyKeys,
    report: VerifyReport,
) -> ChainState:
    start = start_of(chain)
    if previous is not None and not report.full:
        start = WalkPosition(previous.next_seq, previous.prev_hash, previous.item_key)
        anchored_seq = checkpoint[0] if checkpoint else -1
        if anchored_seq < previous.next_seq and _unchanged(store, chain, previous):
            report.verified_seq[chain] = previous.next_seq - 1
            return previous  # nothing new, and the last verified segment is still there
    if listed is None:
        listed = _items_since(store, chain, previous if not report.full else None)
    if previous is not None and not report.full and _vanished(listed, previous):
        report.findings.append(Finding("segment_removed", previous.item_key or chain))
    remember = {checkpoint[0]} if checkpoint else set()
    walked = walk_chain(store, chain, listed, keys, start=start, remember=remember)
    report.records += walked.records
    report.summarised += walked.summarised
    report.findings.extend(walked.findings)
    last_seq = walked.position.next_seq - 1
    report.verified_seq[chain] = last_seq
    if checkpoint is not None:
        seq, head = checkpoint
        if last_seq < seq:
            report.findings.append(
                Finding("truncated_tail", chain, f"records {last_seq + 1}..{seq} are missing")
            )
        elif seq in walked.hashes and walked.hashes[seq] != head:
            report.findings.append(Finding("head_mismatch", f"{chain} seq {seq}"))
        if last_seq > seq:
            report.warnings.append(f"{chain}: records {seq + 1}..{last_seq} not anchored yet")
    elif last_seq >= 0:
        report.warnings.append(f"{chain}: no checkpoint anchored yet")
    return ChainState(
        next_seq=walked.position.next_seq,
        prev_hash=walked.position.prev_hash or "",
        item_key=walked.position.item_key,
        anchored_seq=checkpoint[0] if checkpoint else -1,
        anchored_head=checkpoint[1] if checkpoint else None,
    )


def _items_since(store: ObjectStore, chain: str, previous: ChainState | None) -> list[ChainItem]:
    """The chain's items after the last verified one (all of them when that one is gone, or
    when what follows does not start where verification ended)."""
    key = previous.item_key if previous is not None else None
    if previous is not None and key is not None and store.stat(key) is not None:
        items = chain_items(store, chain, start_after=key)
        last_verified = parse_item(key)
        if last_verified is not None and (not items or items[0].first == previous.next_seq):
            return [last_verified, *items]
    return chain_items(store, chain)


def _vanished(listed: list[ChainItem], previous: ChainState) -> bool:
    """True when the last verified item is gone and no summary took its place."""
    if previous.item_key is None or any(item.key == previous.item_key for item in listed):
        return False
    last = previous.next_seq - 1
    return not any(item.summary and item.first <= last <= (item.last or -1) for item in listed)


def _unchanged(store: ObjectStore, chain: str, previous: ChainState) -> bool:
    """True when the last verified item is still there and nothing follows it."""
    from shared.audit.segments import segment_key

    if previous.item_key is None or store.stat(previous.item_key) is None:
        return False
    return store.stat(segment_key(chain, previous.next_seq)) is None


def load_state(store: ObjectStore, keys: VerifyKeys) -> VerifierState | Finding | None:
    """The saved verification state; a Finding when it is there but not validly signed."""
    try:
        raw = store.get(STATE_KEY)
    except ObjectNotFound:
        return None
    try:
        state = VerifierState.model_validate_json(raw)
    except ValidationError:
        return Finding("state_invalid", STATE_KEY, "does not parse")
    verdict = keys.check(state)
    if verdict != "ok":
        return Finding("state_invalid", STATE_KEY, verdict)
    return state


def save_state(
    store: ObjectStore, signer: SigningKeys, chains: dict[str, ChainState], cursor: AnchorCursor
) -> None:
    """Sign and store where this verification ended."""
    state = VerifierState(time=datetime.now(UTC), chains=chains, anchor=cursor)
    signer.sign(state)
    store.put(STATE_KEY, state.model_dump_json().encode(), "application/json")
