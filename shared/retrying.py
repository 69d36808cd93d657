"""Bounded retries for transient storage and broker failures (tenacity)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from shared.errors import BrokerUnavailable, StorageUnavailable

T = TypeVar("T")


def call_with_retries(fn: Callable[[], T], *, attempts: int = 3) -> T:
    """Call ``fn``, retrying briefly (≈0.1 s, 0.2 s, …) while storage or the broker is down.

    Bounded on purpose: a caller on the request path must answer 503 within seconds.
    """
    retrying = retry(
        reraise=True,
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.1, max=1.0),
        retry=retry_if_exception_type((StorageUnavailable, BrokerUnavailable)),
    )
    return retrying(fn)()
