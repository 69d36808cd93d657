"""``webhook_url`` on POST /v1/jobs: checked at upload, stored sealed in the job's options."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.settings import GatewaySettings
from shared import lifecycle
from shared.webhooks import WebhookSettings
from tests.unit.gateway.conftest import png

SECRET = "gateway-test-secret-0123456789"


def post(client: TestClient, url: str) -> tuple[int, dict]:
    response = client.post(
        "/v1/jobs", files={"file": ("p.png", png(), "image/png")}, data={"webhook_url": url}
    )
    return response.status_code, response.json()


@pytest.fixture
def strict(settings: GatewaySettings) -> TestClient:
    """Webhooks on, with the defaults (https only, public targets only); URLs up to 200."""
    webhooks = WebhookSettings(signing_secret=SECRET, max_url_length=200)  # type: ignore[arg-type]
    return TestClient(create_app(settings.model_copy(update={"webhooks": webhooks})))


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[fd00::1]/",
        "https://0.0.0.0/",
        "https://10.0.0.1/",
        "https://2130706433/",  # 127.0.0.1 spelled as one number
    ],
)
def test_private_targets_are_refused(strict: TestClient, url: str) -> None:
    status, body = post(strict, url)
    assert status == 422, body
    assert body["error"]["code"] == "invalid_webhook_url"
    assert "only public hosts" in body["error"]["message"]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/", "https://"),
        ("https://user:secret@hooks.example.com/", "user name or password"),
        ("https://hooks.example.com/" + "x" * 200, "longer than 200"),
        ("https://no-such-host.invalid/", "does not resolve"),
    ],
)
def test_bad_urls_are_refused(strict: TestClient, url: str, why: str) -> None:
    status, body = post(strict, url)
    assert status == 422 and body["error"]["code"] == "invalid_webhook_url"
    assert why in body["error"]["message"]


def test_without_a_signing_secret_webhooks_are_off(client: TestClient) -> None:
    status, body = post(client, "https://hooks.example.com/")
    assert status == 422 and body["error"]["code"] == "webhooks_unavailable"


def test_a_gateway_told_enabled_accepts_urls_without_holding_the_secret(
    settings: GatewaySettings,
) -> None:
    """In a cluster only the workers sign; the gateways are told webhooks are on."""
    told = WebhookSettings(enabled=True, allow_private_targets=True, allow_http=True)
    assert told.signing_secret is None
    client = TestClient(create_app(settings.model_copy(update={"webhooks": told})))
    status, job = post(client, "http://127.0.0.1:9/hook")
    assert status == 202, job
    off = WebhookSettings(signing_secret=SECRET, enabled=False)  # type: ignore[arg-type]
    client = TestClient(create_app(settings.model_copy(update={"webhooks": off})))
    assert post(client, "https://hooks.example.com/")[1]["error"]["code"] == (
        "webhooks_unavailable"
    )


def test_an_allowed_url_is_kept_in_the_sealed_options(
    settings: GatewaySettings, tmp_path: Path
) -> None:
    allow = WebhookSettings(
        signing_secret=SECRET,  # type: ignore[arg-type]
        allow_private_targets=True,
        allow_http=True,
    )
    app = create_app(settings.model_copy(update={"webhooks": allow}))
    client = TestClient(app)
    status, job = post(client, "http://127.0.0.1:9/hook")
    assert status == 202, job
    services = app.state.services
    tracked = lifecycle.read(services.store, job["id"])
    assert tracked is not None
    manifest = tracked.manifest
    assert manifest.options.webhook_url == "http://127.0.0.1:9/hook"
    assert manifest.seal_holds(services.keyring)
    # Changing the URL in storage breaks the seal: the job is then treated as missing.
    changed = manifest.model_copy(deep=True)
    changed.options.webhook_url = "http://127.0.0.1:10/other"
    assert not changed.seal_holds(services.keyring)
    status_doc = client.get(
        f"/v1/jobs/{job['id']}", headers={"Authorization": f"Bearer {job['token']}"}
    ).json()
    assert status_doc["options"]["webhook_url"] == "http://127.0.0.1:9/hook"


def test_a_manifest_sealed_before_webhooks_existed_still_verifies(
    settings: GatewaySettings,
) -> None:
    """The seal leaves later options at their defaults out, so jobs sealed before they existed
    still verify; set to anything else, they are covered."""
    app = create_app(settings)
    client = TestClient(app)
    response = client.post("/v1/jobs", files={"file": ("p.png", png(), "image/png")})
    assert response.status_code == 202
    services = app.state.services
    tracked = lifecycle.read(services.store, response.json()["id"])
    assert tracked is not None
    manifest = tracked.manifest
    assert b"webhook_url" not in manifest.sealed_part()
    assert b"face_fidelity" not in manifest.sealed_part()  # at its default, like webhook_url
    assert manifest.seal_holds(services.keyring)
    for change in ({"face_fidelity": 0.9}, {"webhook_url": "https://hooks.example.com/"}):
        changed = manifest.model_copy(deep=True)
        changed.options = changed.options.model_copy(update=change)
        assert not changed.seal_holds(services.keyring), change
