"""The tamper matrix: each attack on the audit log → what ``python -m janitor verify-audit``
says and its exit code, on the local backend (anchor file) and on an S3 endpoint (moto's
server; anchors in an Object Lock bucket).

The history is written by the real writers (two chains, several segments each), a clean
verification saves its signed state (as the janitor's maintenance thread does), then the
attacker, who can write the audit bucket (and, on the local backend, the anchor file) but
holds no signing key, does one thing; verify-audit runs as its own process.
Set AUDIT_TAMPER_MATRIX_OUT=path to write the matrix as Markdown (docs/audit.md has it).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from minio.error import S3Error

from shared import audit
from shared.audit import AuditLog, AuditRecord, AuditSettings, Checkpoint, DeletedObject, Deletion
from shared.audit.anchor_s3 import S3Anchor, checkpoint_key
from shared.audit.segments import STATE_KEY, chain_items, segment_key
from shared.audit.signing import SigningKeys, parse_key_lines
from shared.settings import StorageSettings
from shared.storage import ObjectStore, open_store
from tests.support.env import REPO
from tests.support.storage import s3_service_env, storage_settings

SERVICE_KEY = "janitor-tamper:" + base64.b64encode(bytes(range(32))).decode()
INTRUDER_KEY = "intruder:" + base64.b64encode(b"\x66" * 32).decode()
MATRIX: list[tuple[str, str, int, str]] = []


@dataclass
class History:
    """A written, verified audit log and what an attacker may touch."""

    backend: str
    env: dict[str, str]
    store: ObjectStore
    janitor: AuditLog
    gateway: AuditLog

    def segments(self, log: AuditLog) -> list[str]:
        return [item.key for item in chain_items(self.store, log.chain)]

    def records(self, key: str) -> list[dict]:
        return [json.loads(line) for line in self.store.get(key).decode().splitlines()]

    def write(self, key: str, records: list[dict]) -> None:
        self.store.put(key, "".join(json.dumps(r) + "\n" for r in records).encode())


def deletion(n: int) -> Deletion:
    return Deletion(
        time=datetime.now(UTC),
        job_id=f"{n:032x}",
        reason="expired",
        service="janitor",
        age_seconds=86400.0,
        objects=[DeletedObject(key=f"jobs/x/{n}/input", bytes=2_000_000)],
    )


@pytest.fixture(params=["local", "s3"])
def history(request: pytest.FixtureRequest, tmp_path: Path) -> History:
    if request.param == "local":
        env = {
            "STORAGE_BACKEND": "local",
            "STORAGE_LOCAL_DIR": str(tmp_path / "storage"),
            "STORAGE_JOBS_BUCKET": "jobs",
            "STORAGE_AUDIT_BUCKET": "audit",
        }
        settings = StorageSettings(backend="local", local_dir=tmp_path / "storage")
        settings.audit_bucket = "audit"
    else:
        env = s3_service_env(request.getfixturevalue("s3_endpoint"))
        settings = storage_settings(env)
    env.update(AUDIT_SIGNING_KEYS=SERVICE_KEY, LOG_LEVEL="WARNING", JANITOR_LIFECYCLE_BACKSTOP="0")
    store = open_store(settings, settings.audit_bucket)
    store.ensure_bucket()
    config = audit.configure(AuditSettings(signing_keys=SERVICE_KEY))
    gateway, janitor = AuditLog(store, service="gateway"), AuditLog(store, service="janitor")
    for n in range(3):
        gateway.append([deletion(100 + n)])
    for n in range(0, 12, 3):  # the janitor writes last: its checkpoint ends the anchor file
        janitor.append([deletion(n), deletion(n + 1), deletion(n + 2)])
    baseline = audit.verify(store, save_state_with=config.signer)
    assert baseline.ok and baseline.records == 15, baseline.problems
    return History(request.param, env, store, janitor, gateway)


def verify_audit(history: History, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "janitor", "verify-audit", *flags],
        cwd=REPO,
        env={**os.environ, **history.env},
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- the attacks --------------------------------------------------------------------------


def edit_record(h: History) -> None:
    """Turn an expiry into a user's request, leave the hash."""
    key = h.segments(h.janitor)[1]
    records = h.records(key)
    records[1]["reason"] = "user_request"
    h.write(key, records)


def edit_and_rehash_record(h: History) -> None:
    """Edit a record and recompute its hash."""
    key = h.segments(h.janitor)[1]
    records = h.records(key)
    records[0]["reason"] = "user_request"
    records[0]["hash"] = AuditRecord.model_validate(records[0]).computed_hash()
    h.write(key, records)


