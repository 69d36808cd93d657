"""Someone with write access to the jobs bucket but no service key: whatever they change in a
manifest, the job becomes unreadable (404), and the change is counted as tampering."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from gateway.app import create_app
from gateway.services import Services
from gateway.settings import GatewaySettings
from shared import keys
from shared.storage.local import LocalStore
from tests.support.env import UNLIMITED_ADMISSION
from tests.support.models import TinyModels
from tests.unit.gateway.conftest import png
from worker.processing import JobContext, Outcome, process_job


@pytest.fixture
def app(tmp_path: Path) -> tuple[TestClient, Services]:
    settings = GatewaySettings(
        storage={"local_dir": tmp_path / "s"},
        crypto={"local_key_file": tmp_path / "k"},
        admission=UNLIMITED_ADMISSION,
    )
    application = create_app(settings)
    return TestClient(application), application.state.services


def upload(client: TestClient) -> dict[str, str]:
    job: dict[str, str] = client.post(
        "/v1/jobs", files={"file": ("p.png", png(), "image/png")}
    ).json()
    return job


def rewrite(store: LocalStore, job_id: str, change: Callable[[dict[str, Any]], None]) -> None:
    """What a bucket writer can do: edit the stored JSON and put it back."""
    key = keys.job_key(job_id, keys.MANIFEST)
    body = json.loads(store.get(key))
    change(body)
    store.put(key, json.dumps(body).encode())


def tampering(service: str) -> float:
    value = REGISTRY.get_sample_value("picupscaler_manifest_tampering_total", {"service": service})
    return value or 0.0


def test_swapping_in_another_token_hash_reads_nothing(app: tuple[TestClient, Services]) -> None:
    client, services = app
    mine, theirs = upload(client), upload(client)
    store = services.store
    assert isinstance(store, LocalStore)
    my_hash = json.loads(store.get(keys.job_key(mine["id"], keys.MANIFEST)))["token_sha256"]
    before = tampering("gateway")

    def swap(body: dict[str, Any]) -> None:
        body["token_sha256"] = my_hash  # my token now "opens" their job

    rewrite(store, theirs["id"], swap)
    auth = {"Authorization": f"Bearer {mine['token']}"}
    for path in ("", "/result", "/events"):
        assert client.get(f"/v1/jobs/{theirs['id']}{path}", headers=auth).status_code == 404
    assert client.delete(f"/v1/jobs/{theirs['id']}", headers=auth).status_code == 404
    export = client.get(
        "/v1/privacy/export",
        headers={"X-Job-Tokens": mine["token"].replace(mine["id"], theirs["id"])},
    )
    assert export.json()["jobs"] == []
    assert tampering("gateway") >= before + 4
    # My own job is untouched and still mine.
    assert client.get(f"/v1/jobs/{mine['id']}", headers=auth).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b.update(expires_at="2099-01-01T00:00:00Z"),
        lambda b: b["options"].update(scale=8),
        lambda b: b.update(seal=None),
        lambda b: b["seal"].update(key_id="another"),
        lambda b: b.update(data_key=None, seal=None),  # posing as a failed job
    ],
    ids=["expiry", "options", "seal removed", "key id", "key dropped"],
)
def test_any_change_to_the_sealed_part_makes_the_job_unreadable(
    app: tuple[TestClient, Services], change: Callable[[dict[str, Any]], None]
) -> None:
    client, services = app
    job = upload(client)
    auth = {"Authorization": f"Bearer {job['token']}"}
    assert client.get(f"/v1/jobs/{job['id']}", headers=auth).status_code == 200
    assert isinstance(services.store, LocalStore)
    rewrite(services.store, job["id"], change)
    assert client.get(f"/v1/jobs/{job['id']}", headers=auth).status_code == 404


def test_the_worker_does_nothing_with_a_tampered_manifest(
    app: tuple[TestClient, Services],
) -> None:
    client, services = app
    job = upload(client)
    assert isinstance(services.store, LocalStore)
    rewrite(services.store, job["id"], lambda b: b["options"].update(model="realesr-animevideov3"))
    before = services.store.get(keys.job_key(job["id"], keys.MANIFEST))
    ctx = JobContext(
        store=services.store,
        audit_store=services.audit_store,
        keyring=services.keyring,
        models=TinyModels(),
        max_attempts=3,
    )
    assert process_job(job_id=job["id"], ctx=ctx) is Outcome.TAMPERED
    assert services.store.get(keys.job_key(job["id"], keys.MANIFEST)) == before
    assert services.store.stat(keys.job_key(job["id"], keys.RESULT)) is None
    assert tampering("worker") >= 1
