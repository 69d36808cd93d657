"""Jobs in flight (queued or running) per client network, shared by every gateway and worker.

The gateway adds a job when it accepts it and refuses a network that already has its cap in
flight; the worker removes the job when it is done with it (succeeded, failed, or found
deleted), the gateway when the user deletes it. Each entry also carries a deadline, so a job
whose worker died without removing it stops counting by itself.

Members are a digest of the job id, not the id: the counts never join a job with the network
it came from (the manifest does, and dies with the job).

Hand-written because it counts things in progress, which rate-limit libraries (``limits``,
used for the windows in ``gateway.admission``) do not: in Redis a sorted set per network
(member: job id, score: deadline), changed by one Lua script so that the check and the add are
atomic across gateway replicas; in memory, the same under a lock (all-in-one mode).
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any, Protocol

from shared.settings import AdmissionSettings

#: Networks whose address could not be read share one key: limited, never unlimited.
UNKNOWN_NETWORK = "unknown"

_ADD = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[3]) then
  return -1 - count
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(ARGV[2])))
return count
"""


class InFlight(Protocol):
    """Counts of jobs in flight per network."""

    def try_add(self, network: str, job_id: str, *, cap: int, ttl_seconds: float) -> int | None:
        """Add the job unless ``network`` has ``cap`` in flight; return the count before
        adding, or None when refused."""
        ...

    def remove(self, network: str, job_id: str) -> None:
        """The job is no longer in flight."""
        ...

    def count(self, network: str) -> int:
        """Jobs of ``network`` in flight now."""
        ...


def member(job_id: str) -> str:
    """What a job is counted as: enough to tell jobs apart, not to name one."""
    return hashlib.sha256(f"picupscaler-inflight:{job_id}".encode()).hexdigest()[:20]


def network_key(network: str | None) -> str:
    """The key a network's jobs are counted under."""
    return network or UNKNOWN_NETWORK


class MemoryInFlight:
    """In-process counts (all-in-one mode: the gateway and the worker share this object)."""

    def __init__(self) -> None:
        self._jobs: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def try_add(self, network: str, job_id: str, *, cap: int, ttl_seconds: float) -> int | None:
        now = time.time()
        with self._lock:
            jobs = self._live(network, now)
            if len(jobs) >= cap:
                return None
            jobs[member(job_id)] = now + ttl_seconds
            return len(jobs) - 1

    def remove(self, network: str, job_id: str) -> None:
        with self._lock:
            self._jobs.get(network, {}).pop(member(job_id), None)

    def count(self, network: str) -> int:
        with self._lock:
            return len(self._live(network, time.time()))

    def _live(self, network: str, now: float) -> dict[str, float]:
        jobs = self._jobs.setdefault(network, {})
        for job_id in [j for j, deadline in jobs.items() if deadline <= now]:
            del jobs[job_id]
        return jobs


class RedisInFlight:
    """Counts in Redis, shared by every replica (``ADMISSION_REDIS_URL``)."""

    def __init__(self, url: str, prefix: str = "picupscaler") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._prefix = f"{prefix}:inflight:"
        self._add = self._redis.register_script(_ADD)

    def try_add(self, network: str, job_id: str, *, cap: int, ttl_seconds: float) -> int | None:
        now = time.time()
        answer: Any = self._add(
            keys=[self._prefix + network], args=[now, now + ttl_seconds, cap, member(job_id)]
        )
        result = int(answer)
        return None if result < 0 else result

    def remove(self, network: str, job_id: str) -> None:
        self._redis.zrem(self._prefix + network, member(job_id))

    def count(self, network: str) -> int:
        key = self._prefix + network
        self._redis.zremrangebyscore(key, "-inf", time.time())
        answer: Any = self._redis.zcard(key)
        return int(answer)


def open_in_flight(settings: AdmissionSettings) -> InFlight:
    """Redis when configured (distributed mode), else in memory (all-in-one)."""
    if settings.redis_url is None:
        return MemoryInFlight()
    return RedisInFlight(settings.redis_url.get_secret_value(), settings.redis_key_prefix)
