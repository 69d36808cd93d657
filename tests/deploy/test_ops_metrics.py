"""shared.ops_metrics against a real RabbitMQ: what the queue exporter reports, and that its
peek at the head message leaves the queue exactly as it was."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pika
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from shared import ops_metrics
from shared.broker import build_broker, enqueue_job
from shared.settings import BrokerSettings, JobSettings
from tests.deploy.k8s_render import ROOT
from tests.support.processes import delete_queues

pytestmark = pytest.mark.rabbitmq


def _value(name: str, labels: dict[str, str] | None = None) -> float | None:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels or {})


def test_probe_reports_depth_age_and_leaves_messages_in_order(rabbitmq_url: str) -> None:
    queue = f"picupscaler-test-{uuid.uuid4().hex[:8]}"
    broker = build_broker(
        BrokerSettings(backend="rabbitmq", url=rabbitmq_url, queue=queue), JobSettings()
    )
    probe = ops_metrics.QueueProbe(rabbitmq_url, queue)
    try:
        broker.declare_queue(queue, ensure=True)
        empty = {s.role: s for s in probe.sample()}
        assert set(empty) == {"work", "delay", "dead_letter"}
        assert empty["work"].messages == 0 and empty["work"].oldest_age_seconds == 0.0
        job_ids = [f"job-{i}" for i in range(3)]
        for job_id in job_ids:
            enqueue_job(broker, queue, job_id)
        # The head message was published before `now`; its age is measured from its own stamp.
        now = time.time() + 30.0
        samples = {s.role: s for s in probe.sample(now=now)}
        work = samples["work"]
        assert work.messages == 3 and work.consumers == 0
        assert work.oldest_age_seconds is not None and 30.0 <= work.oldest_age_seconds < 40.0
        ops_metrics.publish(list(samples.values()), now=now)
        assert _value("picupscaler_queue_messages", {"role": "work"}) == 3
        assert _value("picupscaler_queue_messages", {"role": "dead_letter"}) == 0
        assert _value("picupscaler_queue_probe_success") == 1
        # Peeking twice more must not lose, duplicate or reorder anything.
        probe.sample()
        probe.sample()
        connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
        try:
            channel = connection.channel()
            seen = []
            while True:
                method, _, body = channel.basic_get(queue=queue, auto_ack=True)
                if method is None:
                    break
                import dramatiq

                seen.append(dramatiq.Message.decode(body).args[0])
        finally:
            connection.close()
        assert seen == job_ids
    finally:
        probe.close()
        broker.close()
        delete_queues(rabbitmq_url, queue)


def test_probe_skips_queues_that_do_not_exist(rabbitmq_url: str) -> None:
    probe = ops_metrics.QueueProbe(rabbitmq_url, f"picupscaler-absent-{uuid.uuid4().hex[:8]}")
    try:
        assert probe.sample() == []  # passive declares: nothing was created either
        assert probe.sample() == []
    finally:
        probe.close()


def test_refusals_count_only_refusal_statuses() -> None:
    before = _value("picupscaler_refusals_total", {"reason": "rate_limited", "status": "429"})
    ops_metrics.count_refusal("rate_limited", 429)
    ops_metrics.count_refusal("not_found", 404)
    after = _value("picupscaler_refusals_total", {"reason": "rate_limited", "status": "429"})
    assert (after or 0) - (before or 0) == 1
    assert _value("picupscaler_refusals_total", {"reason": "not_found", "status": "404"}) is None


def test_job_wait_is_measured_from_acceptance() -> None:
    ops_metrics.observe_job_wait("realesrgan-x4plus", accepted_at=100.0, now=112.5)
    ops_metrics.observe_job_wait("realesrgan-x4plus", accepted_at=200.0, now=199.0)  # skew
    total = _value("picupscaler_job_wait_seconds_sum", {"model": "realesrgan-x4plus"})
    assert total is not None and total >= 12.5
    labels = {"model": "realesrgan-x4plus", "le": "0.1"}
    assert _value("picupscaler_job_wait_seconds_bucket", labels)


def test_gpu_collector_exports_nothing_without_cuda_and_needs_no_torch() -> None:
    registry = CollectorRegistry()
    ops_metrics.register_gpu_memory_collector(registry)
    text = generate_latest(registry).decode()
    assert "picupscaler_worker_gpu_memory_bytes" in text  # the family is declared ...
    assert 'kind="allocated"' not in text  # ... with no sample on a machine without CUDA


def test_tampering_series_exist_from_start_up() -> None:
    """The tampering alert needs a 0 sample before the first altered manifest is seen (in a
    fresh process: no earlier test may have created the series)."""
    code = (
        "from prometheus_client import generate_latest\n"
        "from shared import ops_metrics\n"
        "ops_metrics.init_gateway_metrics(); ops_metrics.init_worker_metrics([])\n"
        "print(generate_latest().decode())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    for service in ("gateway", "worker"):
        assert f'picupscaler_manifest_tampering_total{{service="{service}"}} 0.0' in out
