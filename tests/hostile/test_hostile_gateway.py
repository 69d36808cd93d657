"""Every hostile entry against the gateway in-process: the expected 4xx or 202, never a 5xx.

One gateway (default limits, local storage in a temporary directory, the in-process broker)
receives the whole corpus in order, so what one entry does to the process (memory, Pillow's
global state, the parser) is what the next one meets. Then a normal upload must still work.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from gateway.app import create_app
from gateway.errors import ApiError
from gateway.images import ImageFacts, check_output_size
from gateway.settings import GatewaySettings
from tests.hostile.corpus import CORPUS, MAX_OUTPUT_PIXELS, Entry, small_png
from tests.hostile.harness import (
    OBJECTS_PER_JOB,
    Outcome,
    gateway_settings,
    job_objects,
    markdown_table,
    report,
    run_corpus,
    summary,
)


class CorpusRun:
    """The gateway, its settings, and what it answered to each entry."""

    def __init__(self, client: TestClient, settings: GatewaySettings) -> None:
        self.client = client
        self.settings = settings
        self.outcomes = {o.entry.name: o for o in run_corpus(client, settings)}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorpusRun]:
    """Send the whole corpus once to one gateway; restore Pillow's global limit afterwards."""
    settings = gateway_settings(tmp_path_factory.mktemp("hostile-gateway"))
    saved = Image.MAX_IMAGE_PIXELS
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            yield CorpusRun(client, settings)
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _param(entry: Entry) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=entry.known_gap)] if entry.known_gap else []
    return pytest.param(entry, id=entry.name, marks=marks)


def test_corpus_is_big_and_names_are_unique() -> None:
    names = [entry.name for entry in CORPUS]
    assert len(names) >= 30
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("entry", [_param(e) for e in CORPUS])
def test_entry_gets_its_expected_answer(run: CorpusRun, entry: Entry) -> None:
    outcome = run.outcomes[entry.name]
    assert outcome.status == entry.status, (outcome.status, outcome.body)
    if entry.accepted:
        assert {"id", "token", "status", "expires_at", "links"} <= set(outcome.body)
        assert outcome.body["status"] == "queued"
    else:
        # The contract's error shape, with a sentence for a person.
        error = outcome.body["error"]
        assert set(error) == {"code", "message"}
        assert error["code"] == entry.code
        assert isinstance(error["message"], str) and error["message"].endswith(".")


def test_no_entry_causes_a_server_error(run: CorpusRun) -> None:
    server_errors = {n: o.status for n, o in run.outcomes.items() if o.status >= 500}
    assert server_errors == {}


def test_every_refusal_has_the_json_error_shape(run: CorpusRun) -> None:
    for outcome in run.outcomes.values():
        if outcome.status != 202:
            assert isinstance(outcome.code, str) and outcome.code, outcome


def test_nothing_is_stored_for_a_refused_upload(run: CorpusRun) -> None:
    stored = {n: o.stored for n, o in run.outcomes.items()}
    expected = {n: OBJECTS_PER_JOB if o.status == 202 else 0 for n, o in run.outcomes.items()}
    assert stored == expected
    accepted = sum(1 for o in run.outcomes.values() if o.status == 202)
    objects = job_objects(run.settings)
    assert len(objects) == OBJECTS_PER_JOB * accepted
    assert not [p for p in objects if p.name.startswith(".tmp-")]


def test_gateway_keeps_serving_after_the_corpus(run: CorpusRun) -> None:
    response = run.client.post(
        "/v1/jobs", files={"file": ("photo.png", small_png(), "image/png")}, data={"scale": "2"}
    )
    assert response.status_code == 202, response.text
    job = response.json()
    status = run.client.get(
        job["links"]["self"], headers={"Authorization": f"Bearer {job['token']}"}
    )
    assert status.status_code == 200 and status.json()["status"] == "queued"
    assert run.client.get("/healthz").status_code == 200


def test_print_the_table(run: CorpusRun, request: pytest.FixtureRequest) -> None:
    """The issue asks for the corpus as a table (file → status code): here it is."""
    outcomes: list[Outcome] = [run.outcomes[e.name] for e in CORPUS]
    report(request.config, markdown_table(outcomes) + "\n" + summary(outcomes))


def test_docs_table_matches_this_run(run: CorpusRun) -> None:
    """docs/hostile-input.md holds the table this run produces (regenerate it if not)."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "hostile-input.md"
    outcomes = [run.outcomes[e.name] for e in CORPUS]
    assert markdown_table(outcomes) in doc.read_text(), (
        "docs/hostile-input.md is stale: run `.venv/bin/python -m tests.hostile.table` and "
        "paste its output there"
    )


@pytest.mark.parametrize(
    ("size", "scale", "fmt", "refused"),
    [
        ((4000, 4000), 2, "png", False),  # exactly 64 MP
        ((4000, 4001), 2, "png", True),  # one row over
        ((20000, 1), 4, "png", False),
        ((20000, 1), 4, "jpeg", True),  # 80000 wide; JPEG holds 65535
        ((16383, 1), 4, "jpeg", False),  # 65532 wide
        ((5000, 500), 4, "webp", True),  # 20000 wide; WebP holds 16383
        ((4095, 900), 4, "webp", False),  # 16380 wide
        ((1, 1), 8, "webp", False),
    ],
)
def test_check_output_size(size: tuple[int, int], scale: int, fmt: str, refused: bool) -> None:
    facts = ImageFacts(format="PNG", width=size[0], height=size[1], mode="RGB")
    if refused:
        with pytest.raises(ApiError) as err:
            check_output_size(facts, scale, fmt, max_output_pixels=MAX_OUTPUT_PIXELS)
        assert (err.value.status, err.value.code) == (422, "output_too_large")
    else:
        check_output_size(facts, scale, fmt, max_output_pixels=MAX_OUTPUT_PIXELS)
