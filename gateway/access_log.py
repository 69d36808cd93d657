"""The gateway's access log and request metrics, as a plain ASGI middleware.

Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware buffers the
response through a second task, which holds streamed responses (Server-Sent Events, results)
and separates the route's context variables from the log line.

Each line names the route template (never a job id from the path), the status, the time, and
the client's network (IPv4 /24, IPv6 /48), never a full address, a user agent or a job id.
"""

from __future__ import annotations

import time

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import metrics
from gateway.client_info import client_address, truncate_ip
from gateway.settings import GatewaySettings

log = structlog.get_logger("gateway.access")
_QUIET = ("/healthz", "/readyz", "/metrics")


class AccessLog:
    """Logs and times every HTTP request, refusals included."""

    def __init__(self, app: ASGIApp, settings: GatewaySettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Request-scoped fields (job_id) must not leak from one request's lines to the next.
        structlog.contextvars.clear_contextvars()
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - start
            template = getattr(scope.get("route"), "path", "unmatched")
            method = scope.get("method", "")
            metrics.REQUEST_SECONDS.labels(method, template, str(status)).observe(elapsed)
            if template not in _QUIET:
                network = truncate_ip(client_address(Request(scope), self.settings))
                structlog.contextvars.clear_contextvars()  # no job id next to a network
                log.info(
                    "request",
                    method=method,
                    route=template,
                    status=status,
                    ms=round(elapsed * 1000, 1),
                    client_network=network,
                )
