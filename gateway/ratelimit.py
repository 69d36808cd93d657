"""Per-network rate limiting of uploads (429), keyed by the truncated address only.

A sliding one-minute window per /24 (IPv4) or /48 (IPv6) network, in this process's memory:
with N gateway replicas the effective limit is up to N times higher, so the ingress should
limit too. The key is the truncated network, never the full address.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class RateLimiter:
    """At most ``per_minute`` events per key in any 60-second window."""

    def __init__(self, per_minute: int, *, max_keys: int = 100_000) -> None:
        self.per_minute = per_minute
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str | None) -> tuple[bool, int]:
        """Record an event for ``key``; return (allowed, seconds until the next one is)."""
        if self.per_minute <= 0 or key is None:
            return True, 0
        now = time.monotonic()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and now - events[0] >= 60:
                events.popleft()
            if len(events) >= self.per_minute:
                return False, max(1, int(60 - (now - events[0])) + 1)
            events.append(now)
            if len(self._events) > self.max_keys:  # bounded memory under address churn
                for stale in [k for k, v in self._events.items() if not v or now - v[-1] >= 60]:
                    del self._events[stale]
            return True, 0
