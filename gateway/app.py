"""The FastAPI application: routes, error rendering, and a privacy-preserving access log."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import dramatiq
import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import handlers, metrics
from gateway.client_info import client_address, truncate_ip
from gateway.errors import ApiError
from gateway.ratelimit import RateLimiter
from gateway.routes import analytics, jobs, pages, privacy, system
from gateway.routes import models as model_routes
from gateway.services import Services
from gateway.settings import GatewaySettings
from shared.analytics import start_flusher
from shared.formats import apply_pixel_limit
from shared.models import MODELS, ModelInfo
from shared.storage import ensure_buckets

log = structlog.get_logger("gateway.access")


def create_app(
    settings: GatewaySettings,
    *,
    broker: dramatiq.Broker | None = None,
    models: dict[str, ModelInfo] | None = None,
) -> FastAPI:
    """Build the gateway app; all-in-one mode passes its in-process ``broker`` and ``models``."""
    services = Services.from_settings(settings, broker=broker, models=models)
    operator = sorted(name for name in services.models if name not in MODELS)
    log.info("models", models=list(services.models), operator=operator)
    if settings.storage.create_buckets:
        for bucket in ensure_buckets(services.store, services.audit_store):
            log.warning("bucket_not_ensured", bucket=bucket)
    apply_pixel_limit(settings.jobs.max_input_pixels)

    limiter = RateLimiter(settings.rate_limit_per_minute)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Aggregate counters go to storage periodically and once more at shutdown.
        stop = start_flusher(services.analytics, settings.analytics.flush_seconds)
        try:
            yield
        finally:
            stop.set()

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

    @app.middleware("http")
    async def access_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Request-scoped fields (job_id) must not leak into the next request's lines; the
        # service name is added by the logging configuration, not bound here.
        structlog.contextvars.clear_contextvars()
        start = time.perf_counter()
        network = truncate_ip(client_address(request, settings))
        if request.method == "POST" and request.url.path == "/v1/jobs":
            allowed, wait = limiter.allow(network)
            if not allowed:
                return handlers.error_response(
                    429,
                    "rate_limited",
                    "Too many uploads from your network; please wait a minute.",
                    {"Retry-After": str(wait)},
                )
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            elapsed = time.perf_counter() - start
            route = request.scope.get("route")
            template = getattr(route, "path", "unmatched")
            metrics.REQUEST_SECONDS.labels(request.method, template, str(status)).observe(elapsed)
            if template not in ("/healthz", "/readyz", "/metrics"):
                log.info(
                    "request",
                    method=request.method,
                    route=template,
                    status=status,
                    ms=round(elapsed * 1000, 1),
                    client_network=network,
                )

    return app
