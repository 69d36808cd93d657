"""Webhooks on completion through the real worker runtime (the job actor, the webhook actor,
Retries, two Dramatiq Workers) on the in-process broker, real storage, a tiny network and a
real receiver on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from prometheus_client import REGISTRY

from gateway.submit import SubmittedJob, submit_job
from shared.broker import build_broker, enqueue_job
from shared.deletion import delete_job
from shared.manifest import load_manifest
from shared.models import catalogue
from shared.settings import BrokerSettings, JobSettings
from shared.webhooks import SIGNATURE_HEADER, WebhookSettings, verify_signature
from tests.support.models import TinyModels
from tests.support.photos import photo
from tests.support.receiver import Receiver, start_receiver
from tests.support.storage import replace_input
from worker.runtime import WorkerRuntime, build_runtime
from worker.settings import WorkerSettings
from worker.webhooks import Outcome, WebhookContext, deliver_once, webhook_queue

SECRET = "unit-test-secret-0123456789"
ALLOW_LOOPBACK = {
    "signing_secret": SECRET,
    "allow_private_targets": True,
    "allow_http": True,
    "retry_delays_seconds": [0.05, 0.05],
}


def build(tmp_path: Path, **webhooks: object) -> WorkerRuntime:
    settings = WorkerSettings(
        storage={"local_dir": tmp_path / "storage"},
        crypto={"local_key_file": tmp_path / "service.key"},
        broker={"max_retries": 0},
        webhooks={**ALLOW_LOOPBACK, **webhooks},
    )
    runtime = build_runtime(settings, models=TinyModels())
    assert isinstance(runtime.broker, StubBroker) and runtime.webhook_worker is not None
    return runtime


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[WorkerRuntime]:
    rt = build(tmp_path)
    rt.worker.start()
    assert rt.webhook_worker is not None
    rt.webhook_worker.start()
    yield rt
    rt.worker.stop()
    rt.webhook_worker.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with start_receiver("127.0.0.1") as r:
        yield r


def submit(
    rt: WorkerRuntime,
    url: str | None,
    *,
    expiry_seconds: int = 86400,
    broker: dramatiq.Broker | None = None,
) -> SubmittedJob:
    """A job stored and queued (on ``broker``, else the runtime's) by the gateway's own use
    case, with a webhook_url; hooks.example.test resolves to 127.0.0.1 here."""
    fields = {"model": "realesr-animevideov3", "scale": "2"}
    if url is not None:
        fields["webhook_url"] = url
    return submit_job(
        file=photo(24, 16),
        fields=fields,
        store=rt.context.store,
        broker=broker or rt.broker,
        keyring=rt.context.keyring,
        models=catalogue(),
        jobs=JobSettings(expiry_seconds=expiry_seconds),
        broker_settings=rt.settings.broker,
        max_scale=8,
        face_enhance_available=False,
        retry_after_seconds=1,
        webhooks=WebhookSettings(**ALLOW_LOOPBACK),  # type: ignore[arg-type]
        resolver=lambda host, port: ["127.0.0.1"],
    )


def settle(rt: WorkerRuntime) -> None:
    """Wait until the job and every webhook try (retries included) are done."""
    assert isinstance(rt.broker, StubBroker) and rt.webhook_worker is not None
    rt.broker.join(rt.settings.broker.queue, fail_fast=False)
    rt.worker.join()
    rt.broker.join(webhook_queue(rt.settings.broker.queue), fail_fast=False)
    rt.webhook_worker.join()


def count(outcome: str) -> float:
    value = REGISTRY.get_sample_value("picupscaler_webhook_deliveries_total", {"outcome": outcome})
    return value or 0.0


def test_a_succeeded_job_posts_a_signed_notice(runtime: WorkerRuntime, receiver: Receiver) -> None:
    job = submit(runtime, f"http://127.0.0.1:{receiver.port}/hooks/picupscaler")
    settle(runtime)
    got = receiver.next_delivery(10)
    assert receiver.deliveries.empty()
    assert got.path == "/hooks/picupscaler"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["PicUpscaler-Attempt"] == "1"
    assert verify_signature(got.body, got.headers[SIGNATURE_HEADER], SECRET)
    manifest = load_manifest(runtime.context.store, job.id)
    assert manifest is not None and manifest.result is not None
    body = json.loads(got.body)
    assert body == {
        "id": job.id,
        "status": "succeeded",
        "finished_at": body["finished_at"],
        "result": {"width": 48, "height": 32, "format": "png", "bytes": manifest.result.bytes},
    }
    assert datetime.fromisoformat(body["finished_at"]) == manifest.updated_at
    everything = got.body + json.dumps(got.headers).encode()
    assert job.token.encode() not in everything and manifest.token_sha256.encode() not in everything


def test_a_failed_job_posts_its_error(runtime: WorkerRuntime, receiver: Receiver) -> None:
    # Stored first (queued where nobody consumes), its input then broken, then queued.
    held = build_broker(BrokerSettings(), JobSettings())
    job = submit(runtime, f"http://127.0.0.1:{receiver.port}/", broker=held)
    replace_input(runtime.context.store, runtime.context.keyring, job.id, b"\x89PNG broken")
    enqueue_job(runtime.broker, runtime.settings.broker.queue, job.id)
    settle(runtime)
    body = json.loads(receiver.next_delivery(10).body)
    assert body["status"] == "failed" and "result" not in body
    assert body["error"]["code"] == "undecodable_image"


def test_failures_are_retried_on_schedule_then_delivered(
    runtime: WorkerRuntime, receiver: Receiver
) -> None:
    receiver.statuses += [500, 302]
    before = count("delivered"), count("retrying")
    submit(runtime, f"http://127.0.0.1:{receiver.port}/")
    settle(runtime)
    attempts = [receiver.next_delivery(10).headers["PicUpscaler-Attempt"] for _ in range(3)]
    assert attempts == ["1", "2", "3"] and receiver.deliveries.empty()
    assert (count("delivered"), count("retrying")) == (before[0] + 1, before[1] + 2)


def test_the_last_failure_gives_up_quietly(runtime: WorkerRuntime, receiver: Receiver) -> None:
    receiver.statuses += [500, 500, 500, 500]
    gave_up = count("gave_up")
    submit(runtime, f"http://127.0.0.1:{receiver.port}/")
    settle(runtime)
    assert [receiver.next_delivery(10) for _ in range(3)]  # 1 try + 2 retries, no more
    assert receiver.deliveries.empty()
    assert count("gave_up") == gave_up + 1
    assert isinstance(runtime.broker, StubBroker) and runtime.broker.dead_letters == []


def test_no_try_falls_after_the_jobs_expiry(tmp_path: Path, receiver: Receiver) -> None:
    rt = build(tmp_path, retry_delays_seconds=[120.0])
    rt.worker.start()
    assert rt.webhook_worker is not None
    rt.webhook_worker.start()
    try:
        receiver.statuses.append(503)
        gave_up = count("gave_up")
        submit(rt, f"http://127.0.0.1:{receiver.port}/", expiry_seconds=60)
        settle(rt)  # returns at once: the 2-minute retry was never scheduled
    finally:
        rt.worker.stop()
        rt.webhook_worker.stop()
    receiver.next_delivery(5)
    assert receiver.deliveries.empty() and count("gave_up") == gave_up + 1


def test_a_job_deleted_before_delivery_gets_no_notice(tmp_path: Path, receiver: Receiver) -> None:
    rt = build(tmp_path)
    rt.worker.start()  # the webhook worker stays off until the job is deleted
    assert rt.webhook_worker is not None
    try:
        job = submit(rt, f"http://127.0.0.1:{receiver.port}/")
        assert isinstance(rt.broker, StubBroker)
        rt.broker.join(rt.settings.broker.queue)
        rt.worker.join()
        skipped = count("skipped")
        ctx = rt.context
        delete_job(ctx.store, ctx.audit_store, job.id, reason="user_request", service="gateway")
        rt.webhook_worker.start()
        settle(rt)
    finally:
        rt.worker.stop()
        rt.webhook_worker.stop()
    assert receiver.deliveries.empty() and count("skipped") == skipped + 1


def test_a_job_without_webhook_url_enqueues_nothing(runtime: WorkerRuntime) -> None:
    submit(runtime, None)
    settle(runtime)
    assert isinstance(runtime.broker, StubBroker)
    assert runtime.broker.queues[webhook_queue(runtime.settings.broker.queue)].qsize() == 0


def test_each_try_checks_the_target_again(tmp_path: Path, receiver: Receiver) -> None:
    """Accepted at upload (the gateway allowed loopback), refused at delivery by a worker that
    does not: the check runs again before every try, on a fresh resolution."""
    rt = build(tmp_path)
    rt.worker.start()
    try:
        job = submit(rt, f"http://hooks.example.test:{receiver.port}/")
        assert isinstance(rt.broker, StubBroker)
        rt.broker.join(rt.settings.broker.queue)
        rt.worker.join()
    finally:
        rt.worker.stop()
    strict = WebhookSettings(signing_secret=SECRET, allow_http=True)  # type: ignore[arg-type]
    for resolved in (["127.0.0.1"], ["93.184.215.14", "10.1.1.1"], ["::ffff:127.0.0.1"]):
        ctx = WebhookContext(
            rt.context.store, rt.context.keyring, strict, resolver=lambda h, p, r=resolved: r
        )
        outcome, _ = deliver_once(job.id, 1, ctx)
        assert outcome is Outcome.REFUSED
    assert receiver.deliveries.empty()
    allowed = WebhookContext(
        rt.context.store,
        rt.context.keyring,
        WebhookSettings(**ALLOW_LOOPBACK),  # type: ignore[arg-type]
        resolver=lambda h, p: ["127.0.0.1"],
    )
    assert deliver_once(job.id, 1, allowed)[0] is Outcome.DELIVERED
    assert receiver.next_delivery(5).headers["Host"] == f"hooks.example.test:{receiver.port}"


def test_a_worker_told_enabled_without_the_secret_refuses_to_start(tmp_path: Path) -> None:
    """The gateways would accept webhook URLs that no worker could sign: fail at start-up."""
    with pytest.raises(ValueError, match="WEBHOOK_SIGNING_SECRET is unset"):
        build(tmp_path, signing_secret=None, enabled=True)
