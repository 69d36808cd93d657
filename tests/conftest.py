"""Fixtures shared by the suites: real RabbitMQ, a real S3 endpoint (moto's server) in its own
process, and a temporary storage root. Tests that need RabbitMQ skip locally when it is absent
but fail under CI=true."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.audit import writer as audit_writer
from tests.support.env import RABBITMQ_URL, REDIS_URL, skip_or_fail
from tests.support.net import free_port, port_open, wait_http_ok
from tests.support.processes import Service
from tests.support.storage import s3_service_env


@pytest.fixture(autouse=True)
def _fresh_audit_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test reads the audit configuration from its own environment.

    The configuration is process-wide (a service sets it once at start-up); a test that
    configures a key of its own must not leave it to the next test, which would then verify
    another key's records against it.
    """
    monkeypatch.setattr(audit_writer, "_config", None)


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The URL of a reachable RabbitMQ; skip (locally) or fail (CI) when there is none."""
    if not port_open("127.0.0.1", 5672):
        skip_or_fail("RabbitMQ is not reachable on 127.0.0.1:5672")
    return RABBITMQ_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a reachable Redis (admission state); skip (locally) or fail (CI) without."""
    if not port_open("127.0.0.1", 6379):
        skip_or_fail("Redis is not reachable on 127.0.0.1:6379")
    return REDIS_URL


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3 HTTP endpoint (moto's server) running as its own process."""
    port = free_port()
    logs = tmp_path_factory.mktemp("moto")
    server = Service("moto", ["-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], {}, logs)
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/moto-api/", 60, server)
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str) -> dict[str, str]:
    """Environment pointing a service at the S3 endpoint, with buckets unique to the test."""
    return s3_service_env(s3_endpoint)
