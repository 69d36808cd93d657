"""Admission in one process (memory state): prices, budgets, caps, order, and the requests a
flooding or cross-site client sends. Redis and several replicas: tests/integration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.services import Services
from gateway.settings import GatewaySettings
from shared.cost import job_gflop
from shared.models import MODELS
from tests.unit.gateway.conftest import png
from tests.unit.gateway.test_jobs_api import error_code


def make(tmp_path: Path, **admission: Any) -> tuple[TestClient, Services]:
    settings = GatewaySettings(
        storage={"local_dir": tmp_path / "s"},
        crypto={"local_key_file": tmp_path / "k"},
        trusted_proxy_hops=1,
        admission={"uploads_per_minute": 0, **admission},
    )
    app = create_app(settings)
    return TestClient(app), app.state.services


def upload(client: TestClient, net: str, image: bytes | None = None, **fields: str) -> Any:
    """POST a job as if from ``net`` (behind one trusted proxy, which wrote X-Forwarded-For)."""
    return client.post(
        "/v1/jobs",
        files={"file": ("p.png", image or png(), "image/png")},
        data=fields,
        headers={"X-Forwarded-For": net.encode()},  # bytes: any header a client may send
    )


def test_a_job_is_priced_by_its_model_work() -> None:
    x4plus, anime = MODELS["realesrgan-x4plus"], MODELS["realesr-animevideov3"]
    assert job_gflop(x4plus, 512, 512, 4) == pytest.approx(9399, rel=1e-3)  # 35.9 MFLOP/px
    assert job_gflop(x4plus, 512, 512, 1) == job_gflop(x4plus, 512, 512, 4)  # x4, then shrunk
    # x8 = x4 on the image, x4 again on the 2x intermediate: 1 + 4 units of work.
    assert job_gflop(x4plus, 100, 100, 8) == pytest.approx(5 * job_gflop(x4plus, 100, 100, 4))
    assert job_gflop(anime, 512, 512, 2) < job_gflop(x4plus, 512, 512, 4) / 25


def test_the_work_budget_is_per_network(tmp_path: Path) -> None:
    one_job = job_gflop(MODELS["realesrgan-x4plus"], 64, 48, 4) / 1000
    client, _ = make(tmp_path, work_budget_tflop=2.5 * one_job)
    assert [upload(client, "203.0.113.9").status_code for _ in range(2)] == [202, 202]
    refused = upload(client, "203.0.113.10")  # the same /24
    assert refused.status_code == 429 and error_code(refused) == "work_budget_exhausted"
    assert int(refused.headers["retry-after"]) > 0
    assert "TFLOP" in refused.json()["error"]["message"]
    assert upload(client, "198.51.100.1").status_code == 202  # another network


def test_jobs_in_flight_are_capped_until_one_is_done(tmp_path: Path) -> None:
    client, services = make(tmp_path, max_in_flight_per_network=2)
    first = upload(client, "203.0.113.1").json()
    assert upload(client, "203.0.113.2").status_code == 202
    refused = upload(client, "203.0.113.3")
    assert refused.status_code == 429 and error_code(refused) == "too_many_jobs_in_flight"
    services.admission.in_flight.remove("203.0.113.0/24", first["id"])  # as the worker does
    assert upload(client, "203.0.113.4").status_code == 202


def test_a_network_s_later_jobs_queue_behind_others_first_ones(tmp_path: Path) -> None:
    client, services = make(tmp_path)
    for n in range(3):
        assert upload(client, f"203.0.113.{n}").status_code == 202
    assert upload(client, "198.51.100.1").status_code == 202
    assert isinstance(services.broker, StubBroker)
    queue = services.broker.queues[services.settings.broker.queue].queue
    priorities = [m.options["broker_priority"] for m in (_message(x) for x in list(queue))]
    assert priorities == [9, 8, 7, 9]


def test_a_full_backlog_refuses_everyone_with_503(tmp_path: Path) -> None:
    client, services = make(tmp_path, max_backlog=2)
    services.admission.backlog_cache_seconds = 0  # read the queue at every upload
    assert upload(client, "203.0.113.1").status_code == 202
    assert upload(client, "198.51.100.1").status_code == 202
    refused = upload(client, "192.0.2.1")
    assert refused.status_code == 503 and error_code(refused) == "backlog_full"
    assert "retry-after" in refused.headers


@pytest.mark.parametrize(
    "forwarded", ["", "not-an-address", "999.1.1.1", "1.2.3.4:80", ", ,", "\u0661.1.1.1"]
)
def test_an_unreadable_client_address_is_limited_not_unlimited(
    tmp_path: Path, forwarded: str
) -> None:
    client, _ = make(tmp_path, uploads_per_minute=2)
    codes = [upload(client, forwarded).status_code for _ in range(3)]
    assert codes == [202, 202, 429]


def test_forwarded_for_is_read_from_the_right(tmp_path: Path) -> None:
    client, _ = make(tmp_path, uploads_per_minute=1)
    # Each client writes a fresh address on the left; the ingress appends the real one.
    assert upload(client, "1.1.1.1, 203.0.113.5").status_code == 202
    refused = upload(client, "2.2.2.2, 203.0.113.6")
    assert refused.status_code == 429 and error_code(refused) == "rate_limited"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 202),  # an API client
        ({"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}, 202),
        ({"Sec-Fetch-Site": "none"}, 202),
        ({"Origin": "http://testserver"}, 202),
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site", "Origin": "https://uploads.testserver"}, 403),
        ({"Origin": "http://testserver:99999"}, 403),
        ({"Origin": "https://front.example", "Sec-Fetch-Site": "cross-site"}, 202),  # allowed
    ],
)
def test_uploads_from_other_sites_are_refused(
    tmp_path: Path, headers: dict[str, str], status: int
) -> None:
    settings = GatewaySettings(
        storage={"local_dir": tmp_path / "s"},
        crypto={"local_key_file": tmp_path / "k"},
        allowed_origins=["https://front.example"],
    )
    client = TestClient(create_app(settings))
    response = client.post(
        "/v1/jobs", files={"file": ("p.png", png(), "image/png")}, headers=headers
    )
    assert response.status_code == status, response.text
    if status == 403:
        assert error_code(response) == "cross_site_request"


def test_progress_streams_are_capped_per_job(tmp_path: Path) -> None:
    settings = GatewaySettings(
        storage={"local_dir": tmp_path / "s"},
        crypto={"local_key_file": tmp_path / "k"},
        max_streams_per_job=1,
    )
    client = TestClient(create_app(settings))
    job = upload(client, "").json()
    auth = {"Authorization": f"Bearer {job['token']}"}
    with client.stream("GET", f"/v1/jobs/{job['id']}/events", headers=auth) as first:
        assert first.status_code == 200
        next(first.iter_lines())
        second = client.get(f"/v1/jobs/{job['id']}/events", headers=auth)
        assert second.status_code == 429 and error_code(second) == "too_many_streams"


def test_an_export_reads_a_bounded_number_of_manifests(tmp_path: Path) -> None:
    client, _ = make(tmp_path, exports_per_minute=2)
    fake = ", ".join(f"01a2{n:028x}.{'x' * 43}" for n in range(21))
    too_many = client.get("/v1/privacy/export", headers={"X-Job-Tokens": fake})
    assert too_many.status_code == 422 and error_code(too_many) == "too_many_tokens"
    few = {"X-Job-Tokens": "01a2" + "0" * 28 + "." + "x" * 43, "X-Forwarded-For": "192.0.2.1"}
    assert [client.get("/v1/privacy/export", headers=few).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]


def _message(item: Any) -> Any:
    """The Dramatiq message inside a stub queue entry."""
    from dramatiq import Message

    return Message.decode(item) if isinstance(item, bytes) else item


def test_a_broker_that_cannot_say_its_depth_is_a_503_not_a_500(tmp_path: Path) -> None:
    from shared.errors import BrokerUnavailable

    client, services = make(tmp_path)

    def down() -> int:
        raise BrokerUnavailable("ConnectionRefusedError")

    services.admission._backlog = down
    services.admission.backlog_cache_seconds = 0
    refused = upload(client, "203.0.113.1")
    assert refused.status_code == 503 and error_code(refused) == "broker_unavailable"
    assert "retry-after" in refused.headers
