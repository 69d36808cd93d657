"""What RabbitMQ itself holds to: dead letters expire within the configured hour."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

from shared.broker import build_broker
from shared.settings import BrokerSettings, JobSettings
from tests.support.env import skip_or_fail
from tests.support.processes import delete_queues

pytestmark = pytest.mark.rabbitmq


def test_dead_letter_queue_keeps_messages_at_most_an_hour(rabbitmq_url: str) -> None:
    if shutil.which("rabbitmqctl") is None:
        skip_or_fail("rabbitmqctl is not installed here")
    queue = f"picupscaler-test-{uuid.uuid4().hex[:8]}"
    broker = build_broker(
        BrokerSettings(backend="rabbitmq", url=rabbitmq_url, queue=queue), JobSettings()
    )
    try:
        broker.declare_queue(queue, ensure=True)
        listing = subprocess.run(
            ["rabbitmqctl", "-q", "list_queues", "name", "arguments", "durable"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    finally:
        broker.close()
        delete_queues(rabbitmq_url, queue)
    lines = {line.split("\t")[0]: line for line in listing.splitlines() if queue in line}
    assert "x-message-ttl" in lines[f"{queue}.XQ"] and "3600000" in lines[f"{queue}.XQ"]
    assert f"{queue}.XQ" in lines[queue]  # failed messages go to the bounded dead-letter queue
    assert lines[queue].rstrip().endswith("true")  # durable: accepted jobs survive a restart
