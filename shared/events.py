"""Progress events: workers publish them, gateways relay them to browsers (Server-Sent Events).

A kombu topic exchange (``BROKER_EVENTS_EXCHANGE``) on the broker's RabbitMQ, with routing key
``job.<id>``; all-in-one mode uses kombu's in-memory transport, so the code path is the same.
Events are a live view, not the record: they are transient (not persisted, dropped if nobody
listens) and the manifest stays the truth. A gateway binds one exclusive, auto-deleted queue
(messages expire after a minute, the queue holds a bounded number), so a stream costs no
storage reads: the old stream read the manifest twice a second for every open connection.

An event carries the job id, a sequence number (increasing within a job, for Last-Event-ID),
the status, progress 0..1, the stage, and when known the time left: never personal data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import asdict, dataclass, field
from typing import Any

import structlog
from kombu import Connection, Exchange, Queue
from kombu.mixins import ConsumerMixin

log = structlog.get_logger(__name__)

#: A job's events kept by a gateway for resuming streams (Last-Event-ID).
RECENT_PER_JOB = 64
#: Jobs whose recent events a gateway keeps (the oldest are forgotten first).
RECENT_JOBS = 10_000


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a job, as streams show it."""

    job_id: str
    seq: int
    status: str
    progress: float
    stage: str
    eta_seconds: float | None = None
    time: float = field(default_factory=time.time)

    def to_json(self) -> str:
        """The event as JSON (what the stream's ``data:`` line carries, minus the job id)."""
        body = {k: v for k, v in asdict(self).items() if v is not None and k != "job_id"}
        return json.dumps(body)

    @property
    def finished(self) -> bool:
        """True for the last event of a job."""
        return self.status in ("succeeded", "failed", "deleted")


def _exchange(name: str) -> Exchange:
    return Exchange(name, type="topic", durable=False, delivery_mode="transient")


class EventPublisher:
    """Publishes a process's progress events; a broker that is down loses events, never jobs."""

    def __init__(self, url: str, exchange: str) -> None:
        self._connection = Connection(url, connect_timeout=3, heartbeat=0)
        self._exchange = _exchange(exchange)
        self._lock = threading.Lock()
        self._producer: Any = None

    def publish(self, event: ProgressEvent) -> None:
        """Send ``event`` (best effort: failures are logged and dropped)."""
        try:
            with self._lock:
                if self._producer is None:
                    self._producer = self._connection.Producer(exchange=self._exchange)
                self._producer.publish(
                    {**asdict(event)},
                    routing_key=f"job.{event.job_id}",
                    serializer="json",
                    declare=[self._exchange],
                    retry=True,
                    retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2},
                )
        except Exception as exc:  # kombu/amqp raise many types; an event is not worth a job
            log.warning("progress_event_not_sent", error=type(exc).__name__)
            with self._lock:
                self._producer = None
                with contextlib.suppress(Exception):
                    self._connection.close()


class Subscription:
    """The events of one job, delivered to one stream's asyncio task."""

    def __init__(self, relay: EventRelay, job_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.relay = relay
        self.job_id = job_id
        self.loop = loop
        self.queue: asyncio.Queue[ProgressEvent] = asyncio.Queue(maxsize=256)

    def deliver(self, event: ProgressEvent) -> None:
        """Called on the relay's thread."""

        def put() -> None:
            with contextlib.suppress(asyncio.QueueFull):  # a stalled client loses old steps
                self.queue.put_nowait(event)

        self.loop.call_soon_threadsafe(put)

    async def next(self, timeout: float) -> ProgressEvent | None:
        """The next event, or None after ``timeout`` seconds of silence."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def close(self) -> None:
        """Stop delivering to this stream."""
        self.relay._unsubscribe(self)


class EventRelay(ConsumerMixin):
    """A gateway's consumer of every job's events, fanning them out to its open streams."""

    def __init__(self, url: str, exchange: str) -> None:
        self.connection = Connection(url, connect_timeout=3)
        self._exchange = _exchange(exchange)
        name = f"{exchange}.{socket.gethostname()[:40]}.{secrets.token_hex(4)}"
        self._queue = Queue(
            name,
            exchange=self._exchange,
            routing_key="job.*",
            exclusive=True,
            auto_delete=True,
            durable=False,
            queue_arguments={"x-message-ttl": 60_000, "x-max-length": 100_000},
        )
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._recent: dict[str, deque[ProgressEvent]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- kombu ---------------------------------------------------------------------------

    def get_consumers(self, consumer_cls: Any, channel: Any) -> list[Any]:
        """kombu's hook: one consumer on this gateway's queue."""
        return [consumer_cls(queues=[self._queue], callbacks=[self._on_message], accept=["json"])]

    def _on_message(self, body: dict[str, Any], message: Any) -> None:
        message.ack()
        try:
            event = ProgressEvent(**body)
        except TypeError:
            return
        self.dispatch(event)

    # -- streams -------------------------------------------------------------------------

    def start(self) -> None:
        """Consume in a daemon thread (reconnecting on its own) until :meth:`stop`."""
        self._thread = threading.Thread(target=self.run, name="event-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop consuming."""
        self.should_stop = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    def dispatch(self, event: ProgressEvent) -> None:
        """Keep ``event`` for resumption and hand it to the job's open streams."""
        with self._lock:
            recent = self._recent.get(event.job_id)
            if recent is None:
                if len(self._recent) >= RECENT_JOBS:
                    self._recent.pop(next(iter(self._recent)))
                recent = self._recent[event.job_id] = deque(maxlen=RECENT_PER_JOB)
            recent.append(event)
            subscribers = list(self._subscribers.get(event.job_id, ()))
        for subscription in subscribers:
            subscription.deliver(event)

    def subscribe(self, job_id: str) -> Subscription:
        """Events of ``job_id`` from now on, for the calling asyncio task."""
        subscription = Subscription(self, job_id, asyncio.get_running_loop())
        with self._lock:
            self._subscribers[job_id].add(subscription)
        return subscription

    def recent(self, job_id: str, after: int) -> list[ProgressEvent]:
        """Events of ``job_id`` this gateway saw with a sequence number above ``after``."""
        with self._lock:
            return [e for e in self._recent.get(job_id, ()) if e.seq > after]

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            subscribers = self._subscribers.get(subscription.job_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[subscription.job_id]