def edit_and_rehash_chain(h: History) -> None:
    """Edit a record and recompute every later hash and link (no key to re-sign)."""
    keys = h.segments(h.janitor)
    prev = None
    for key in keys[1:]:
        records = h.records(key)
        for record in records:
            if prev is None:
                record["reason"] = "user_request"
            else:
                record["prev_hash"] = prev
            record["hash"] = AuditRecord.model_validate(record).computed_hash()
            prev = record["hash"]
        h.write(key, records)


def reorder_records(h: History) -> None:
    key = h.segments(h.janitor)[1]
    records = h.records(key)
    records[0], records[1] = records[1], records[0]
    h.write(key, records)


def reorder_segments(h: History) -> None:
    first, second = h.segments(h.janitor)[1:3]
    a, b = h.store.get(first), h.store.get(second)
    h.store.put(first, b)
    h.store.put(second, a)


def remove_segment(h: History) -> None:
    h.store.delete_many([h.segments(h.janitor)[1]])


def empty_segment(h: History) -> None:
    h.store.put(h.segments(h.janitor)[1], b"")


def truncate_tail(h: History) -> None:
    h.store.delete_many([h.segments(h.janitor)[-1]])


def cut_last_record(h: History) -> None:
    key = h.segments(h.janitor)[-1]
    h.write(key, h.records(key)[:-1])


def remove_chain(h: History) -> None:
    h.store.delete_many(h.segments(h.gateway))


def forge_chain(h: History) -> None:
    """A whole new chain with well-formed, correctly hashed records, and no valid signature."""
    chain = "gateway-forged-00000000"
    record = AuditRecord(
        **deletion(999).model_dump(exclude={"objects"}),
        objects=[DeletedObject(key="jobs/x/999/input", size_class="<1MB")],
        chain=chain,
        seq=0,
        prev_hash=audit.genesis_hash(chain),
    )
    record.hash = record.computed_hash()
    h.store.put(segment_key(chain, 0), (record.model_dump_json() + "\n").encode())


def roll_back_checkpoint(h: History) -> None:
    """Drop the newest segment and the checkpoint that anchors it."""
    truncate_tail(h)
    newest = h.janitor._seq - 1
    anchor = h.janitor.anchor
    if isinstance(anchor, S3Anchor):
        key = checkpoint_key(h.janitor.chain, newest)
        versions = list(anchor.client.list_objects(anchor.bucket, prefix=key, include_version=True))
        with pytest.raises(S3Error, match="AccessDenied"):  # Object Lock: it cannot go...
            anchor.client.remove_object(anchor.bucket, key, version_id=versions[0].version_id)
        anchor.client.remove_object(anchor.bucket, key)  # ...so hide it behind a delete marker
    else:
        path = Path(anchor.path)  # type: ignore[attr-defined]
        lines = path.read_bytes().splitlines(keepends=True)
        assert json.loads(lines[-1])["seq"] == newest
        path.write_bytes(b"".join(lines[:-1]))


def forge_checkpoint(h: History) -> None:
    """Anchor a checkpoint that claims a longer chain, signed with a key of one's own."""
    forger = SigningKeys(parse_key_lines(INTRUDER_KEY, what="k"))
    checkpoint = Checkpoint(
        chain=h.janitor.chain, seq=h.janitor._seq + 5, head="0" * 64, time=datetime.now(UTC)
    )
    forger.sign(checkpoint)
    h.janitor.anchor.append(checkpoint)


def forge_verifier_state(h: History) -> None:
    """Claim that a chain verified further than it did, to skip checks (no key to re-sign)."""
    state = json.loads(h.store.get(STATE_KEY))
    state["chains"][h.janitor.chain]["next_seq"] += 100
    h.store.put(STATE_KEY, json.dumps(state).encode())


