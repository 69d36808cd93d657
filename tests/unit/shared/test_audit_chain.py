"""The audit log is signed, anchored and tamper-evident (local backend, function level).

The full tamper matrix, through ``python -m janitor verify-audit`` on the local backend and on
an S3 endpoint, is tests/integration/test_audit_tamper.py.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared import audit
from shared.audit import (
    AuditLog,
    AuditSettings,
    DeletedObject,
    Deletion,
    SigningKeys,
    VerifyKeys,
    read_records,
    verify,
)
from shared.audit.signing import parse_key_lines
from shared.errors import StorageUnavailable
from shared.storage.local import LocalStore

KEY = "janitor-test:" + base64.b64encode(bytes(range(32))).decode()


def deletion(n: int, when: datetime | None = None) -> Deletion:
    return Deletion(
        time=when or datetime(2026, 11, 26, 12, n % 60, tzinfo=UTC),
        job_id=f"{n:032x}",
        reason="expired",
        service="janitor",
        age_seconds=86400.0 + n,
        objects=[
            DeletedObject(key=f"jobs/x/{n}/input", bytes=100 + n),
            DeletedObject(key=f"jobs/x/{n}/result", bytes=12_000_000),
            DeletedObject(key=f"jobs/x/{n}/partial", present=False),
        ],
    )


@pytest.fixture(autouse=True)
def audit_key() -> audit.AuditConfig:
    return audit.configure(AuditSettings(signing_keys=KEY))


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "storage", "audit")
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
    assert report.anchored_seq and sorted(report.anchored_seq.values()) == [2, 5]
    assert len(list(read_records(store))) == 9


def test_records_hold_size_classes_and_absent_objects_not_sizes(store: LocalStore) -> None:
    raw = b"".join(p.read_bytes() for p in segments(store, "janitor"))
    assert b'"bytes"' not in raw and b"12000000" not in raw
    record = next(read_records(store))
    assert [(o.present, o.size_class) for o in record.objects] == [
        (True, "<1MB"),
        (True, "10-100MB"),
        (False, None),
    ]


def test_each_segment_is_signed_by_its_service_key(store: LocalStore) -> None:
    for path in segments(store, "janitor"):
        *middle, last = [json.loads(line) for line in path.read_text().splitlines()]
        assert last["key_id"] == "janitor-test" and last["signature"]
        assert all(r["signature"] is None for r in middle)


def test_an_auditor_with_public_keys_only_verifies(store: LocalStore, tmp_path: Path) -> None:
    service_keys = SigningKeys.from_settings(AuditSettings(signing_keys=KEY))
    assert service_keys is not None
    public = VerifyKeys(service_keys.public_keys())
    auditor = AuditSettings(verify_keys=",".join(public.lines()), generate_local_signing_key=False)
    config = audit.configure(auditor)
    assert config.signer is None
    assert verify(store).ok
    # …and cannot write: there is nothing to sign with.
    with pytest.raises(ValueError, match="signing key"):
        AuditLog(store, service="gateway")


def test_a_key_unknown_to_the_verifier_is_reported(store: LocalStore) -> None:
    other = "intruder:" + base64.b64encode(b"\x07" * 32).decode()
    forger = SigningKeys(parse_key_lines(other, what="k"))
    AuditLog(store, service="janitor", signer=forger).append([deletion(7)])
    report = verify(store)
    assert "unknown_key" in report.codes and not report.ok, report.problems


def test_rotation_keeps_old_segments_verifying(store: LocalStore) -> None:
    new_key = "janitor-2027:" + base64.b64encode(b"\x09" * 32).decode()
    audit.configure(AuditSettings(signing_keys=f"{new_key},{KEY}"))  # new key first: active
    [record] = AuditLog(store, service="janitor").append([deletion(50)])
    assert record.key_id == "janitor-2027"
    report = verify(store)
    assert report.ok and report.chains == 3, report.problems


def test_an_edited_record_is_detected(store: LocalStore) -> None:
    path = segments(store, "janitor")[1]
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    record["reason"] = "user_request"  # rewrite history, leave the hash
    path.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    assert "edited" in verify(store).codes


def test_an_exact_size_slipped_into_a_record_is_not_accepted(store: LocalStore) -> None:
    path = segments(store, "janitor")[1]
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    record["objects"][0]["bytes"] = 1
    path.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    assert "unreadable" in verify(store).codes


def test_a_failed_write_does_not_advance_the_chain(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "storage", "audit")
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


def test_an_unanchored_append_is_refused_and_anchored_by_the_next(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "storage", "audit")
    store.ensure_bucket()
    log = AuditLog(store, service="gateway")
    log.append([deletion(1)])
    working = log.anchor
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the anchor's folder should be")
    log.anchor = audit.FileAnchor(blocker / "anchors.jsonl")  # every write fails
    with pytest.raises(audit.AnchorUnavailable):
        log.append([deletion(2)])
    report = verify(store)
    assert report.ok and report.warnings, report.warnings  # recorded, not yet anchored
    log.anchor = working
    log.append([deletion(3)])
    report = verify(store)
    assert report.ok and not report.warnings and report.anchored_seq[log.chain] == 2


def test_incremental_verification_reads_only_what_is_new(store: LocalStore) -> None:
    config = audit.current_config()
    first = verify(store, save_state_with=config.signer)
    assert first.ok and first.full and first.records == 9
    AuditLog(store, service="worker").append([deletion(200), deletion(201)])
    audit.writer_for(store, "janitor").append([deletion(300)])
    second = verify(store, incremental=True, save_state_with=config.signer)
    assert second.ok and not second.full, second.problems
    assert second.records == 3 and second.chains == 4
    third = verify(store, incremental=True, save_state_with=config.signer)
    assert third.ok and third.records == 0


def test_compaction_summarises_old_records_and_the_chain_still_verifies(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "storage", "audit")
    store.ensure_bucket()
    config = audit.current_config()
    assert config.signer is not None
    log = AuditLog(store, service="janitor")
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    old = now - timedelta(days=100)
    log.append([deletion(1, old), deletion(2, old)])
    log.append([deletion(3, old + timedelta(days=1))])
    log.append([deletion(4, now - timedelta(days=1))])  # within retention: kept
    assert verify(store, save_state_with=config.signer).ok

    result = audit.compact(
        store,
        retention=timedelta(days=90),
        signer=config.signer,
        keys=config.verify_keys,
        now=now,
    )
    assert result.chains_compacted == 1 and result.records_summarised == 3
    assert [r.job_id for r in read_records(store)] == [f"{4:032x}"]
    summary = next((store.root / "audit" / "chains").glob("*/*.summary.json"))
    body = json.loads(summary.read_text())
    assert body["records"] == 3 and body["by_day"] == {
        old.date().isoformat(): {"expired": 2},
        (old + timedelta(days=1)).date().isoformat(): {"expired": 1},
    }
    assert "job_id" not in summary.read_text()
    log.append([deletion(5, now)])
    incremental = verify(store, incremental=True)
    assert incremental.ok and incremental.records == 1, incremental.problems
    full = verify(store)
    assert full.ok and full.summarised == 3 and full.records == 2, full.problems

    # A second compaction later folds the earlier summary in; edits to a summary are caught.
    audit.compact(
        store,
        retention=timedelta(days=0),
        signer=config.signer,
        keys=config.verify_keys,
        now=now + timedelta(days=1),
    )
    [summary] = (store.root / "audit" / "chains").glob("*/*.summary.json")
    assert json.loads(summary.read_text())["records"] == 5 and verify(store).ok
    summary.write_text(summary.read_text().replace('"expired":2', '"expired":1'))
    assert "bad_signature" in verify(store).codes
