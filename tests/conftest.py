"""Fixtures shared by the suites: real RabbitMQ, a real S3 endpoint (moto's server) in its own
process, and a temporary storage root. Tests that need RabbitMQ skip locally when it is absent
but fail under CI=true."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.env import RABBITMQ_URL, skip_or_fail
from tests.support.net import free_port, port_open, wait_http_ok
from tests.support.processes import Service
from tests.support.storage import s3_service_env


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The URL of a reachable RabbitMQ; skip (locally) or fail (CI) when there is none."""
    if not port_open("127.0.0.1", 5672):
        skip_or_fail("RabbitMQ is not reachable on 127.0.0.1:5672")
    return RABBITMQ_URL


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
