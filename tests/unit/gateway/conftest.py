from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.support.env import UNLIMITED_ADMISSION


@pytest.fixture
def settings(tmp_path: Path) -> GatewaySettings:
    return GatewaySettings(
        storage={"local_dir": tmp_path / "storage"},
        jobs={"max_upload_bytes": 200_000, "max_input_pixels": 250_000},
        crypto={"local_key_file": tmp_path / "keys" / "service.key"},
        analytics_token="operator-secret",
        admission=UNLIMITED_ADMISSION,  # one TestClient is one network; admission has its tests
    )


@pytest.fixture
def client(settings: GatewaySettings) -> TestClient:
    return TestClient(create_app(settings))


def png(width: int = 64, height: int = 48, mode: str = "RGB") -> bytes:
    img = Image.new(mode, (width, height))
    img.putdata([(x * 7 % 256, x * 3 % 256, x % 256)[: len(mode)] for x in range(width * height)])
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(autouse=True)
def _restore_pillow_limit() -> object:
    """create_app sets Pillow's process-wide pixel limit; keep it from leaking into other tests."""
    saved = Image.MAX_IMAGE_PIXELS
    yield
    Image.MAX_IMAGE_PIXELS = saved
