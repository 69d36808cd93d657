"""Dramatiq broker set-up shared by the gateway (publisher) and the worker (consumer).

Dramatiq's defaults break the 24-hour promise (20 retries with back-off up to 7 days, dead
letters kept 7 days, no age limit), so every broker built here overrides them:

* retries are few and short (``BROKER_MAX_RETRIES``, back-off ≤ 1 min);
* a message older than the job expiry is dropped (AgeLimit);
* dead-lettered messages expire after ``BROKER_DEAD_LETTER_TTL_SECONDS`` (1 h by default);
* the RabbitMQ broker publishes with confirms, so ``enqueue`` returning means RabbitMQ has it.

Messages carry the job id and nothing else.
"""

from __future__ import annotations

import contextlib

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Retries, ShutdownNotifications, TimeLimit

from shared.errors import BrokerUnavailable
from shared.settings import BrokerSettings, JobSettings

#: The Dramatiq actor that processes one job; the worker registers it under this name.
PROCESS_JOB_ACTOR = "process_job"
#: Job messages carry a RabbitMQ priority from 0 to this (the queue's ``x-max-priority``).
MAX_PRIORITY = 9


class ConfirmingRabbitmqBroker(RabbitmqBroker):
    """RabbitmqBroker whose dead-letter queue keeps messages for a bounded time only."""

    def __init__(self, *, dead_letter_ttl_ms: int, **kwargs: object) -> None:
        self.dead_letter_ttl_ms = dead_letter_ttl_ms
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def _declare_xq_queue(self, queue_name: str) -> object:
        # Dramatiq reads this TTL from an environment variable at import time (7 days by
        # default); the privacy promise needs it per broker and short.
        from dramatiq.common import xq_name

        return self.channel.queue_declare(
            queue=xq_name(queue_name),
            durable=True,
            arguments={"x-message-ttl": self.dead_letter_ttl_ms},
        )


def broker_middleware(settings: BrokerSettings, jobs: JobSettings) -> list[dramatiq.Middleware]:
    """Return the middleware every broker uses: bounded age, time, and retries."""
    return [
        AgeLimit(max_age=jobs.expiry_seconds * 1000),
        TimeLimit(time_limit=settings.time_limit_seconds * 1000),
        ShutdownNotifications(),
        Retries(max_retries=settings.max_retries, min_backoff=1_000, max_backoff=60_000),
    ]


def build_broker(settings: BrokerSettings, jobs: JobSettings) -> dramatiq.Broker:
    """Return the configured broker with the job queue declared."""
    middleware = broker_middleware(settings, jobs)
    broker: dramatiq.Broker
    if settings.backend == "rabbitmq":
        broker = ConfirmingRabbitmqBroker(
            url=settings.url.get_secret_value(),
            confirm_delivery=True,
            max_priority=MAX_PRIORITY,
            dead_letter_ttl_ms=settings.dead_letter_ttl_seconds * 1000,
            middleware=middleware,
        )
    else:
        # In-process queue for all-in-one mode: same actor, same middleware, no RabbitMQ.
        broker = StubBroker(middleware=middleware)
    broker.declare_queue(settings.queue)
    return broker


def enqueue_job(broker: dramatiq.Broker, queue: str, job_id: str, priority: int = 0) -> None:
    """Publish the message for ``job_id``; raise BrokerUnavailable unless the broker took it.

    ``priority`` (0..MAX_PRIORITY, higher first) orders the RabbitMQ queue; the in-process
    broker of all-in-one mode serves in arrival order.
    """
    options = {"broker_priority": max(0, min(MAX_PRIORITY, priority))}
    message: dramatiq.Message[None] = dramatiq.Message(
        queue_name=queue, actor_name=PROCESS_JOB_ACTOR, args=(job_id,), kwargs={}, options=options
    )
    try:
        broker.enqueue(message)
    except Exception as exc:  # pika raises many unrelated types; all mean "not confirmed"
        raise BrokerUnavailable(type(exc).__name__) from exc


def queue_depth(broker: dramatiq.Broker, queue: str) -> int:
    """Messages waiting in ``queue`` (not counting delayed retries or dead letters)."""
    try:
        if isinstance(broker, RabbitmqBroker):
            # A passive declare answers with the ready-message count; it creates nothing.
            declared = broker.channel.queue_declare(queue=queue, passive=True)
            return int(declared.method.message_count)
        if isinstance(broker, StubBroker):
            return int(broker.queues[queue].qsize())
    except Exception as exc:  # pika raises many unrelated types; all mean "not answered"
        with contextlib.suppress(Exception):
            del broker.connection  # type: ignore[attr-defined]
        raise BrokerUnavailable(type(exc).__name__) from exc
    return 0


def ping_broker(broker: dramatiq.Broker, queue: str) -> None:
    """Raise BrokerUnavailable unless the broker answers (declares the queue if needed)."""
    if isinstance(broker, RabbitmqBroker):
        try:
            broker.declare_queue(queue, ensure=True)
            broker.channel.queue_declare(queue=queue, passive=True)
        except Exception as exc:
            # Drop the broken thread-local connection so the next call reconnects.
            with contextlib.suppress(Exception):  # already gone is fine
                del broker.connection
            raise BrokerUnavailable(type(exc).__name__) from exc
