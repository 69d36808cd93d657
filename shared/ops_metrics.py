"""Operational metrics that the dashboards, alerts and the worker autoscaler read.

One module for every metric added for operations (issue 13), so that the names the
PrometheusRule, the Grafana dashboards and the KEDA ScaledObject in ``deploy/`` use are
defined in one place:

* the RabbitMQ queues: ready messages, consumers and the age of the oldest message waiting
  (``picupscaler_queue_*``), sampled by :class:`QueueProbe` in the queue exporter
  (``python -m shared.ops_metrics``, one small Deployment with a read-only broker user);
* how long jobs wait before a worker starts them, per model (:func:`observe_job_wait`);
* refusals by reason, 429 and 503 included (:func:`count_refusal`);
* GPU memory of a worker (:func:`register_gpu_memory_collector`).

Queue depth comes from a passive ``queue.declare`` (the AMQP answer carries the ready-message
and consumer counts), so no management plugin is needed. The oldest message's age comes from
a peek: ``basic.get`` of the head message without acknowledging it, reading Dramatiq's
``message_timestamp``, then ``basic.nack(requeue=True)``: RabbitMQ puts it back at its place.
A peek marks the message redelivered, which Dramatiq ignores; it must not run against a
quorum queue with a delivery limit (Dramatiq declares classic queues).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.manifest import MANIFEST_TAMPERING
from shared.settings import BrokerSettings, LogSettings

log = structlog.get_logger(__name__)

#: Queue roles, as the ``role`` label: Dramatiq's work queue, its delay (retry) queue ``.DQ``
#: and its dead-letter queue ``.XQ``. Alerts and dashboards select on the role, never on the
#: deployment's queue name.
ROLES = ("work", "delay", "dead_letter")

QUEUE_MESSAGES = Gauge(
    "picupscaler_queue_messages", "Messages ready for delivery in a RabbitMQ queue.", ["role"]
)
QUEUE_CONSUMERS = Gauge("picupscaler_queue_consumers", "Consumers of a RabbitMQ queue.", ["role"])
QUEUE_OLDEST_AGE = Gauge(
    "picupscaler_queue_oldest_message_age_seconds",
    "Age of the message at the head of the queue (0 when the queue is empty).",
    ["role"],
)
QUEUE_PROBE_SUCCESS = Gauge(
    "picupscaler_queue_probe_success", "1 when the last probe of RabbitMQ's queues succeeded."
)
QUEUE_PROBE_LAST_SUCCESS = Gauge(
    "picupscaler_queue_probe_last_success_timestamp_seconds",
    "When the queues were last probed successfully.",
)
JOB_WAIT_SECONDS = Histogram(
    "picupscaler_job_wait_seconds",
    "Seconds from the job's acceptance (202) to the start of its processing.",
    ["model"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
REFUSALS = Counter(
    "picupscaler_refusals_total",
    "Requests the gateway refused, by error code (reason) and HTTP status.",
    ["reason", "status"],
)

#: Statuses that count as a refusal: the request was understood and declined.
REFUSAL_STATUSES = frozenset({403, 408, 413, 415, 422, 429, 503})


def observe_job_wait(model: str, accepted_at: datetime | float, now: float | None = None) -> None:
    """Record how long a job waited, from its acceptance to now (the start of processing).

    ``accepted_at`` is the manifest's ``created_at`` or Dramatiq's ``message_timestamp`` / 1000
    (epoch seconds). Clock skew between gateway and worker can make it slightly negative:
    clamped at 0.
    """
    started = time.time() if now is None else now
    accepted = accepted_at.timestamp() if isinstance(accepted_at, datetime) else accepted_at
    JOB_WAIT_SECONDS.labels(model).observe(max(0.0, started - accepted))


def count_refusal(reason: str, status: int) -> None:
    """Count a refused request (403, 408, 413, 415, 422, 429, 503); others are ignored.

    Safe to call for every error answer: ``reason`` is the JSON error ``code``.
    """
    if status in REFUSAL_STATUSES:
        REFUSALS.labels(reason, str(status)).inc()


#: The refusal codes of the HTTP contract, created at 0 so that every series exists before the
#: first refusal (a rate over a missing series is "no data", not 0).
REFUSAL_CODES = (
    ("upload_too_large", 413),
    ("image_too_large", 413),
    ("unsupported_format", 415),
    ("rate_limited", 429),
    ("too_many_jobs_in_flight", 429),
    ("work_budget_exhausted", 429),
    ("too_many_uploads", 429),
    ("too_many_streams", 429),
    ("backlog_full", 503),
    ("cross_site_request", 403),
    ("upload_timeout", 408),
)


def init_gateway_metrics() -> None:
    """Create the gateway's refusal and tampering series at 0 (call once at start-up).

    A counter that first appears at 1 shows no increase to ``increase()``: the alerts on
    these would miss the first refusal or the first altered manifest.
    """
    for reason, status in REFUSAL_CODES:
        REFUSALS.labels(reason, str(status))
    MANIFEST_TAMPERING.labels("gateway")


def init_worker_metrics(models: Iterable[str]) -> None:
    """Create the job-wait series of the models a worker serves, and its tampering series, at
    0 (call once at start-up)."""
    for model in models:
        JOB_WAIT_SECONDS.labels(model)
    MANIFEST_TAMPERING.labels("worker")


class GpuMemoryCollector(Collector):
    """``picupscaler_worker_gpu_memory_bytes{device,kind}`` read from torch at scrape time.

    Imports nothing itself: it reads torch only if the process has already imported it (the
    worker), so the gateway can import this module without torch. Kinds: ``allocated``,
    ``reserved`` (by torch's caching allocator), ``peak`` (max allocated since start) and
    ``total`` (the card's memory). Nothing is exported on a machine without CUDA.
    """

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One sample per CUDA device and kind."""
        import sys

        torch: Any = sys.modules.get("torch")
        family = GaugeMetricFamily(
            "picupscaler_worker_gpu_memory_bytes",
            "GPU memory of this worker process, by device and kind.",
            labels=["device", "kind"],
        )
        if torch is not None and torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                device = f"cuda:{index}"
                family.add_metric([device, "allocated"], torch.cuda.memory_allocated(index))
                family.add_metric([device, "reserved"], torch.cuda.memory_reserved(index))
                family.add_metric([device, "peak"], torch.cuda.max_memory_allocated(index))
                total = torch.cuda.get_device_properties(index).total_memory
                family.add_metric([device, "total"], total)
        yield family


_GPU_REGISTRIES: set[int] = set()


def register_gpu_memory_collector(registry: CollectorRegistry = REGISTRY) -> None:
    """Export the worker's GPU memory in ``registry`` (idempotent per registry)."""
    if id(registry) not in _GPU_REGISTRIES:
        registry.register(GpuMemoryCollector())
        _GPU_REGISTRIES.add(id(registry))


@dataclass(frozen=True)
class QueueSample:
    """One queue as RabbitMQ reported it."""

    role: str
    name: str
    messages: int
    consumers: int
    oldest_age_seconds: float | None


class QueueProbe:
    """Reads Dramatiq's three queues for one job queue over AMQP (pika), reconnecting as needed.

    Passive declares never create a queue: a queue that does not exist yet (nobody declared
    it) is skipped, not created under the exporter's name.
    """

    def __init__(self, url: str, queue: str, *, peek: bool = True) -> None:
        from dramatiq.common import dq_name, xq_name

        self.url = url
        self.peek = peek
        self.queues = {"work": queue, "delay": dq_name(queue), "dead_letter": xq_name(queue)}
        self._connection: Any = None

    def _channel(self) -> Any:
        import pika

        if self._connection is None or self._connection.is_closed:
            params = pika.URLParameters(self.url)
            params.connection_attempts, params.socket_timeout = 1, 5
            self._connection = pika.BlockingConnection(params)
        return self._connection.channel()

    def sample(self, now: float | None = None) -> list[QueueSample]:
        """Depth, consumers and (work and dead-letter queues) the head message's age."""
        import pika.exceptions

        samples = []
        for role, name in self.queues.items():
            channel = self._channel()
            try:
                declared = channel.queue_declare(queue=name, passive=True).method
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code == 404:  # not declared yet: nothing to report
                    continue
                raise
            age = None
            if self.peek and role != "delay":
                age = self._head_age(channel, name, now) if declared.message_count else 0.0
            samples.append(
                QueueSample(role, name, declared.message_count, declared.consumer_count, age)
            )
            with contextlib.suppress(Exception):
                channel.close()
        return samples

    @staticmethod
    def _head_age(channel: Any, queue: str, now: float | None) -> float | None:
        """Age of the head message (from Dramatiq's timestamp), put back where it was."""
        import dramatiq

        method, _properties, body = channel.basic_get(queue=queue, auto_ack=False)
        if method is None:  # a worker took it in between
            return 0.0
        try:
            stamp_ms = dramatiq.Message.decode(body).message_timestamp
        except Exception:  # not a Dramatiq message: no age, but the queue is still counted
            return None
        finally:
            channel.basic_nack(delivery_tag=method.delivery_tag, requeue=True)
        return max(0.0, (time.time() if now is None else now) - stamp_ms / 1000)

    def close(self) -> None:
        """Close the AMQP connection."""
        if self._connection is not None and self._connection.is_open:
            with contextlib.suppress(Exception):
                self._connection.close()


def publish(samples: list[QueueSample], now: float | None = None) -> None:
    """Set the queue gauges from one successful probe."""
    for sample in samples:
        QUEUE_MESSAGES.labels(sample.role).set(sample.messages)
        QUEUE_CONSUMERS.labels(sample.role).set(sample.consumers)
        if sample.oldest_age_seconds is not None:
            QUEUE_OLDEST_AGE.labels(sample.role).set(sample.oldest_age_seconds)
    QUEUE_PROBE_SUCCESS.set(1)
    QUEUE_PROBE_LAST_SUCCESS.set(time.time() if now is None else now)


class QueueExporterSettings(BaseSettings):
    """The queue exporter (``QUEUE_EXPORTER_`` prefix) plus the broker it reads."""

    model_config = SettingsConfigDict(env_prefix="QUEUE_EXPORTER_", extra="ignore")

    #: Port of the Prometheus endpoint.
    port: int = Field(default=9102, ge=1, le=65535)
    #: Seconds between probes (each is 3 passive declares and up to 2 peeks).
    interval_seconds: float = Field(default=15.0, gt=0)
    #: Peek at the head messages for their age (needs read permission on the queues).
    peek: bool = True
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    log: LogSettings = Field(default_factory=LogSettings)


def run_exporter(settings: QueueExporterSettings, stop: threading.Event) -> None:
    """Probe every interval until ``stop`` is set; a failed probe sets success to 0."""
    probe = QueueProbe(
        settings.broker.url.get_secret_value(), settings.broker.queue, peek=settings.peek
    )
    try:
        while not stop.is_set():
            try:
                publish(probe.sample())
            except Exception as exc:  # broker down or restarting: report it, try again
                QUEUE_PROBE_SUCCESS.set(0)
                log.warning("queue_probe_failed", error=type(exc).__name__)
                probe.close()
                probe._connection = None
            stop.wait(settings.interval_seconds)
    finally:
        probe.close()


def main() -> None:
    """``python -m shared.ops_metrics``: serve the queue metrics until SIGTERM."""
    from shared.logging import configure_logging

    settings = QueueExporterSettings()
    configure_logging("queue-exporter", settings.log)
    # pika logs every passive declare of a queue not declared yet (404) as a channel close;
    # failures that matter reach our own queue_probe_failed line.
    logging.getLogger("pika").setLevel(logging.ERROR)
    start_http_server(settings.port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("queue_exporter_ready", port=settings.port, queue=settings.broker.queue)
    run_exporter(settings, stop)


if __name__ == "__main__":
    main()
