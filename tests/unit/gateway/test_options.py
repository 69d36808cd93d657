"""Job options: any scale up to the cap, quality, model=auto, and the report in the status."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.errors import ApiError
from gateway.options import parse_options
from gateway.settings import GatewaySettings
from shared import lifecycle
from shared.manifest import JobManifest, JobOptions, JobReport
from shared.states import JobStatus
from shared.storage.local import LocalStore
from tests.unit.gateway.conftest import png
from tests.unit.gateway.test_jobs_api import error_code, post


def parse(fields: dict[str, str], settings: GatewaySettings) -> JobOptions:
    return parse_options(
        fields,
        max_scale=settings.max_scale,
        face_enhance_available=bool(settings.face_enhance_available),
    )


def test_defaults() -> None:
    options = parse_options({}, max_scale=8, face_enhance_available=False)
    assert (options.model, options.scale, options.output_format, options.quality) == (
        "realesrgan-x4plus",
        4,
        "png",
        None,
    )


@pytest.mark.parametrize("model", ["realesrgan-x4plus", "realesrgan-x4plus-anime", "auto"])
def test_every_model_takes_every_scale_up_to_the_cap(model: str) -> None:
    settings = GatewaySettings()
    for scale in range(1, settings.max_scale + 1):
        assert parse({"model": model, "scale": str(scale)}, settings).scale == scale
    with pytest.raises(ApiError) as refused:
        parse({"model": model, "scale": str(settings.max_scale + 1)}, settings)
    assert refused.value.code == "unsupported_scale"


def test_the_cap_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_MAX_SCALE", "3")
    settings = GatewaySettings()
    assert parse({"scale": "3"}, settings).scale == 3
    with pytest.raises(ApiError):
        parse({"scale": "4"}, settings)


def test_quality_is_kept_for_every_format() -> None:
    settings = GatewaySettings()
    for fmt in ("png", "jpeg", "webp"):
        assert parse({"output_format": fmt, "quality": "55"}, settings).quality == 55


def test_output_limit_counts_the_requested_scale(tmp_path: Path) -> None:
    settings = GatewaySettings.model_validate(
        {"storage": {"local_dir": tmp_path}, "jobs": {"max_output_pixels": 64 * 48 * 36}}
    )
    client = TestClient(create_app(settings))
    assert post(client, png(), scale="6").status_code == 202
    refused = post(client, png(), scale="7")
    assert refused.status_code == 422 and error_code(refused) == "output_too_large"


def test_status_shows_the_workers_report(client: TestClient, settings: GatewaySettings) -> None:
    job = post(client, png(), model="auto", quality="70").json()
    store = LocalStore(Path(settings.storage.local_dir), settings.storage.jobs_bucket)
    tracked = lifecycle.read(store, job["id"])
    assert tracked is not None and tracked.manifest.report is None
    auth = {"Authorization": f"Bearer {job['token']}"}
    assert "report" not in client.get(f"/v1/jobs/{job['id']}", headers=auth).json()

    def reported(manifest: JobManifest) -> None:
        manifest.report = JobReport(
            resolved_model="realesrgan-x4plus-anime",
            model_passes=[4],
            kept=["alpha"],
            dropped=["exif", "gps"],
        )

    running = lifecycle.transition(store, tracked, JobStatus.RUNNING)
    lifecycle.transition(store, running, JobStatus.SUCCEEDED, reported)
    body = client.get(f"/v1/jobs/{job['id']}", headers=auth).json()
    assert body["options"]["model"] == "auto" and body["options"]["quality"] == 70
    assert body["report"]["resolved_model"] == "realesrgan-x4plus-anime"
    assert body["report"]["dropped"] == ["exif", "gps"]
    assert {"id", "status", "progress", "expires_at", "options"} <= set(body)
