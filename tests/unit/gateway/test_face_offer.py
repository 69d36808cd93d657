"""Face enhancement is offered exactly when the operator installed a restorer, and asked-for
face enhancement is never silently ignored."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.support.env import UNLIMITED_ADMISSION
from tests.unit.gateway.conftest import png
from tests.unit.gateway.test_jobs_api import error_code


def client_for(tmp_path: Path, model_dir: Path | None) -> TestClient:
    settings = GatewaySettings(
        storage={"local_dir": tmp_path / "s"},
        crypto={"local_key_file": tmp_path / "k"},
        models={"dir": model_dir},
        admission=UNLIMITED_ADMISSION,
    )
    return TestClient(create_app(settings))


def upload(client: TestClient, **fields: str) -> object:
    return client.post("/v1/jobs", files={"file": ("p.png", png(), "image/png")}, data=fields)


def test_without_a_restorer_face_enhancement_is_refused_and_said_so(tmp_path: Path) -> None:
    client = client_for(tmp_path, None)
    refused = upload(client, face_enhance="true")
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert error_code(refused) == "face_enhance_unavailable"  # type: ignore[arg-type]
    assert "face restorer" in refused.json()["error"]["message"]  # type: ignore[attr-defined]
    models = client.get("/v1/models").json()
    assert models["face_enhance_available"] is False
    assert "MODEL_DIR" in models["face_enhance_note"]
    ready = client.get("/readyz").json()
    assert ready["capabilities"]["face_enhance"].startswith("unavailable:")
    assert upload(client).status_code == 202  # type: ignore[attr-defined]


def test_with_a_restorer_in_the_model_directory_it_is_offered(tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "faces").mkdir(parents=True)
    (models / "faces" / "GFPGANv1.4.pth").write_bytes(b"")  # the gateway reads the name only
    client = client_for(tmp_path, models)
    assert client.get("/v1/models").json()["face_enhance_available"] is True
    assert client.get("/readyz").json()["capabilities"]["face_enhance"] == "available"
    accepted = upload(client, face_enhance="true", face_fidelity="0.25")
    assert accepted.status_code == 202  # type: ignore[attr-defined]
    job = accepted.json()  # type: ignore[attr-defined]
    auth = {"Authorization": f"Bearer {job['token']}"}
    options = client.get(f"/v1/jobs/{job['id']}", headers=auth).json()["options"]
    assert options["face_enhance"] is True and options["face_fidelity"] == 0.25
    for bad in ("1.5", "-0.1", "nan", "x"):
        refused = upload(client, face_enhance="true", face_fidelity=bad)
        assert error_code(refused) == "invalid_face_fidelity"  # type: ignore[arg-type]


def test_two_restorers_are_not_guessed_between(tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "faces").mkdir(parents=True)
    for name in ("GFPGANv1.3.pth", "GFPGANv1.4.pth"):
        (models / "faces" / name).write_bytes(b"")
    models_body = client_for(tmp_path, models).get("/v1/models").json()
    assert models_body["face_enhance_available"] is False
    assert "keep one" in models_body["face_enhance_note"]
