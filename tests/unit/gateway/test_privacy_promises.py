"""The privacy policy's promises, checked at the gateway (in process, real local storage)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.settings import GatewaySettings
from shared import keys
from shared.crypto import DecryptionFailed, KeyRing, unseal
from shared.manifest import load_manifest
from shared.storage.local import LocalStore
from tests.unit.gateway.conftest import png

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


def upload(client: TestClient, headers: dict[str, str] | None = None, **cookies: str) -> dict:
    client.cookies.clear()
    for name, value in cookies.items():
        client.cookies.set(name, value)
    response = client.post(
        "/v1/jobs", files={"file": ("p.png", png(), "image/png")}, headers=headers or {}
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


def store_of(settings: GatewaySettings) -> LocalStore:
    return LocalStore(settings.storage.local_dir, settings.storage.jobs_bucket)


def test_only_minimised_technical_information_is_kept(tmp_path: Path) -> None:
    settings = GatewaySettings(
        storage={"local_dir": tmp_path / "s"},
        crypto={"local_key_file": tmp_path / "k"},
        trusted_proxy_hops=2,  # a CDN, then the ingress: each appended the address it saw
    )
    client = TestClient(create_app(settings))
    job = upload(
        client,
        {
            "X-Forwarded-For": "192.0.2.66, 8.8.8.8, 10.0.0.1",  # the first one the client wrote
            "User-Agent": IPHONE,
            "Referer": "https://forum.example/thread/123?user=alice",
        },
    )
    raw = next(Path(tmp_path / "s").rglob("manifest.json")).read_text()
    client_info = json.loads(raw)["client"]
    assert client_info["network"] == "8.8.8.0/24" and client_info["country"] == "US"
    assert client_info["browser"] == "Mobile Safari" and client_info["device_class"] == "mobile"
    assert client_info["referrer_origin"] == "https://forum.example"
    assert "8.8.8.8" not in raw and "alice" not in raw and "thread" not in raw
    assert "192.0.2" not in raw
    assert job["token"] not in raw


def test_stored_images_are_encrypted_and_shredded_with_the_manifest(
    client: TestClient, settings: GatewaySettings
) -> None:
    job = upload(client)
    store = store_of(settings)
    stored = store.get(keys.job_key(job["id"], keys.INPUT))
    assert not stored.startswith(b"\x89PNG") and png() not in stored
    manifest = load_manifest(store, job["id"])
    assert manifest is not None
    ring = KeyRing.from_settings(settings.crypto)
    data_key = ring.unwrap(manifest.data_key, job_id=job["id"])
    assert unseal(data_key, stored, job_id=job["id"], name="input") == png()

    copy_of_input = bytes(stored)  # what a lagging replica or a backup might still hold
    auth = {"Authorization": f"Bearer {job['token']}"}
    assert client.delete(f"/v1/jobs/{job['id']}", headers=auth).status_code == 200
    assert load_manifest(store, job["id"]) is None
    # With the manifest gone, the service itself cannot open the copy: the data key is gone,
    # and no other key (the service key included) opens it.
    for candidate in (b"\x00" * 32, ring._keys[ring.active]):  # noqa: SLF001
        try:
            unseal(candidate, copy_of_input, job_id=job["id"], name="input")
        except DecryptionFailed:
            continue
        raise AssertionError("a leftover copy was decrypted after deletion")


def test_export_returns_everything_held_for_the_tokens(client: TestClient) -> None:
    first, second = upload(client), upload(client)
    response = client.get(
        "/v1/privacy/export",
        headers={
            "Authorization": f"Bearer {first['token']}",
            "X-Job-Tokens": f"{second['token']}, {first['id']}.not-the-right-secret-at-all-xxxxxx",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert sorted(j["id"] for j in body["jobs"]) == sorted([first["id"], second["id"]])
    assert body["tokens_not_matching_a_job"] == 1
    record = body["jobs"][0]
    assert {"status", "options", "created_at", "expires_at", "client", "input"} <= set(record)
    assert "data_key" not in record and "token_sha256" not in record
    assert client.get("/v1/privacy/export").status_code == 401


def test_opted_out_requests_are_not_counted(client: TestClient) -> None:
    upload(client)
    upload(client, {"DNT": "1"})
    upload(client, {"Sec-GPC": "1"})
    upload(client, pu_analytics_opt_out="1")
    response = client.get("/v1/analytics", headers={"Authorization": "Bearer operator-secret"})
    assert response.status_code == 200
    counts = response.json()["counts"]
    assert counts == {"uploads_accepted|model=realesrgan-x4plus|scale=4": 1}
    wrong = client.get("/v1/analytics", headers={"Authorization": "Bearer guess"})
    assert wrong.status_code == 404


def test_uploads_are_rate_limited_per_network(tmp_path: Path) -> None:
    settings = GatewaySettings(
        storage={"local_dir": tmp_path / "s"},
        crypto={"local_key_file": tmp_path / "k"},
        trusted_proxy_hops=1,
        admission={"uploads_per_minute": 3},
    )
    client = TestClient(create_app(settings))
    same_net = [{"X-Forwarded-For": f"203.0.113.{n}"} for n in (1, 2, 3, 4)]
    codes = [
        client.post("/v1/jobs", files={"file": ("p.png", png(), "image/png")}, headers=h)
        for h in same_net
    ]
    assert [c.status_code for c in codes] == [202, 202, 202, 429]
    assert codes[-1].json()["error"]["code"] == "rate_limited"
    assert int(codes[-1].headers["retry-after"]) > 0
    other = client.post(
        "/v1/jobs",
        files={"file": ("p.png", png(), "image/png")},
        headers={"X-Forwarded-For": "198.51.100.7"},
    )
    assert other.status_code == 202


def test_the_gateway_writes_no_image_to_its_disk(tmp_path: Path) -> None:
    """Every file the process opens for writing during a 3 MB upload is watched (audit hook):
    the only writes are the objects in storage (here a directory), none in a temp dir."""
    import io

    import numpy as np
    from PIL import Image

    settings = GatewaySettings(
        storage={"local_dir": tmp_path / "storage"},
        crypto={"local_key_file": tmp_path / "k"},
        jobs={"max_upload_bytes": 10_000_000},
    )
    client = TestClient(create_app(settings))
    noise = np.random.default_rng(1).integers(0, 255, (1000, 1000, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "PNG")
    big = buf.getvalue()
    assert len(big) > 2_000_000  # Starlette would have spooled this part to disk

    written: list[str] = []
    active = [True]

    def hook(event: str, args: tuple) -> None:
        if active[0] and event == "open" and isinstance(args[0], str | bytes):
            mode, flags = args[1], args[2]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & 0o3
            )
            if writing:
                written.append(str(args[0]))

    sys.addaudithook(hook)  # hooks cannot be removed: this one switches itself off
    try:
        (tmp_path / "probe.txt").write_text("the hook sees writes")
        response = client.post("/v1/jobs", files={"file": ("p.png", big, "image/png")})
    finally:
        active[0] = False
    assert response.status_code == 202, response.text
    assert any(p.endswith("probe.txt") for p in written)  # the watch works
    storage_root = str((tmp_path / "storage").resolve())
    outside = [
        p
        for p in written
        if not p.endswith("probe.txt") and not str(Path(p).resolve()).startswith(storage_root)
    ]
    assert outside == [], outside
