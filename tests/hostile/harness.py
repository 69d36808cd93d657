"""Sending the corpus to an in-process gateway, and the table of what it answered.

Used by ``test_hostile_gateway.py`` and by ``python -m tests.hostile.table`` (which prints the
table for ``docs/hostile-input.md``), so the documented table is what the tests assert.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.settings import GatewaySettings
from shared.settings import BrokerSettings, CryptoSettings, JobSettings, StorageSettings
from tests.hostile.corpus import (
    CORPUS,
    MAX_INPUT_PIXELS,
    MAX_OUTPUT_PIXELS,
    MAX_UPLOAD_BYTES,
    Entry,
)

#: A job the gateway accepted leaves exactly these objects: the sealed input and the manifest.
OBJECTS_PER_JOB = 2


def gateway_settings(root: Path) -> GatewaySettings:
    """Default limits, local storage under ``root``, the in-process broker, no rate limit.

    Everything the corpus depends on is explicit, so variables in the environment (a CI job's
    ``JOBS_MAX_UPLOAD_BYTES``, say) cannot change the answers.
    """
    return GatewaySettings(
        storage=StorageSettings(backend="local", local_dir=root / "storage"),
        crypto=CryptoSettings(local_key_file=root / "keys" / "service.key"),
        broker=BrokerSettings(backend="inprocess"),
        jobs=JobSettings(
            max_upload_bytes=MAX_UPLOAD_BYTES,
            max_input_pixels=MAX_INPUT_PIXELS,
            max_output_pixels=MAX_OUTPUT_PIXELS,
        ),
        rate_limit_per_minute=0,
        face_enhance_available=False,
        max_scale=8,
    )


def job_objects(settings: GatewaySettings) -> list[Path]:
    """Every file in the jobs bucket (inputs, manifests, temporaries)."""
    bucket = settings.storage.local_dir / settings.storage.jobs_bucket
    return [path for path in bucket.rglob("*") if path.is_file()] if bucket.exists() else []


@dataclass(frozen=True)
class Outcome:
    """What the gateway answered to one entry."""

    entry: Entry
    status: int
    code: str | None
    body: Any
    stored: int  #: objects that appeared in the jobs bucket during the request

    @property
    def as_expected(self) -> bool:
        """The status (and, where the entry names one, the error code) are the expected ones."""
        entry = self.entry
        return self.status == entry.status and (entry.code is None or self.code == entry.code)


def send(client: TestClient, entry: Entry) -> httpx.Response:
    """POST the entry's request to /v1/jobs."""
    request = entry.request()
    content = request.chunks() if request.chunks is not None else request.body
    return client.post("/v1/jobs", content=content, headers=request.headers)


def error_code(response: httpx.Response) -> tuple[Any, str | None]:
    """(parsed JSON body or None, the contract's error code if the body has one)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return body, code if isinstance(code, str) else None


def run_corpus(
    client: TestClient, settings: GatewaySettings, entries: Iterable[Entry] = CORPUS
) -> list[Outcome]:
    """Send every entry in turn; record the answer and what it left in storage."""
    outcomes = []
    for entry in entries:
        before = len(job_objects(settings))
        response = send(client, entry)
        body, code = error_code(response)
        stored = len(job_objects(settings)) - before
        outcomes.append(Outcome(entry, response.status_code, code, body, stored))
    return outcomes


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fields(entry: Entry) -> str:
    if entry.raw is not None:
        return "(raw request)"
    shown = []
    for name, value in entry.fields:
        value = value if len(value) <= 24 else f"{value[:8]}… ({len(value)} chars)"
        shown.append(f"{name}={value!r}" if not value.isprintable() else f"{name}={value}")
    return ", ".join(shown) or "—"


def markdown_table(outcomes: Iterable[Outcome]) -> str:
    """The corpus as a markdown table: file, what it is, fields, status, error code."""
    lines = [
        "| # | file | what it is | form fields | status | error code |",
        "|---|---|---|---|---|---|",
    ]
    for number, outcome in enumerate(outcomes, 1):
        entry = outcome.entry
        status = str(outcome.status)
        if not outcome.as_expected:
            status += f" (expected {entry.status}{' ' + entry.code if entry.code else ''})"
        if entry.known_gap:
            status += f" — known gap: {entry.known_gap}"
        cells = [
            str(number),
            f"`{entry.name}`",
            entry.what,
            _fields(entry),
            status,
            f"`{outcome.code}`" if outcome.code else "—",
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def summary(outcomes: list[Outcome]) -> str:
    """One line: how many entries, by status class, and how many 5xx."""
    by_status: dict[int, int] = {}
    for outcome in outcomes:
        by_status[outcome.status] = by_status.get(outcome.status, 0) + 1
    counts = ", ".join(f"{status}: {n}" for status, n in sorted(by_status.items()))
    server_errors = sum(n for status, n in by_status.items() if status >= 500)
    return f"{len(outcomes)} entries ({counts}); 5xx: {server_errors}"


def report(config: pytest.Config, text: str) -> None:
    """Write ``text`` to the terminal even while pytest captures output (tables, counts)."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print("\n" + text)
        return
    with capture.global_and_fixture_disabled():
        print("\n" + text)