ATTACKS: list[tuple[str, Callable[[History], None], dict[str, set[str]]]] = [
    ("edit a record, keep its hash", edit_record, {"*": {"edited"}}),
    ("edit a record, recompute its hash", edit_and_rehash_record, {"*": {"broken_link"}}),
    (
        "edit a record, recompute every later hash and link",
        edit_and_rehash_chain,
        {"*": {"bad_signature", "head_mismatch"}},
    ),
    ("swap two records of a segment", reorder_records, {"*": {"reordered"}}),
    ("swap two segments", reorder_segments, {"*": {"reordered"}}),
    ("delete a segment", remove_segment, {"*": {"segment_removed"}}),
    ("empty a segment", empty_segment, {"*": {"segment_emptied"}}),
    ("delete the newest segment", truncate_tail, {"*": {"truncated_tail"}}),
    ("cut the last record of the newest segment", cut_last_record, {"*": {"unsigned_segment"}}),
    ("delete a whole chain", remove_chain, {"*": {"chain_removed"}}),
    ("add a forged chain", forge_chain, {"*": {"unregistered_chain", "unsigned_segment"}}),
    (
        "delete the newest segment and its checkpoint",
        roll_back_checkpoint,
        {
            "local": {"checkpoint_rolled_back"},
            "s3": {"anchor_hidden", "truncated_tail"},
        },
    ),
    ("anchor a checkpoint signed by another key", forge_checkpoint, {"*": {"unknown_key"}}),
    ("move the saved verification state forward", forge_verifier_state, {"*": {"state_invalid"}}),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_verify_audit_reports_each_attack(
    history: History, attack: tuple[str, Callable[[History], None], dict[str, set[str]]]
) -> None:
    name, tamper, expected = attack
    tamper(history)
    done = verify_audit(history)
    found = {
        line.split("]", 1)[0].removeprefix("PROBLEM  [")
        for line in done.stdout.splitlines()
        if line.startswith("PROBLEM")
    }
    wanted = expected.get(history.backend, expected.get("*", set()))
    assert done.returncode == 1, done.stdout + done.stderr
    assert wanted <= found, done.stdout
    first = next(line for line in done.stdout.splitlines() if line.startswith("PROBLEM"))
    MATRIX.append((name, history.backend, done.returncode, ", ".join(sorted(found))))
    _write_matrix()
    assert first


def test_an_untouched_log_verifies(history: History) -> None:
    done = verify_audit(history)
    assert done.returncode == 0 and "audit log verified (full)" in done.stdout, done.stdout
    MATRIX.append(("(nothing)", history.backend, done.returncode, "verified"))
    _write_matrix()


def _write_matrix() -> None:
    out = os.environ.get("AUDIT_TAMPER_MATRIX_OUT")
    if not out:
        return
    rows = ["| attack | backend | exit | verify-audit reports |", "|---|---|---|---|"]
    rows += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in MATRIX]
    Path(out).write_text("\n".join(rows) + "\n")


def append_after_baseline(h: History) -> None:
    """Two more janitor segments after the saved state: what an incremental run reads."""
    for n in range(200, 206, 3):
        h.janitor.append([deletion(n), deletion(n + 1), deletion(n + 2)])


def edit_new_record(h: History) -> None:
    key = h.segments(h.janitor)[-1]
    records = h.records(key)
    records[0]["reason"] = "user_request"
    h.write(key, records)


def remove_segment_verified_last(h: History) -> None:
    h.store.delete_many([h.segments(h.janitor)[-3]])  # the last one the saved state covers


INCREMENTAL: list[tuple[str, Callable[[History], None], dict[str, set[str]]]] = [
    ("edit a record appended since the last run", edit_new_record, {"*": {"edited"}}),
    ("delete the newest segment", truncate_tail, {"*": {"truncated_tail"}}),
    ("delete a whole chain", remove_chain, {"*": {"chain_removed"}}),
    ("add a forged chain", forge_chain, {"*": {"unregistered_chain"}}),
    # Both written after the last verification: nothing anyone verified is missing. A file
    # anchor cannot tell (unless chattr +a); Object Lock keeps the checkpoint (docs/audit.md).
    (
        "delete the newest segment and its checkpoint",
        roll_back_checkpoint,
        {"local": set(), "s3": {"anchor_hidden", "truncated_tail"}},
    ),
    ("delete the last verified segment", remove_segment_verified_last, {"*": {"segment_removed"}}),
]


@pytest.mark.parametrize("attack", INCREMENTAL, ids=[a[0] for a in INCREMENTAL])
def test_incremental_verification_reports_attacks_on_what_is_new(
    history: History, attack: tuple[str, Callable[[History], None], dict[str, set[str]]]
) -> None:
    name, tamper, expected = attack
    append_after_baseline(history)
    tamper(history)
    done = verify_audit(history, "--incremental")
    found = {
        line.split("]", 1)[0].removeprefix("PROBLEM  [")
        for line in done.stdout.splitlines()
        if line.startswith("PROBLEM")
    }
    wanted = expected.get(history.backend, expected.get("*", set()))
    assert done.returncode == (1 if wanted else 0), done.stdout + done.stderr
    assert wanted <= found, done.stdout
    assert "(incremental)" in done.stdout
    said = ", ".join(sorted(found)) or "nothing (see the limits below)"
    MATRIX.append((f"{name} (--incremental)", history.backend, done.returncode, said))
    _write_matrix()


def test_an_edit_to_verified_history_waits_for_the_full_run(history: History) -> None:
    """The price of incremental verification, and why the janitor runs a full one daily."""
    append_after_baseline(history)
    edit_record(history)  # a segment the saved state already covers
    incremental = verify_audit(history, "--incremental")
    assert incremental.returncode == 0, incremental.stdout
    full = verify_audit(history)
    assert full.returncode == 1 and "[edited]" in full.stdout, full.stdout
    MATRIX.append(
        (
            "edit an already verified record (--incremental)",
            history.backend,
            0,
            "nothing: found by the next full run",
        )
    )
    _write_matrix()
