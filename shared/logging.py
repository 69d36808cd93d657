"""structlog set-up, done once per entry point.

Console lines for people, JSON for log shippers. ``job_id`` is bound through contextvars.
Never log image bytes or a full IP address: see :func:`gateway.client_info.truncate_ip`.
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.types import EventDict

from shared.settings import LogSettings


def configure_logging(service: str, settings: LogSettings | None = None) -> None:
    """Route structlog and the standard library's logging through one renderer."""
    settings = settings or LogSettings()

    def add_service(_: object, __: str, event: EventDict) -> EventDict:
        # A processor, not a context variable: context variables are per thread and per
        # request, and the service name belongs on every line of every thread.
        event.setdefault("service", service)
        return event

    shared_processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_service,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *shared_processors,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level.upper())
    # uvicorn's access log writes the full client address: it stays off (the gateway writes
    # its own access line with a truncated address).
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("pika", "urllib3", "botocore", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
