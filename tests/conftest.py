"""Fixtures shared by the suites: real RabbitMQ, a real S3 endpoint (moto's server) in its own
process, and a temporary storage root. Tests that need RabbitMQ skip locally when it is absent
but fail under CI=true."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.support import Service, free_port, port_open, wait_http_ok

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The URL of a reachable RabbitMQ; skip (locally) or fail (CI) when there is none."""
    if not port_open("127.0.0.1", 5672):
        message = "RabbitMQ is not reachable on 127.0.0.1:5672"
        if IN_CI:
            pytest.fail(message + " (CI=true: tests that need it must not skip)")
        pytest.skip(message)
    return "amqp://guest:guest@127.0.0.1:5672/%2F"


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
    suffix = uuid.uuid4().hex[:8]
    return {
        "STORAGE_BACKEND": "s3",
        "STORAGE_ENDPOINT": s3_endpoint,
        "STORAGE_SECURE": "false",
        "STORAGE_ACCESS_KEY": "testing",
        "STORAGE_SECRET_KEY": "testing",
        "STORAGE_REGION": "us-east-1",
        "STORAGE_JOBS_BUCKET": f"jobs-{suffix}",
        "STORAGE_AUDIT_BUCKET": f"audit-{suffix}",
    }
