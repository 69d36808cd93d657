"""``python -m worker``: one worker process (one per GPU) consuming jobs from RabbitMQ."""

from __future__ import annotations

import signal
import threading
import time
from typing import TYPE_CHECKING

import structlog
from prometheus_client import start_http_server

from shared.analytics import start_flusher
from shared.logging import configure_logging
from worker.settings import WorkerSettings

if TYPE_CHECKING:
    from worker.runtime import WorkerRuntime

log = structlog.get_logger("worker")


def main() -> None:
    """Start, serve until SIGTERM/SIGINT, then stop gracefully."""
    started = time.perf_counter()
    settings = WorkerSettings()
    configure_logging("worker", settings.log)
    from worker.runtime import build_runtime  # imports torch: after logging is set up

    runtime = build_runtime(settings)
    _init_metrics(runtime)
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    runtime.worker.start()
    if runtime.webhook_worker is not None:
        runtime.webhook_worker.start()
    analytics = runtime.context.analytics
    flush_seconds = settings.analytics.flush_seconds
    flusher = start_flusher(analytics, flush_seconds) if analytics is not None else None
    log.info(
        "worker_ready",
        startup_seconds=round(time.perf_counter() - started, 2),
        model_load_seconds=round(runtime.load_seconds, 2),
        device=runtime.device,
        queue=settings.broker.queue,
    )
    stop.wait()
    log.info("worker_stopping")
    # The running job gets the grace period; anything unacked goes back to the queue.
    runtime.worker.stop(timeout=settings.shutdown_grace_seconds * 1000)
    if runtime.webhook_worker is not None:
        runtime.webhook_worker.stop(timeout=10_000)  # an unfinished delivery is redelivered
    runtime.broker.close()
    if flusher is not None:
        flusher.set()  # final flush of the aggregate counters
    log.info("worker_stopped")


def _init_metrics(runtime: WorkerRuntime) -> None:
    """GPU memory, and the series of the models this worker serves, at 0 from the start."""
    from shared import ops_metrics
    from worker.metrics import JOBS_FINISHED

    ops_metrics.register_gpu_memory_collector()
    models = list(runtime.context.models.available())
    ops_metrics.init_worker_metrics(models)
    for model in models:
        for status in ("succeeded", "failed"):
            JOBS_FINISHED.labels(model, status)


if __name__ == "__main__":
    main()
