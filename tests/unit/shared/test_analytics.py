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
