"""Every log line names its service, in every thread; a job's lines name the job, and only
its own thread's lines (the worker binds ``job_id`` per job through contextvars)."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest
import structlog

from shared.logging import configure_logging
from shared.settings import LogSettings


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The worker's logging set-up, its handler writing into a buffer instead of stderr."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("worker", LogSettings(format="json", level="INFO"))
    buffer = io.StringIO()
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)


def test_service_in_every_thread_and_job_id_only_in_the_jobs_own(
    json_logs: io.StringIO,
) -> None:
    log = structlog.get_logger("test")
    job_started, other_logged = threading.Event(), threading.Event()

    def job() -> None:
        structlog.contextvars.bind_contextvars(job_id="01a2job")
        job_started.set()
        other_logged.wait(10)  # the other thread logs while this job is bound
        log.info("tile_done")
        logging.getLogger("dramatiq.worker").info("a library line in the job's thread")
        structlog.contextvars.unbind_contextvars("job_id")

    def other() -> None:
        job_started.wait(10)
        log.info("heartbeat")
        other_logged.set()

    threads = [threading.Thread(target=job), threading.Thread(target=other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    log.info("main_thread_line")
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line]
    by_event = {line["event"]: line for line in lines}
    assert {line["service"] for line in lines} == {"worker"} and len(lines) == 4
    assert by_event["tile_done"]["job_id"] == "01a2job"
    assert by_event["a library line in the job's thread"]["job_id"] == "01a2job"
    assert "job_id" not in by_event["heartbeat"]
    assert "job_id" not in by_event["main_thread_line"]
