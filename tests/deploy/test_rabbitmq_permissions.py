"""The RabbitMQ users of deploy/k8s/README.md, as written there, against a real RabbitMQ.

The README's ``rabbitmqctl`` block runs unchanged in bash, with ``rabbitmqctl`` wrapped so that
the vhost and the users get names of their own (and their passwords are kept for the test).
Then the services' own code runs with each user: the gateway declares the job queues,
enqueues, reads the depth and relays progress events through its exclusive queue; the worker
consumes a job, schedules a retry and publishes events; the monitor (queue exporter, KEDA)
probes the queues. Each user is also refused what it must not do. A relay without the rights
it needs fails silently (kombu reconnects for ever and the streams stay mute), so the events
are checked to arrive, not just the calls to return.

Needs ``rabbitmqctl`` with the right to manage the local RabbitMQ (root or the Erlang cookie).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pika
import pika.exceptions
import pytest

from shared.broker import build_broker, enqueue_job, ping_broker, queue_depth
from shared.errors import BrokerUnavailable
from shared.events import EventPublisher, EventRelay, ProgressEvent
from shared.ops_metrics import QueueProbe
from shared.settings import BrokerSettings, JobSettings
from tests.deploy.k8s_render import container_env, readme_block, render
from tests.support.env import skip_or_fail
from worker.webhooks import webhook_queue

pytestmark = pytest.mark.rabbitmq

#: Runs before the README's block: the same commands, in a vhost and with users of their own.
WRAPPER = r"""
set -euo pipefail
rabbitmqctl() {
  local args=() a
  for a in "$@"; do
    case "$a" in
      picupscaler) a="$VHOST" ;;
      picupscaler-*) a="$a-$SUFFIX" ;;
    esac
    args+=("$a")
  done
  if [ "$1" = add_user ]; then printf '%s %s\n' "${args[1]}" "${args[2]}" >> "$USERS"; fi
  command rabbitmqctl -q "${args[@]}" > /dev/null
}
"""


@pytest.fixture(scope="module")
def users(tmp_path_factory: pytest.TempPathFactory, rabbitmq_url: str) -> Iterator[dict[str, str]]:
    """Run the README's commands; yield each user's AMQP URL by its README name's suffix
    (``gateway``, ``worker``, ``monitor``); remove the vhost and users afterwards."""
    if shutil.which("rabbitmqctl") is None or shutil.which("openssl") is None:
        skip_or_fail("rabbitmqctl and openssl are needed to create RabbitMQ users")
    probe = subprocess.run(["rabbitmqctl", "-q", "list_vhosts"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        skip_or_fail("rabbitmqctl cannot manage the local RabbitMQ (not root, no cookie)")
    suffix = uuid.uuid4().hex[:8]
    vhost = f"picupscaler-test-{suffix}"
    created = tmp_path_factory.mktemp("rabbitmq") / "users"
    created.touch()
    script = WRAPPER + readme_block("rabbitmqctl add_vhost")
    run = subprocess.run(
        ["bash", "-c", script],
        env={
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "VHOST": vhost,
            "SUFFIX": suffix,
            "USERS": str(created),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        assert run.returncode == 0, run.stdout + run.stderr
        urls = {}
        for line in created.read_text().splitlines():
            user, password = line.split(" ", 1)
            role = user.removeprefix("picupscaler-").removesuffix(f"-{suffix}")
            urls[role] = f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}"
        assert set(urls) == {"gateway", "worker", "monitor"}
        yield urls
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)
        for line in _lines(created):
            subprocess.run(
                ["rabbitmqctl", "-q", "delete_user", line.split(" ")[0]], capture_output=True
            )


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture(scope="module")
def names(kubectl: str) -> tuple[str, str]:
    """The job queue and the events exchange the production manifests configure."""
    env = container_env(render(kubectl, "prod"), "gateway")
    return str(env["BROKER_QUEUE"]), str(env["BROKER_EVENTS_EXCHANGE"])


class ObservedRelay(EventRelay):
    """The gateway's relay, saying when it consumes (kombu's hook) and what it dispatches."""

    def __init__(self, url: str, exchange: str) -> None:
        super().__init__(url, exchange)
        self.ready = threading.Event()
        self.seen: dict[str, threading.Event] = {}

    def on_consume_ready(self, connection: Any, channel: Any, consumers: Any, **kw: Any) -> None:
        self.ready.set()

    def dispatch(self, event: ProgressEvent) -> None:
        super().dispatch(event)
        self.seen.setdefault(event.job_id, threading.Event()).set()

    def wait_for(self, job_id: str, timeout: float = 30) -> bool:
        return self.seen.setdefault(job_id, threading.Event()).wait(timeout)


def refused(url: str, action: Any) -> bool:
    """Whether RabbitMQ refuses ``action(channel)`` for the user of ``url`` (403)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        action(connection.channel())
    except pika.exceptions.ChannelClosedByBroker as exc:
        return exc.reply_code == 403
    finally:
        if connection.is_open:
            connection.close()
    return False


