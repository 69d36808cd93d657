"""Counted places for things a gateway process holds open: uploads in memory, progress streams.

Each kind has a total and a per-key cap (a key is a client network, or a job): a single client
cannot take all the places, and the process cannot be made to hold more than it can afford.
The counts are per process: each replica guards its own memory and sockets.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable


class Slots:
    """At most ``total`` places in all, and at most ``per_key`` for any one key."""

    def __init__(self, total: int, per_key: dict[str, int]) -> None:
        self.total = total
        self.per_key = per_key  # cap per kind of key ("network", "job")
        self._held = 0
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def acquire(self, **keys: str) -> Callable[[], None] | None:
        """Take a place for ``keys`` (e.g. ``network=...``); the release function, or None."""
        wanted = [(kind, value) for kind, value in keys.items()]
        with self._lock:
            if self._held >= self.total or any(
                self._counts[k] >= self.per_key[k[0]] for k in wanted
            ):
                return None
            self._held += 1
            self._counts.update(wanted)
        released = threading.Event()

        def release() -> None:
            if released.is_set():
                return
            released.set()
            with self._lock:
                self._held -= 1
                self._counts.subtract(wanted)
                for k in wanted:
                    if self._counts[k] <= 0:
                        del self._counts[k]

        return release

    def held_by(self, **keys: str) -> int:
        """Places held now for the key given (e.g. ``network=...``)."""
        ((kind, value),) = keys.items()
        with self._lock:
            return self._counts[(kind, value)]
