"""Where the tests run: the repository, the caches, the services, and the CI rule.

Under ``CI=true`` every test must run: a missing service fails the test instead of skipping it
(:func:`skip_or_fail`), the way Dramatiq's own suite treats its brokers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

REPO = Path(__file__).resolve().parents[2]
#: Converted weights are cached here across test runs, like a worker's persistent volume.
MODEL_CACHE = REPO / "var" / "test-model-cache"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
REDIS_URL = "redis://127.0.0.1:6379/0"
#: Admission that lets every upload in: for tests whose subject is something else (the loopback
#: clients of a test all come from one network). Admission itself is tested with its limits.
UNLIMITED_ADMISSION: dict[str, object] = {
    "uploads_per_minute": 0,
    "exports_per_minute": 0,
    "max_in_flight_per_network": 1_000_000,
    "work_budget_tflop": 1e12,
}
UNLIMITED_ADMISSION_ENV = {f"ADMISSION_{k.upper()}": str(v) for k, v in UNLIMITED_ADMISSION.items()}
#: Under CI=true every test must run: a missing service fails instead of skipping.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(what: str) -> NoReturn:
    """Something a test needs is missing: skip it locally, fail it under CI=true."""
    import pytest

    if IN_CI:
        pytest.fail(f"{what} (CI=true: tests must not skip)")
    pytest.skip(what)
