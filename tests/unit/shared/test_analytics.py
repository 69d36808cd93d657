from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.client_info import opted_out
from shared.analytics import Analytics, aggregate
from shared.storage.local import LocalStore


def test_counts_are_aggregated_across_processes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, "audit")
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    gateway, worker = Analytics(store, service="gateway"), Analytics(store, service="worker")
    gateway.count("uploads_accepted", model="realesrgan-x4plus", scale="4")
    gateway.count("uploads_accepted", model="realesrgan-x4plus", scale="4")
    worker.count("images_processed", model="realesrgan-x4plus", format="png")
    worker.observe_seconds("processing_seconds", 3.2, model="realesrgan-x4plus")
    assert gateway.flush(now) and worker.flush(now + timedelta(hours=1))
    assert gateway.flush(now) is None  # nothing new
    totals = aggregate(store, since=now - timedelta(hours=1), until=now + timedelta(hours=2))
    assert totals == {
        "images_processed|format=png|model=realesrgan-x4plus": 1,
        "processing_seconds|le=5|model=realesrgan-x4plus": 1,
        "uploads_accepted|model=realesrgan-x4plus|scale=4": 2,
    }


def test_no_per_person_labels(tmp_path: Path) -> None:
    analytics = Analytics(LocalStore(tmp_path, "x"), service="s")
    for label in ("ip", "job_id", "country", "user_agent"):
        with pytest.raises(ValueError):
            analytics.count("uploads_accepted", **{label: "anything"})


def test_opt_out_signals() -> None:
    assert opted_out({"sec-gpc": "1"}, {})
    assert opted_out({"dnt": "1"}, {})
    assert opted_out({}, {"pu_analytics_opt_out": "1"})
    assert not opted_out({"dnt": "0"}, {})


def test_finished_hours_are_rolled_up_and_old_hours_deleted(tmp_path: Path) -> None:
    from shared.analytics import ROLLUP, AnalyticsSettings, roll_up

    store = LocalStore(tmp_path, "audit")
    now = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
    settings = AnalyticsSettings(retention_days=30, rollup_delay_seconds=600)
    writers = [Analytics(store, service="gateway"), Analytics(store, service="worker")]
    moments = [now - timedelta(hours=2, minutes=m) for m in (5, 20, 40)] + [now]
    for n, moment in enumerate(moments):
        for writer in writers:
            writer.count("uploads_accepted", n + 1, model="realesrgan-x4plus")
            writer.flush(moment)
    old = Analytics(store, service="gateway")
    old.count("uploads_accepted", 99, model="realesrgan-x4plus")
    old.flush(now - timedelta(days=31))
    window = {"since": now - timedelta(days=40), "until": now}
    assert aggregate(store, **window) == {"uploads_accepted|model=realesrgan-x4plus": 20 + 99}

    result = roll_up(store, settings, now=now)

    assert result.hours_rolled_up == 2 and result.raw_objects_merged == 6
    assert result.objects_deleted == 1  # the hour past retention
    after = aggregate(store, **window)
    assert after == {"uploads_accepted|model=realesrgan-x4plus": 20}
    finished = sorted(i.key for i in store.list("analytics/") if i.key.endswith(ROLLUP))
    assert finished == [
        "analytics/2026/11/26/09/rollup.json",
        "analytics/2026/11/26/10/rollup.json",
    ]
    # Raw increments (writer id, minute) are gone from finished hours, kept in the current one.
    raw = [i.key for i in store.list("analytics/") if not i.key.endswith(ROLLUP)]
    assert raw and all(k.startswith("analytics/2026/11/26/12/") for k in raw)
    assert roll_up(store, settings, now=now).raw_objects_merged == 0  # idempotent
    assert aggregate(store, **window) == after


def test_a_raw_object_whose_delete_failed_is_not_counted_twice(tmp_path: Path) -> None:
    from shared.analytics import AnalyticsSettings, roll_up

    store = LocalStore(tmp_path, "audit")
    now = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
    writer = Analytics(store, service="gateway")
    writer.count("uploads_accepted", 5)
    key = writer.flush(now - timedelta(hours=2))
    assert key is not None
    kept = store.get(key)
    roll_up(store, AnalyticsSettings(), now=now)
    store.put(key, kept)  # as if the delete after the roll-up had not happened
    roll_up(store, AnalyticsSettings(), now=now)
    assert aggregate(store, since=now - timedelta(hours=3), until=now) == {"uploads_accepted": 5}
