"""Anonymous usage analytics: aggregate counters with no per-person key, and an opt-out.

Each process counts in memory (only for jobs whose request did not opt out) and periodically
writes the *increments* since its last write as one small JSON object under
``analytics/YYYY/MM/DD/HH/``; :func:`aggregate` sums them. Nothing here identifies a person,
a job or a request: a counter is a name, a few fixed labels (model, scale, format, error code,
time bucket) and a number.

Those raw increments say which process counted what, to the minute; once their hour is over,
the janitor rolls them up into one ``rollup.json`` per hour (:func:`roll_up`) and deletes them,
and deletes whole hours older than ``ANALYTICS_RETENTION_DAYS``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ObjectNotFound
from shared.storage import ObjectStore

ANALYTICS_ROOT = "analytics/"
ROLLUP = "rollup.json"
#: Upper edges (seconds) of the processing-time histogram buckets.
SECONDS_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600)
#: The only labels a counter may carry: nothing per person, per job or per request.
ALLOWED_LABELS = frozenset({"model", "scale", "format", "code", "le", "status"})


class AnalyticsSettings(BaseSettings):
    """How long aggregate analytics are kept (``ANALYTICS_`` prefix)."""

    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore")

    #: Hours older than this are deleted, roll-ups included.
    retention_days: int = Field(default=90, ge=1)
    #: An hour is rolled up this long after it ended (late flushes land first).
    rollup_delay_seconds: float = Field(default=600.0, ge=0)
    #: Raw increments are looked for in this many most recent days (older ones are rolled up
    #: already, unless the janitor was down that long: then they go at retention).
    rollup_lookback_days: int = Field(default=3, ge=1)


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
            data = json.loads(store.get(info.key))
            totals.update(data["counts"] if info.key.endswith("/" + ROLLUP) else data)
        hour += timedelta(hours=1)
    return dict(sorted(totals.items()))


@dataclass
class RollupResult:
    """What :func:`roll_up` did."""

    hours_rolled_up: int = 0
    raw_objects_merged: int = 0
    objects_deleted: int = 0


def roll_up(
    store: ObjectStore, settings: AnalyticsSettings, now: datetime | None = None
) -> RollupResult:
    """Merge each finished hour's raw increments into its ``rollup.json``; delete old hours.

    Crash-safe and repeatable: the roll-up lists (as hashes) the raw objects it already holds,
    so a raw object whose deletion did not happen is not counted twice.
    """
    now = now or datetime.now(UTC)
    result = RollupResult()
    cutoff = now - timedelta(days=settings.retention_days)
    settled = now - timedelta(seconds=settings.rollup_delay_seconds)
    lookback = now - timedelta(days=settings.rollup_lookback_days)
    for hour_prefix, hour in _hours(store):
        if hour + timedelta(hours=1) <= cutoff:
            keys = [info.key for info in store.list(hour_prefix)]
            store.delete_many(keys)
            result.objects_deleted += len(keys)
        elif lookback <= hour and hour + timedelta(hours=1) <= settled:
            merged = _roll_up_hour(store, hour_prefix)
            if merged:
                result.hours_rolled_up += 1
                result.raw_objects_merged += merged
    return result


def _hours(store: ObjectStore) -> list[tuple[str, datetime]]:
    hours = []
    for year in store.list_prefixes(ANALYTICS_ROOT):
        for month in store.list_prefixes(year):
            for day in store.list_prefixes(month):
                for hour in store.list_prefixes(day):
                    try:
                        start = datetime.strptime(hour, f"{ANALYTICS_ROOT}%Y/%m/%d/%H/")
                    except ValueError:
                        continue
                    hours.append((hour, start.replace(tzinfo=UTC)))
    return hours


def _roll_up_hour(store: ObjectStore, prefix: str) -> int:
    """Merge one hour's raw objects into its roll-up; return how many were merged."""
    rollup_key = prefix + ROLLUP
    raw = [info.key for info in store.list(prefix) if info.key != rollup_key]
    if not raw:
        return 0
    try:
        current = json.loads(store.get(rollup_key))
    except ObjectNotFound:
        current = {"counts": {}, "merged": []}
    counts: Counter[str] = Counter(current["counts"])
    merged = set(current["merged"])
    fresh = []
    for key in raw:
        digest = hashlib.sha256(key.encode()).hexdigest()
        if digest in merged:
            continue  # merged before; only its deletion failed
        try:
            counts.update(json.loads(store.get(key)))
        except ObjectNotFound:
            return 0  # another janitor is rolling this hour up right now
        merged.add(digest)
        fresh.append(key)
    body = {"counts": dict(sorted(counts.items())), "merged": sorted(merged)}
    store.put(rollup_key, json.dumps(body).encode(), "application/json")
    store.delete_many(raw)
    return len(fresh)
