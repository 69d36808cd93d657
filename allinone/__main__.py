"""``python -m allinone`` (what ``make run`` starts): the whole product in one process."""

from __future__ import annotations

import threading
import time

import structlog
import uvicorn

from gateway.app import create_app
from gateway.services import FaceOffer
from gateway.settings import GatewaySettings
from janitor.service import Janitor
from janitor.settings import JanitorSettings
from shared.analytics import start_flusher
from shared.broker import build_broker
from shared.inflight import MemoryInFlight
from shared.logging import configure_logging
from shared.memory import return_large_blocks_to_os
from shared.models import catalogue
from worker.runtime import build_runtime
from worker.settings import WorkerSettings

log = structlog.get_logger("allinone")


def main() -> None:
    """Start the worker and janitor threads, then serve HTTP until interrupted."""
    started = time.perf_counter()
    gateway_settings = GatewaySettings()
    worker_settings = WorkerSettings()
    janitor_settings = JanitorSettings()
    configure_logging("allinone", gateway_settings.log)
    return_large_blocks_to_os()  # uploads' and results' buffers go back to the system
    if gateway_settings.broker.backend != worker_settings.broker.backend:
        raise SystemExit("gateway and worker must use the same broker backend")

    broker = build_broker(gateway_settings.broker, gateway_settings.jobs)
    # One process: the gateway counts jobs in flight, the worker frees them, in one memory.
    in_flight = MemoryInFlight()
    runtime = build_runtime(worker_settings, broker, in_flight=in_flight)
    runtime.worker.start()
    if runtime.webhook_worker is not None:
        runtime.webhook_worker.start()
    analytics = runtime.context.analytics
    flusher = (
        start_flusher(analytics, worker_settings.analytics.flush_seconds)
        if analytics is not None
        else None
    )
    janitor = Janitor(janitor_settings)
    janitor.check_audit_anchor()  # AnchorUnprotected: refuse to start, like the services
    janitor_thread = threading.Thread(target=janitor.run, name="janitor", daemon=True)
    janitor_thread.start()
    # The page and the API offer exactly what the in-process worker loaded.
    models = catalogue(runtime.context.models.available())
    stage = runtime.faces
    faces = FaceOffer(stage.enhancer is not None, stage.reason) if stage is not None else None
    app = create_app(
        gateway_settings, broker=broker, models=models, in_flight=in_flight, faces=faces
    )
    log.info(
        "allinone_ready",
        url=f"http://{gateway_settings.host}:{gateway_settings.port}/",
        startup_seconds=round(time.perf_counter() - started, 2),
        model_load_seconds=round(runtime.load_seconds, 2),
        device=runtime.device,
        storage=str(gateway_settings.storage.local_dir)
        if gateway_settings.storage.backend == "local"
        else gateway_settings.storage.endpoint,
    )
    try:
        uvicorn.run(
            app,
            host=gateway_settings.host,
            port=gateway_settings.port,
            access_log=False,
            log_config=None,
        )
    finally:
        janitor.stop()
        runtime.worker.stop(timeout=worker_settings.shutdown_grace_seconds * 1000)
        if runtime.webhook_worker is not None:
            runtime.webhook_worker.stop(timeout=10_000)
        janitor_thread.join(timeout=5)
        if flusher is not None:
            flusher.set()


if __name__ == "__main__":
    main()
