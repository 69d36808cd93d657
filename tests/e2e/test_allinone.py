"""All-in-one mode, as `make run` starts it: one process, local storage, in-process broker."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.env import MODEL_CACHE
from tests.support.net import free_port, http, upload_and_wait, wait_http_ok
from tests.support.photos import astronaut_lr, niqe
from tests.support.processes import Service

pytestmark = pytest.mark.slow


@pytest.fixture
def allinone(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    storage = tmp_path / "storage"
    env = {
        "GATEWAY_PORT": str(port),
        "STORAGE_LOCAL_DIR": str(storage),
        "WORKER_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "WORKER_TILE_SIZE": "128",
    }
    proc = Service("allinone", ["-m", "allinone"], env, tmp_path)
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/readyz", 300, proc)
        yield f"http://127.0.0.1:{port}", storage
    finally:
        proc.stop()


def test_upload_poll_download_delete(allinone: tuple[str, Path]) -> None:
    base, storage = allinone
    status, headers, page = http("GET", f"{base}/")
    assert status == 200 and b"<form" in page and b"13 or older" in page

    lr, png = astronaut_lr()
    job, state = upload_and_wait(base, png, {"output_format": "png"})
    assert state["status"] == "succeeded", state
    auth = {"Authorization": f"Bearer {job['token']}"}
    status, headers, body = http("GET", f"{base}/v1/jobs/{job['id']}/result", headers=auth)
    assert status == 200 and headers["content-type"] == "image/png"
    out = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
    assert out.shape == (512, 512, 3)
    bicubic = np.asarray(Image.fromarray(lr).resize((512, 512), Image.Resampling.BICUBIC))
    niqe_model, niqe_bicubic = niqe(out), niqe(bicubic)
    print(f"\nall-in-one NIQE: realesrgan-x4plus {niqe_model:.2f}, bicubic {niqe_bicubic:.2f}")
    assert niqe_model < niqe_bicubic - 1.0

    stored = [p for p in storage.rglob("*") if p.is_file()]
    assert any(p.name == "result" for p in stored)
    status, _, raw = http("DELETE", f"{base}/v1/jobs/{job['id']}", headers=auth)
    assert status == 200, raw
    assert json.loads(raw)["status"] == "deleted"
    jobs_left = [p for p in (storage / "picupscaler-jobs").rglob("*") if p.is_file()]
    assert jobs_left == []
    audit = [p for p in (storage / "picupscaler-audit").rglob("*.jsonl")]
    assert len(audit) == 1
    record = json.loads(audit[0].read_text().splitlines()[0])
    assert record["job_id"] == job["id"] and record["reason"] == "user_request"
