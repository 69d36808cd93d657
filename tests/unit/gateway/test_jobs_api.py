"""The fixed HTTP contract, in process: no worker runs, so jobs stay queued."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from gateway.settings import GatewaySettings
from tests.unit.gateway.conftest import png


def post(client: TestClient, data: bytes, **fields: str):  # type: ignore[no-untyped-def]
    return client.post("/v1/jobs", files={"file": ("x.png", data, "image/png")}, data=fields)


def error_code(response) -> str:  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"]
    return str(body["error"]["code"])


def test_accepts_an_image_and_answers_202_with_token(
    client: TestClient, settings: GatewaySettings
) -> None:
    response = post(client, png())
    assert response.status_code == 202
    job = response.json()
    assert set(job) == {"id", "token", "status", "expires_at", "links"}
    assert job["status"] == "queued"
    manifests = list(Path(settings.storage.local_dir).rglob("manifest.json"))
    assert len(manifests) == 1
    stored = manifests[0].read_text()
    assert job["token"] not in stored  # only the hash is kept
    assert json.loads(stored)["input"]["width"] == 64
    status = client.get(
        f"/v1/jobs/{job['id']}", headers={"Authorization": f"Bearer {job['token']}"}
    )
    assert status.status_code == 200
    assert status.json()["status"] == "queued" and status.json()["progress"] == 0.0


def test_wrong_or_missing_token_is_the_same_404_as_no_job(client: TestClient) -> None:
    job = post(client, png()).json()
    url = f"/v1/jobs/{job['id']}"
    answers = [
        client.get(url),
        client.get(url, headers={"Authorization": "Bearer wrong"}),
        client.get("/v1/jobs/" + "0" * 32, headers={"Authorization": f"Bearer {job['token']}"}),
        client.get(url + "/result", headers={"Authorization": "Bearer wrong"}),
        client.delete(url, headers={"Authorization": "Bearer wrong"}),
    ]
    assert {a.status_code for a in answers} == {404}
    assert len({a.content for a in answers}) == 1


def test_result_before_success_is_409(client: TestClient) -> None:
    job = post(client, png()).json()
    auth = {"Authorization": f"Bearer {job['token']}"}
    response = client.get(f"/v1/jobs/{job['id']}/result", headers=auth)
    assert response.status_code == 409 and error_code(response) == "result_not_ready"


def test_delete_removes_everything_and_returns_a_receipt(
    client: TestClient, settings: GatewaySettings
) -> None:
    job = post(client, png()).json()
    auth = {"Authorization": f"Bearer {job['token']}"}
    response = client.delete(f"/v1/jobs/{job['id']}", headers=auth)
    assert response.status_code == 200
    receipt = response.json()
    assert receipt["id"] == job["id"] and receipt["status"] == "deleted"
    # Every object the job had or could still get: the result, not yet written, is named too.
    named = {o["key"].rsplit("/", 1)[1]: o for o in receipt["objects_deleted"]}
    assert {name: o["present"] for name, o in named.items()} == {
        "input": True,
        "manifest.json": True,
        "result": False,
    }
    assert named["input"]["size_class"] == "<1MB" and "bytes" not in named["input"]
    assert client.delete(f"/v1/jobs/{job['id']}", headers=auth).status_code == 404
    jobs_dir = Path(settings.storage.local_dir) / settings.storage.jobs_bucket
    assert [p for p in jobs_dir.rglob("*") if p.is_file()] == []
    assert client.get(f"/v1/jobs/{job['id']}", headers=auth).status_code == 404


@pytest.mark.parametrize(
    ("data", "fields", "status", "code"),
    [
        (b"hello, I am text", {}, 415, "unsupported_format"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", {}, 415, "unsupported_format"),
        (b"", {}, 422, "empty_file"),
        (png()[:60], {}, 422, "undecodable_image"),
        (png(), {"model": "no-such-model"}, 422, "unknown_model"),
        (png(), {"scale": "0"}, 422, "unsupported_scale"),
        (png(), {"scale": "9"}, 422, "unsupported_scale"),
        (png(), {"scale": "four"}, 422, "invalid_scale"),
        (png(), {"quality": "0"}, 422, "invalid_quality"),
        (png(), {"quality": "101"}, 422, "invalid_quality"),
        (png(), {"quality": "high"}, 422, "invalid_quality"),
        (png(), {"scale": "3"}, 202, None),
        (
            png(),
            {"model": "auto", "scale": "1", "output_format": "jpeg", "quality": "80"},
            202,
            None,
        ),
        (png(), {"output_format": "gif"}, 422, "invalid_output_format"),
        (png(), {"face_enhance": "maybe"}, 422, "invalid_face_enhance"),
        (png(), {"face_enhance": "true"}, 422, "face_enhance_unavailable"),
        (png(), {"colour": "red"}, 422, "unknown_option"),
        (png(600, 500), {}, 413, "image_too_large"),
        (png(200, 200), {"model": "realesr-animevideov3", "scale": "4"}, 202, None),
    ],
)
def test_bad_uploads_get_clear_errors(
    client: TestClient, data: bytes, fields: dict[str, str], status: int, code: str | None
) -> None:
    response = post(client, data, **fields)
    assert response.status_code == status, response.text
    if code is not None:
        assert error_code(response) == code


def test_output_pixel_limit(tmp_path: Path) -> None:
    from gateway.app import create_app

    settings = GatewaySettings(
        storage={"local_dir": tmp_path}, jobs={"max_output_pixels": 100 * 100}
    )
    response = post(TestClient(create_app(settings)), png(30, 30))
    assert response.status_code == 422 and error_code(response) == "output_too_large"


def test_upload_over_the_byte_limit_is_413(client: TestClient) -> None:
    noise = Image.frombytes("RGB", (300, 300), bytes(range(256)) * 1055)
    buf = io.BytesIO()
    noise.save(buf, "BMP")  # ~270 kB, over the 200 kB test limit
    response = post(client, buf.getvalue())
    assert response.status_code == 413 and error_code(response) == "upload_too_large"


def test_not_multipart_is_415(client: TestClient) -> None:
    response = client.post("/v1/jobs", content=png(), headers={"Content-Type": "image/png"})
    assert response.status_code == 415


def test_missing_file_part_is_422(client: TestClient) -> None:
    response = client.post("/v1/jobs", data={"model": "realesrgan-x4plus"}, files={"x": ("a", b"")})
    assert response.status_code == 422 and error_code(response) == "missing_file"


def test_health_ready_metrics_pages(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"storage": "ok", "broker": "ok"}
    post(client, png())
    metrics = client.get("/metrics")
    assert "text/plain" in metrics.headers["content-type"]
    assert "picupscaler_jobs_accepted_total" in metrics.text
    page = client.get("/")
    assert page.status_code == 200 and "13 or older" in page.text
    policy = client.get("/privacy")
    assert "Last updated:" in policy.text and "privacy@example.org" in policy.text
    assert client.get("/nope").json()["error"]["code"] == "not_found"
