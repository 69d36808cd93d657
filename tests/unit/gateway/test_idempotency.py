"""Idempotency-Key: retries and double clicks give the same job, never two."""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.support.env import UNLIMITED_ADMISSION
from tests.unit.gateway.conftest import png
from tests.unit.gateway.test_jobs_api import error_code


def make(tmp_path: Path) -> tuple[TestClient, Path]:
    settings = GatewaySettings(
        storage={"local_dir": tmp_path / "s"},
        crypto={"local_key_file": tmp_path / "k"},
        admission=UNLIMITED_ADMISSION,
    )
    return TestClient(create_app(settings)), tmp_path / "s"


def post(client: TestClient, key: str | None, image: bytes | None = None, **fields: str):  # type: ignore[no-untyped-def]
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(
        "/v1/jobs",
        files={"file": ("p.png", image or png(), "image/png")},
        data=fields,
        headers=headers,
    )


def manifests(root: Path) -> int:
    return len(list(root.rglob("manifest.json")))


def test_a_retry_gets_the_same_job_and_a_working_token(tmp_path: Path) -> None:
    client, root = make(tmp_path)
    first, again = post(client, "retry-key-0001"), post(client, "retry-key-0001")
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert manifests(root) == 1
    auth = {"Authorization": f"Bearer {again.json()['token']}"}
    assert client.get(f"/v1/jobs/{again.json()['id']}", headers=auth).status_code == 200
    assert post(client, "another-key-02").json()["id"] != first.json()["id"]
    assert post(client, None).json()["id"] != first.json()["id"]


def test_a_key_reused_for_another_upload_is_refused(tmp_path: Path) -> None:
    client, root = make(tmp_path)
    assert post(client, "reused-key-001", scale="2").status_code == 202
    refused = post(client, "reused-key-001", scale="3")
    assert refused.status_code == 422 and error_code(refused) == "idempotency_key_reused"
    assert manifests(root) == 1


def test_a_double_click_makes_one_job(tmp_path: Path) -> None:
    client, root = make(tmp_path)
    barrier = threading.Barrier(3)  # a network holds at most 3 uploads at once
    answers: list[dict[str, str]] = []

    def click() -> None:
        barrier.wait()
        answers.append(post(client, "double-click-01").json())

    threads = [threading.Thread(target=click) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({a["id"] for a in answers}) == 1 and len(answers) == 3, answers
    assert manifests(root) == 1


def test_a_refused_first_try_does_not_hold_the_key(tmp_path: Path) -> None:
    client, root = make(tmp_path)
    refused = post(client, "after-refusal-1", image=b"not an image")
    assert refused.status_code == 415
    assert post(client, "after-refusal-1").status_code == 202
    assert manifests(root) == 1


def test_a_malformed_key_is_refused(tmp_path: Path) -> None:
    client, _ = make(tmp_path)
    for key in ("short", "x" * 129, "has space inside"):
        refused = post(client, key)
        assert refused.status_code == 422 and error_code(refused) == "invalid_idempotency_key"
