"""The operator's and the auditor's audit commands: keys, and verify-audit's exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from janitor.__main__ import main
from shared import audit
from shared.audit import AuditSettings, DeletedObject, Deletion
from shared.storage.local import LocalStore


def lines_of(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.strip().splitlines()


def test_keygen_and_public_keys_agree(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["audit-keygen", "--key-id", "gateway-2026-12"]) == 0
    secret_line, public_line = (line.split()[-1] for line in lines_of(capsys))
    assert secret_line.startswith("gateway-2026-12:") and public_line.startswith("gateway-2026-12:")
    assert secret_line != public_line
    monkeypatch.setenv("AUDIT_SIGNING_KEYS", secret_line)
    assert main(["audit-public-keys"]) == 0
    assert lines_of(capsys) == [public_line]


def test_an_auditor_verifies_with_public_keys_and_gets_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    main(["audit-keygen", "--key-id", "janitor-k"])
    secret, public = (line.split()[-1] for line in lines_of(capsys))
    config = audit.configure(AuditSettings(signing_keys=secret))  # the service writes…
    store = LocalStore(tmp_path / "storage", "picupscaler-audit")
    store.ensure_bucket()
    log = audit.AuditLog(store, service="janitor")
    deletion = Deletion(
        time=datetime.now(UTC),
        job_id="0" * 32,
        reason="expired",
        service="janitor",
        age_seconds=1.0,
        objects=[DeletedObject(key="jobs/x/input", bytes=3)],
    )
    log.append([deletion])
    assert config.signer is not None
    monkeypatch.setenv("STORAGE_LOCAL_DIR", str(tmp_path / "storage"))  # …the auditor reads
    monkeypatch.setenv("AUDIT_VERIFY_KEYS", public)
    monkeypatch.setenv("AUDIT_GENERATE_LOCAL_SIGNING_KEY", "false")
    monkeypatch.delenv("AUDIT_SIGNING_KEYS", raising=False)
    assert main(["verify-audit", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["verified"] and result["records_checked"] == 1 and result["findings"] == []

    store.delete_many([i.key for i in store.list("audit/chains/")])
    assert main(["verify-audit"]) == 1
    assert "[chain_removed]" in capsys.readouterr().out

    monkeypatch.setenv("AUDIT_ANCHOR_FILE", str(tmp_path / "storage" / "x"))  # a directory
    (tmp_path / "storage" / "x").mkdir()
    assert main(["verify-audit"]) == 2


def test_without_any_public_key_nothing_is_verified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_LOCAL_DIR", str(tmp_path / "storage"))
    monkeypatch.setenv("AUDIT_GENERATE_LOCAL_SIGNING_KEY", "false")
    monkeypatch.delenv("AUDIT_SIGNING_KEYS", raising=False)
    monkeypatch.delenv("AUDIT_VERIFY_KEYS", raising=False)
    assert main(["verify-audit"]) == 2
    assert "no public key" in capsys.readouterr().err
