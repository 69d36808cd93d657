"""Operator models in the gateway: MODEL_DIR's names are offered, checked, listed."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.settings import GatewaySettings
from shared.manifest import load_manifest
from shared.models import MODELS, catalogue
from shared.operator_models import OperatorModelError
from shared.settings import ModelDirSettings
from shared.storage.local import LocalStore
from tests.unit.gateway.conftest import png
from tests.unit.gateway.test_jobs_api import error_code, post


def test_catalogue_adds_operator_names_and_extends_builtin_scales() -> None:
    models = catalogue({"house-style": (2, 4), "realesrgan-x4plus": (2,), "empty": ()})
    assert list(models)[: len(MODELS)] == list(MODELS)
    assert models["house-style"].scales == (2, 4) and models["house-style"].default_scale == 4
    assert models["realesrgan-x4plus"].scales == (2, 4)
    assert models["realesrgan-x4plus"].default_scale == 4  # a built-in keeps its default
    assert "empty" not in models
    assert catalogue() == MODELS == catalogue({})


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    # The gateway reads names only: the contents are the worker's business.
    for name in ("house-style-x2.safetensors", "house-style-x4.pth", "README.txt", ".x-x4.pth"):
        (folder / name).write_bytes(b"")
    return folder


@pytest.fixture
def operator_client(settings: GatewaySettings, model_dir: Path) -> TestClient:
    return TestClient(
        create_app(settings.model_copy(update={"models": ModelDirSettings(dir=model_dir)}))
    )


def test_an_operator_model_is_accepted_with_its_default_scale(
    operator_client: TestClient, settings: GatewaySettings
) -> None:
    response = post(operator_client, png(), model="house-style")
    assert response.status_code == 202, response.text
    store = LocalStore(Path(settings.storage.local_dir), settings.storage.jobs_bucket)
    manifest = load_manifest(store, response.json()["id"])
    assert manifest is not None
    assert (manifest.options.model, manifest.options.scale) == ("house-style", 4)
    assert post(operator_client, png(), model="house-style", scale="3").status_code == 202


def test_without_the_directory_the_name_is_unknown(client: TestClient) -> None:
    refused = post(client, png(), model="house-style")
    assert refused.status_code == 422 and error_code(refused) == "unknown_model"


def test_unknown_model_message_lists_operator_models(operator_client: TestClient) -> None:
    refused = post(operator_client, png(), model="nope")
    assert refused.status_code == 422 and error_code(refused) == "unknown_model"
    assert "house-style" in refused.json()["error"]["message"]


def test_models_endpoint_lists_builtin_and_operator(operator_client: TestClient) -> None:
    body = operator_client.get("/v1/models").json()
    assert body["default"] == "realesrgan-x4plus" and body["auto"] == "auto"
    assert body["max_scale"] == GatewaySettings().max_scale
    listed = {m["name"]: m for m in body["models"]}
    assert set(listed) == {*MODELS, "house-style"}
    assert listed["house-style"]["scales"] == [2, 4]
    assert listed["house-style"]["source"] == "operator"
    assert listed["realesr-animevideov3"]["source"] == "builtin"


def test_the_page_offers_operator_models(operator_client: TestClient) -> None:
    page = operator_client.get("/").text
    assert '<option value="house-style">' in page
    assert '<option value="realesrgan-x4plus">' in page


@pytest.mark.parametrize(
    ("files", "match"),
    [
        (["Bad Name.pth"], "must be named <name>-x<scale>"),
        (["twice-x4.pth", "twice-x4.safetensors"], "keep one"),
    ],
)
def test_a_misnamed_model_file_stops_the_gateway_at_start_up(
    settings: GatewaySettings, tmp_path: Path, files: list[str], match: str
) -> None:
    for name in files:
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(OperatorModelError, match=match):
        create_app(settings.model_copy(update={"models": ModelDirSettings(dir=tmp_path)}))


def test_a_missing_model_directory_stops_the_gateway(
    settings: GatewaySettings, tmp_path: Path
) -> None:
    with pytest.raises(OperatorModelError, match="not a directory"):
        create_app(
            settings.model_copy(update={"models": ModelDirSettings(dir=tmp_path / "absent")})
        )
