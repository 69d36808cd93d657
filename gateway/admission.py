"""Cost-aware admission: what one client network may ask of the fleet, the same on every
replica, and the order in which the fleet serves it.

Per network (IPv4 /24, IPv6 /48; an unreadable address counts as one shared "unknown"
network, never as unlimited):

* **uploads per minute** (a moving window), checked before the body is read;
* **a work budget per window**: each job's model work (``shared.cost``, in GFLOP) is charged
  against it (a sliding-window counter, which takes a cost per hit);
* **a cap on jobs in flight** (queued or running, ``shared.inflight``).

Globally, **a backlog cap**: when the job queue holds ``max_backlog`` messages every upload
is refused with 503. Refusals say which limit and carry ``Retry-After``.

**Fair order**: the message's RabbitMQ priority falls with the number of jobs its network
already has in flight (9 for a network's first job, 8 for its second...), so a newcomer's job
runs right after the jobs in progress instead of behind another network's backlog.

The windows come from the ``limits`` library (Redis in distributed mode, memory in
all-in-one); only the in-flight counts, which ``limits`` does not offer, are our own code.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from gateway.errors import ApiError, unavailable
from shared.errors import BrokerUnavailable
from shared.inflight import InFlight, network_key
from shared.settings import AdmissionSettings

log = structlog.get_logger(__name__)
T = TypeVar("T")

#: The priority of a network's first job in flight; RabbitMQ serves higher numbers first.
MAX_PRIORITY = 9
#: How long a read of the queue depth is reused (each read is a round trip to RabbitMQ).
BACKLOG_CACHE_SECONDS = 1.0


class AdmissionUnavailable(Exception):
    """Raised when the shared admission state (Redis) cannot be reached."""


@dataclass
class Ticket:
    """An admitted job: its queue priority, and the in-flight slot to give back if the job is
    not accepted after all (storage or broker down)."""

    network: str
    job_id: str
    priority: int
    in_flight: InFlight

    def release(self) -> None:
        """Give the in-flight slot back."""
        self.in_flight.remove(self.network, self.job_id)


class Admission:
    """Decides, for every upload, whether the fleet takes it and at which priority."""

    def __init__(
        self,
        settings: AdmissionSettings,
        in_flight: InFlight,
        backlog: Callable[[], int],
        *,
        retry_after_seconds: int,
    ) -> None:
        url = settings.redis_url.get_secret_value() if settings.redis_url else "memory://"
        storage = storage_from_string(url, key_prefix=f"{settings.redis_key_prefix}:limits")
        self.settings = settings
        self.in_flight = in_flight
        self._backlog = backlog
        self._backlog_seen: tuple[float, int] | None = None
        self._lock = threading.Lock()
        self._rates = MovingWindowRateLimiter(storage)
        self._work = SlidingWindowCounterRateLimiter(storage)
        budget_gflop = max(1, round(settings.work_budget_tflop * 1000))
        self._work_limit = RateLimitItemPerSecond(budget_gflop, settings.work_window_seconds)
        self.retry_after_seconds = retry_after_seconds
        #: How long a read of the queue depth is reused (each read is a RabbitMQ round trip).
        self.backlog_cache_seconds = BACKLOG_CACHE_SECONDS

    def check_upload_rate(self, network: str | None) -> None:
        """Count an upload attempt of ``network``; 429 beyond the per-minute limit."""
        self._check_rate("uploads", self.settings.uploads_per_minute, network)

    def check_export_rate(self, network: str | None) -> None:
        """Count a privacy export of ``network``; 429 beyond the per-minute limit."""
        self._check_rate("exports", self.settings.exports_per_minute, network)

    def _check_rate(self, what: str, per_minute: int, network: str | None) -> None:
        if not per_minute:
            return
        key = network_key(network)
        limit = RateLimitItemPerMinute(per_minute)
        if not self._guarded(lambda: self._rates.hit(limit, what, key)):
            stats = self._guarded(lambda: self._rates.get_window_stats(limit, what, key))
            raise refusal(
                429,
                "rate_limited",
                f"Too many {what} from your network: at most {per_minute} a minute.",
                _seconds_until(stats.reset_time),
                f"{what}_per_minute",
            )

    def admit(self, *, network: str | None, job_id: str, gflop: float) -> Ticket:
        """Take the job, or raise the refusal that says which limit it met.

        A broker that does not answer the depth question is a 503 ``broker_unavailable``
        (the job could not be queued anyway).
        """
        try:
            backlog = self.backlog()
        except BrokerUnavailable:
            raise unavailable("broker", self.retry_after_seconds) from None
        if backlog >= self.settings.max_backlog:
            raise refusal(
                503,
                "backlog_full",
                f"The service has {backlog} jobs waiting, its limit; please retry shortly.",
                self.retry_after_seconds,
                "backlog",
            )
        key = network_key(network)
        cap = self.settings.max_in_flight_per_network
        before = self._guarded(
            lambda: self.in_flight.try_add(
                key, job_id, cap=cap, ttl_seconds=self.settings.in_flight_ttl_seconds
            )
        )
        if before is None:
            raise refusal(
                429,
                "too_many_jobs_in_flight",
                f"Your network already has {cap} jobs queued or running; "
                "please wait for one to finish.",
                self.retry_after_seconds,
                "in_flight",
            )
        cost = max(1, math.ceil(gflop))
        if not self._guarded(lambda: self._work.hit(self._work_limit, "work", key, cost=cost)):
            self._guarded(lambda: self.in_flight.remove(key, job_id))
            stats = self._guarded(
                lambda: self._work.get_window_stats(self._work_limit, "work", key)
            )
            raise refusal(
                429,
                "work_budget_exhausted",
                f"This job ({gflop / 1000:.0f} TFLOP of model work) is more than your network "
                f"has left of its {self.settings.work_budget_tflop:g} TFLOP per "
                f"{self.settings.work_window_seconds} s; try a smaller image or scale, or later.",
                _seconds_until(stats.reset_time),
                "work_budget",
            )
        return Ticket(key, job_id, max(0, MAX_PRIORITY - before), self.in_flight)

    def backlog(self) -> int:
        """Messages waiting in the job queue (read at most once a second)."""
        now = time.monotonic()
        with self._lock:
            seen = self._backlog_seen
            if seen is not None and now - seen[0] < self.backlog_cache_seconds:
                return seen[1]
        depth = self._backlog()
        with self._lock:
            self._backlog_seen = (now, depth)
        return depth

    def _guarded(self, call: Callable[[], T]) -> T:
        # Redis errors of any kind become one: the caller answers 503 (admission unknown).
        try:
            return call()
        except Exception as exc:
            log.warning("admission_store_unavailable", error=type(exc).__name__)
            raise AdmissionUnavailable(type(exc).__name__) from exc


def refusal(status: int, code: str, message: str, retry_after: int, limit: str) -> ApiError:
    """A refusal with Retry-After (counted by its code where it is rendered); ``limit`` names
    the limit met, for the log."""
    log.info("admission_refused", limit=limit)
    return ApiError(status, code, message, {"Retry-After": str(max(1, retry_after))})


def _seconds_until(moment: float) -> int:
    return max(1, math.ceil(moment - time.time()))
