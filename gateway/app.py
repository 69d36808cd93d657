"""The FastAPI application: routes, error rendering, and a privacy-preserving access log."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import dramatiq
import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import handlers, metrics
from gateway.access_log import AccessLog
from gateway.errors import ApiError
from gateway.routes import analytics, jobs, pages, privacy, system
from gateway.routes import models as model_routes
from gateway.services import FaceOffer, Services
from gateway.settings import GatewaySettings
from shared import ops_metrics
from shared.analytics import start_flusher
from shared.audit.startup import check_audit_log
from shared.formats import apply_pixel_limit
from shared.inflight import InFlight
from shared.models import MODELS, ModelInfo
from shared.storage import ensure_buckets

log = structlog.get_logger(__name__)


def create_app(
    settings: GatewaySettings,
    *,
    broker: dramatiq.Broker | None = None,
    models: dict[str, ModelInfo] | None = None,
    in_flight: InFlight | None = None,
    faces: FaceOffer | None = None,
) -> FastAPI:
    """Build the gateway app; all-in-one mode passes its in-process ``broker``, the ``models``
    its worker loaded, the ``in_flight`` counts it shares with that worker and whether that
    worker loaded a face restorer (``faces``)."""
    services = Services.from_settings(
        settings, broker=broker, models=models, in_flight=in_flight, faces=faces
    )
    operator = sorted(name for name in services.models if name not in MODELS)
    log.info("models", models=list(services.models), operator=operator)
    if settings.storage.create_buckets:
        for bucket in ensure_buckets(services.store, services.audit_store):
            log.warning("bucket_not_ensured", bucket=bucket)
    # The gateway writes deletion records (a user's DELETE): signed with its key, anchored
    # where the audit bucket's writers cannot rewrite them; unprotected, it refuses to start.
    check_audit_log(services.audit_store, settings.audit, create=settings.storage.create_buckets)
    apply_pixel_limit(settings.jobs.max_input_pixels)
    # Series that exist at 0 from the start: a rate over a missing series is "no data".
    ops_metrics.init_gateway_metrics()
    for dependency in ("storage", "broker", "admission"):
        metrics.DEPENDENCY_UNAVAILABLE.labels(dependency)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Aggregate counters go to storage periodically and once more at shutdown.
        stop = start_flusher(services.analytics, settings.analytics.flush_seconds)
        services.events.start()  # relays the workers' progress events to open streams
        try:
            yield
        finally:
            stop.set()
            services.events.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="PicUpscaler",
        version="0.1.0",
        description="Privacy-first AI image upscaling. Everything uploaded is deleted within "
        "24 hours.",
    )
    app.state.services = services
    app.add_exception_handler(ApiError, handlers.handle_api_error)
    app.add_exception_handler(StarletteHTTPException, handlers.handle_http_exception)
    app.add_exception_handler(RequestValidationError, handlers.handle_validation_error)
    app.include_router(jobs.router)
    app.include_router(model_routes.router)
    app.include_router(privacy.router)
    app.include_router(analytics.router)
    app.include_router(system.router)
    app.include_router(pages.router)

    app.add_middleware(AccessLog, settings=settings)

    return app
