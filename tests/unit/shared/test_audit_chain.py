"""The audit log is tamper-evident: edits, removals and reordering are reported."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.audit import AuditLog, DeletedObject, Deletion, read_records, verify
from shared.errors import StorageUnavailable
from shared.storage.local import LocalStore


def deletion(n: int) -> Deletion:
    return Deletion(
        time=datetime(2026, 11, 26, 12, n % 60, tzinfo=UTC),
        job_id=f"{n:032x}",
        reason="expired",
        service="janitor",
        age_seconds=86400.0 + n,
        objects=[DeletedObject(key=f"jobs/x/{n}/input", bytes=100 + n)],
    )


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path, "audit")
    store.ensure_bucket()
    janitor, gateway = AuditLog(store, service="janitor"), AuditLog(store, service="gateway")
    for n in range(0, 9, 3):  # two writers interleaved, several segments each
        janitor.append([deletion(n), deletion(n + 1)])
        gateway.append([deletion(100 + n)])
    return store


def segments(store: LocalStore, service: str) -> list[Path]:
    return sorted((store.root / "audit" / "chains").glob(f"{service}-*/*.jsonl"))


def test_intact_chains_verify(store: LocalStore) -> None:
    report = verify(store)
    assert report.ok, report.problems
    assert report.chains == 2 and report.records == 9
    assert len(list(read_records(store))) == 9


def test_an_edited_record_is_detected(store: LocalStore) -> None:
    path = segments(store, "janitor")[1]
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    record["objects"][0]["bytes"] = 1  # rewrite history
    path.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    problems = verify(store).problems
    assert any("edited" in p for p in problems), problems


def test_a_rehashed_edit_breaks_the_link(store: LocalStore) -> None:
    from shared.audit import AuditRecord

    path = segments(store, "janitor")[0]
    lines = path.read_text().splitlines()
    record = AuditRecord.model_validate_json(lines[1])
    record.reason = "user_request"
    record.hash = record.computed_hash()  # a careful forger recomputes the hash…
    path.write_text("\n".join([lines[0], record.model_dump_json()]) + "\n")
    problems = verify(store).problems
    assert any("does not link" in p for p in problems), problems  # …but the next link breaks


def test_a_removed_segment_is_a_gap(store: LocalStore) -> None:
    segments(store, "gateway")[1].unlink()
    problems = verify(store).problems
    assert any("gap" in p for p in problems), problems


def test_a_failed_write_does_not_advance_the_chain(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, "audit")
    log = AuditLog(store, service="janitor")
    store.root.parent.mkdir(parents=True, exist_ok=True)
    store.root.touch()  # the bucket "directory" is a file: writes fail
    with pytest.raises(StorageUnavailable):
        log.append([deletion(1)])
    store.root.unlink()
    store.ensure_bucket()
    log.append([deletion(2)])
    report = verify(store)
    assert report.ok and report.records == 1, report.problems
