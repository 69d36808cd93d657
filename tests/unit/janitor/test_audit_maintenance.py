"""Audit maintenance runs beside the sweep, never inside it: verification, compaction, roll-up."""

from __future__ import annotations

import base64
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from janitor.service import Janitor
from janitor.settings import JanitorSettings
from shared import audit, ids, keys
from shared.analytics import Analytics, aggregate
from shared.audit import AuditSettings, DeletedObject, Deletion
from shared.settings import StorageSettings

KEY = "janitor-unit:" + base64.b64encode(b"\x05" * 32).decode()


@pytest.fixture
def janitor(tmp_path: Path) -> Janitor:
    settings = JanitorSettings(
        storage=StorageSettings(backend="local", local_dir=tmp_path / "storage"),
        audit=AuditSettings(signing_keys=KEY, retention_days=30),
        interval_seconds=0.01,
        audit_interval_seconds=3600,
        lifecycle_backstop=False,
    )
    return Janitor(settings)


def old_deletion(n: int, when: datetime) -> Deletion:
    return Deletion(
        time=when,
        job_id=f"{n:032x}",
        reason="expired",
        service="janitor",
        age_seconds=86400.0,
        objects=[DeletedObject(key=f"jobs/x/{n}/input", bytes=10)],
    )


def test_a_pass_verifies_compacts_and_rolls_up(janitor: Janitor) -> None:
    now = datetime.now(UTC)
    log = audit.writer_for(janitor.audit_store, "janitor")
    log.append([old_deletion(1, now - timedelta(days=40))])
    log.append([old_deletion(2, now - timedelta(days=1))])
    counter = Analytics(janitor.audit_store, service="gateway")
    counter.count("uploads_accepted", 3)
    counter.flush(now - timedelta(hours=3))

    first = janitor.maintenance.run_once(now)
    assert first.verification.ok and first.verification.full
    assert first.compaction is not None and first.compaction.records_summarised == 1
    assert first.rollup.hours_rolled_up == 1
    assert [r.job_id for r in audit.read_records(janitor.audit_store)] == [f"{2:032x}"]

    log.append([old_deletion(3, now)])
    second = janitor.maintenance.run_once(now)
    assert second.verification.ok and not second.verification.full
    assert second.verification.records == 1  # only what is new
    assert aggregate(janitor.audit_store, since=now - timedelta(hours=4), until=now) == {
        "uploads_accepted": 3
    }


def test_a_broken_log_is_reported_and_not_compacted(janitor: Janitor) -> None:
    now = datetime.now(UTC)
    log = audit.writer_for(janitor.audit_store, "janitor")
    log.append([old_deletion(1, now - timedelta(days=40))])
    log.append([old_deletion(2, now - timedelta(days=40))])
    janitor.audit_store.delete_many([audit.segments.segment_key(log.chain, 0)])
    result = janitor.maintenance.run_once(now)
    assert "segment_removed" in result.verification.codes and result.compaction is None


def test_sweeps_go_on_while_a_maintenance_pass_is_stuck(janitor: Janitor) -> None:
    created = datetime.now(UTC) - timedelta(days=2)
    job_id = ids.new_job_id(int(created.timestamp() * 1000))
    janitor.store.put(keys.job_key(job_id, keys.INPUT), b"x")
    janitor.store.put(keys.job_key(job_id, keys.MANIFEST), b"{}")
    entered, release = threading.Event(), threading.Event()
    real_run_once = janitor.maintenance.run_once

    def stuck_pass(now: datetime | None = None) -> object:
        entered.set()
        release.wait(30)  # a verification that takes as long as it likes
        return real_run_once(now)

    three_sweeps = threading.Event()
    real_sweep_once = janitor.sweep_once

    def counted_sweep() -> object:
        result = real_sweep_once()
        if janitor.sweeps >= 2:  # this is the third
            three_sweeps.set()
        return result

    janitor.maintenance.run_once = stuck_pass  # type: ignore[method-assign,assignment]
    janitor.sweep_once = counted_sweep  # type: ignore[method-assign,assignment]
    loop = threading.Thread(target=janitor.run)
    loop.start()
    try:
        assert entered.wait(10)
        # The deletion loop does not wait for the stuck pass: it sweeps, and sweeps again.
        assert three_sweeps.wait(20) and not release.is_set()
        assert list(janitor.store.list(keys.job_prefix(job_id) or "")) == []
    finally:
        release.set()
        janitor.stop()
        loop.join(10)
