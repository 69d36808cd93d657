"""The broker set-up overrides Dramatiq's defaults that would break the 24-hour promise."""

from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Retries, TimeLimit

from shared.broker import (
    PROCESS_JOB_ACTOR,
    ConfirmingRabbitmqBroker,
    broker_middleware,
    build_broker,
    enqueue_job,
)
from shared.settings import BrokerSettings, JobSettings


def test_middleware_bounds_retries_age_and_time() -> None:
    middleware = broker_middleware(BrokerSettings(), JobSettings())
    by_type = {type(m): m for m in middleware}
    retries = by_type[Retries]
    assert isinstance(retries, Retries)
    assert retries.max_retries <= 5 and retries.max_backoff <= 60_000
    age = by_type[AgeLimit]
    assert isinstance(age, AgeLimit) and age.max_age == 24 * 3600 * 1000
    assert isinstance(by_type[TimeLimit], TimeLimit)


def test_message_carries_the_job_id_only() -> None:
    broker = build_broker(BrokerSettings(queue="q"), JobSettings())
    assert isinstance(broker, StubBroker)
    enqueue_job(broker, "q", "0123456789abcdef0123456789abcdef")
    message = broker.queues["q"].get_nowait()
    decoded = __import__("json").loads(message)
    assert decoded["actor_name"] == PROCESS_JOB_ACTOR
    assert decoded["args"] == ["0123456789abcdef0123456789abcdef"]
    assert decoded["kwargs"] == {}


def test_rabbitmq_broker_confirms_and_bounds_dead_letters() -> None:
    settings = BrokerSettings(backend="rabbitmq", dead_letter_ttl_seconds=1800)
    broker = build_broker(settings, JobSettings())
    assert isinstance(broker, ConfirmingRabbitmqBroker)
    assert broker.confirm_delivery is True
    assert broker.dead_letter_ttl_ms == 1_800_000