def test_each_service_can_do_its_part_and_nothing_more(
    users: dict[str, str], names: tuple[str, str]
) -> None:
    queue, exchange = names
    settings = {
        role: BrokerSettings(backend="rabbitmq", url=url, queue=queue, events_exchange=exchange)
        for role, url in users.items()
    }
    job_id = uuid.uuid4().hex

    # The gateway: declares the job queues (with their dead-letter exchange), enqueues, reads
    # the depth, and relays progress events through its own exclusive queue.
    gateway = build_broker(settings["gateway"], JobSettings())
    relay = ObservedRelay(settings["gateway"].events_url, exchange)
    relay.start()
    try:
        ping_broker(gateway, queue)
        enqueue_job(gateway, queue, job_id, priority=3)
        assert queue_depth(gateway, queue) == 1
        assert relay.ready.wait(30), "the gateway's relay never started consuming"
        EventPublisher(settings["gateway"].events_url, exchange).publish(
            ProgressEvent("deleted-by-gateway", 1, "deleted", 1.0, "deleted")
        )
        assert relay.wait_for("deleted-by-gateway"), "the gateway's own event did not arrive"

        # The monitor: passive declares and a peek, nothing else.
        probe = QueueProbe(users["monitor"], queue)
        try:
            work = {s.role: s for s in probe.sample()}["work"]
            assert work.messages == 1 and work.oldest_age_seconds is not None
        finally:
            probe.close()

        # The worker: consumes the job, schedules a retry, publishes progress.
        worker = build_broker(settings["worker"], JobSettings())
        consumer = worker.consume(queue, prefetch=1, timeout=1000)
        try:
            message = next(m for m in consumer if m is not None)
            assert message.args == (job_id,)
            consumer.ack(message)
        finally:
            consumer.close()
        retry = dramatiq.Message(
            queue_name=queue, actor_name="process_job", args=(job_id,), kwargs={}, options={}
        )
        worker.enqueue(retry, delay=60_000)  # to the delay queue, through the default exchange
        EventPublisher(settings["worker"].events_url, exchange).publish(
            ProgressEvent(job_id, 2, "running", 0.5, "upscaling")
        )
        assert relay.wait_for(job_id), "the worker's event did not reach the gateway's relay"

        # The worker's webhook deliveries: declared, announced, consumed, retried, by it alone.
        hooks = webhook_queue(queue)
        worker.declare_queue(hooks)
        notice = dramatiq.Message(
            queue_name=hooks, actor_name="deliver_webhook", args=(job_id,), kwargs={}, options={}
        )
        worker.enqueue(notice)
        consumer = worker.consume(hooks, prefetch=1, timeout=1000)
        try:
            message = next(m for m in consumer if m is not None)
            assert message.args == (job_id,)
            consumer.ack(message)
        finally:
            consumer.close()
        worker.enqueue(notice, delay=30_000)  # a retry, to the webhook delay queue
        worker.close()

        # Refused: the monitor publishes nothing; the worker neither declares nor reads a
        # gateway's event queue; the gateway consumes no other exchange's queue.
        monitor = build_broker(settings["monitor"], JobSettings())
        with pytest.raises(BrokerUnavailable):
            enqueue_job(monitor, queue, uuid.uuid4().hex)
        monitor.close()
        events_queue = relay._queue.name
        assert refused(users["worker"], lambda ch: ch.basic_consume(events_queue, print))
        assert refused(users["worker"], lambda ch: ch.queue_declare(f"{exchange}.rogue.0"))
        assert refused(users["monitor"], lambda ch: ch.exchange_declare(exchange, "topic"))
        assert refused(users["gateway"], lambda ch: ch.queue_declare("picupscaler.other"))
        assert refused(users["gateway"], lambda ch: ch.basic_consume(webhook_queue(queue), print))
        assert refused(users["monitor"], lambda ch: ch.basic_consume(webhook_queue(queue), print))
    finally:
        relay.stop()
        gateway.close()
