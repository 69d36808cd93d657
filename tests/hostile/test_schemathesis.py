"""Schemathesis against the gateway's own OpenAPI schema, in-process (ASGI): no 5xx.

Every operation in ``/openapi.json`` is exercised with schema-conforming and schema-violating
requests (Schemathesis' positive and negative modes, its examples, coverage and fuzzing
phases), at most 30 generated examples per operation, no deadline. The only check is
``not_a_server_error``: a hostile client may get any 4xx, never a 5xx.

Nothing is excluded. ``GET /v1/jobs/{job_id}/events`` streams for up to 10 minutes, but only
to the holder of a job's token, checked before the stream starts; the schema has no security
scheme, so generated requests carry no valid token and get the immediate 404. A per-call
timeout bounds it anyway, should that ever change.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from PIL import Image
from schemathesis.checks import not_a_server_error

from gateway.app import create_app
from tests.hostile.harness import gateway_settings, report

#: Cases run per operation and the statuses they got, reported at the end of the module.
CASES: Counter[str] = Counter()
STATUSES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print how many cases ran, per operation, once the module is done."""
    yield
    lines = [f"schemathesis: {sum(CASES.values())} cases, {len(CASES)} operations"]
    lines += [f"  {label}: {n}" for label, n in sorted(CASES.items())]
    lines.append(f"  statuses: {dict(sorted(STATUSES.items()))}")
    report(request.config, "\n".join(lines))


def _build_app() -> tuple[FastAPI, Path, int]:
    """The gateway (local storage in a fresh temporary directory, in-process broker).

    Built at import, because the schema must exist when pytest collects the module (the lazy
    ``schemathesis.pytest.from_fixture`` does not work with this pytest). ``create_app`` sets
    Pillow's process-wide pixel limit; it is put back at once and set again only while the
    test runs (``_pillow_limit``), so collecting this module changes nothing for others.
    """
    root = Path(tempfile.mkdtemp(prefix="picupscaler-schemathesis-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)  # also when only collected
    saved = Image.MAX_IMAGE_PIXELS
    try:
        app = create_app(gateway_settings(root))
        limit = Image.MAX_IMAGE_PIXELS
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    assert isinstance(limit, int)
    return app, root, limit


APP, _ROOT, PIXEL_LIMIT = _build_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _pillow_limit() -> Iterator[None]:
    """Pillow's limit as the gateway sets it, while this module runs."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = PIXEL_LIMIT
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call(timeout=30)
    CASES[case.operation.label] += 1
    STATUSES[str(response.status_code)] += 1
    case.validate_response(response, checks=[not_a_server_error])
