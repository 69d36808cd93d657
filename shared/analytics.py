"""Anonymous usage analytics: aggregate counters with no per-person key, and an opt-out.

Each process counts in memory (only for jobs whose request did not opt out) and periodically
writes the *increments* since its last write as one small JSON object under
``analytics/YYYY/MM/DD/HH/``; :func:`aggregate` sums them. Nothing here identifies a person,
a job or a request: a counter is a name, a few fixed labels (model, scale, format, error code,
time bucket) and a number.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from shared.storage import ObjectStore

ANALYTICS_ROOT = "analytics/"
#: Upper edges (seconds) of the processing-time histogram buckets.
SECONDS_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600)
#: The only labels a counter may carry: nothing per person, per job or per request.
ALLOWED_LABELS = frozenset({"model", "scale", "format", "code", "le", "status"})


def _key(name: str, labels: dict[str, str]) -> str:
    unknown = set(labels) - ALLOWED_LABELS
    if unknown:
        raise ValueError(f"analytics labels must be aggregate, not {sorted(unknown)}")
    return name + "".join(f"|{k}={labels[k]}" for k in sorted(labels))


class Analytics:
    """One process's aggregate counters, flushed to object storage."""

    def __init__(self, store: ObjectStore, *, service: str) -> None:
        self.store = store
        self.writer = f"{service}-{secrets.token_hex(4)}"
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, name: str, amount: int = 1, **labels: str) -> None:
        """Add to an aggregate counter."""
        with self._lock:
            self._counts[_key(name, labels)] += amount

    def observe_seconds(self, name: str, seconds: float, **labels: str) -> None:
        """Count a duration into the fixed histogram buckets (and the +Inf one)."""
        edge = next((str(b) for b in SECONDS_BUCKETS if seconds <= b), "+Inf")
        with self._lock:
            self._counts[_key(name, {**labels, "le": edge})] += 1

    def flush(self, now: datetime | None = None) -> str | None:
        """Write the increments since the last flush; return the key (None if nothing new)."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
        if not counts:
            return None
        now = now or datetime.now(UTC)
        key = f"{ANALYTICS_ROOT}{now:%Y/%m/%d/%H}/{self.writer}-{now:%M%S%f}.json"
        try:
            self.store.put(key, json.dumps(dict(counts)).encode(), "application/json")
        except Exception:
            with self._lock:  # keep the counts for the next try
                self._counts.update(counts)
            raise
        return key


def start_flusher(analytics: Analytics, interval_seconds: float) -> threading.Event:
    """Flush ``analytics`` every ``interval_seconds`` in a daemon thread until the returned
    event is set; a final flush runs then (so counts are not lost at shutdown)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval_seconds):
            with contextlib.suppress(Exception):  # storage down: counts kept for the next try
                analytics.flush()
        with contextlib.suppress(Exception):
            analytics.flush()

    threading.Thread(target=loop, name="analytics-flush", daemon=True).start()
    return stop


def aggregate(store: ObjectStore, *, since: datetime, until: datetime) -> dict[str, int]:
    """Sum every flushed increment from the hours between ``since`` and ``until``."""
    totals: Counter[str] = Counter()
    hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour <= until:
        for info in store.list(f"{ANALYTICS_ROOT}{hour:%Y/%m/%d/%H}/"):
            totals.update(json.loads(store.get(info.key)))
        hour += timedelta(hours=1)
    return dict(sorted(totals.items()))
