"""The whole path with real parts, each service its own process: a photo goes gateway →
RabbitMQ → worker (real Real-ESRGAN weights) → S3 → download, then the user deletes it."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.net import http, upload_and_wait
from tests.support.photos import astronaut_lr, niqe
from tests.support.processes import Service, Stack

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]


@pytest.fixture
def stack(rabbitmq_url: str, s3_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    """Gateway, worker and janitor as separate processes on RabbitMQ and the S3 endpoint."""
    stack = Stack(rabbitmq_url, s3_env, tmp_path)
    try:
        stack.wait_ready()
        assert stack.janitor is not None
        stack.janitor.wait_for_log("sweep_finished", 60)
        yield stack
    finally:
        stack.stop()


def test_photo_is_upscaled_through_rabbitmq_and_s3(stack: Stack) -> None:
    base = stack.base
    lr, png = astronaut_lr()
    job, state = upload_and_wait(base, png)
    assert state["status"] == "succeeded", state
    assert state["progress"] == 1.0
    assert state["result"]["width"] == 512 and state["result"]["height"] == 512

    auth = {"Authorization": f"Bearer {job['token']}"}
    status, headers, body = http("GET", f"{base}/v1/jobs/{job['id']}/result", headers=auth)
    assert status == 200
    assert "no-store" in headers["cache-control"]
    out = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
    assert out.shape == (512, 512, 3)

    bicubic = np.asarray(
        Image.fromarray(lr).resize((512, 512), Image.Resampling.BICUBIC).convert("RGB")
    )
    niqe_model, niqe_bicubic = niqe(out), niqe(bicubic)
    print(
        f"\nNIQE (lower is better): realesrgan-x4plus {niqe_model:.2f}, bicubic {niqe_bicubic:.2f}"
    )
    # FACTS.md measured 3.9 against 6.9; "clearly lower" means by more than a point.
    assert niqe_model < niqe_bicubic - 1.0

    # The user deletes: everything goes, the receipt says what, the result is gone.
    status, _, raw = http("DELETE", f"{base}/v1/jobs/{job['id']}", headers=auth)
    assert status == 200, raw
    receipt = json.loads(raw)
    deleted = {Path(o["key"]).name for o in receipt["objects_deleted"]}
    assert deleted == {"input", "result", "manifest.json"}
    assert len(receipt["audit_record_sha256"]) == 64
    assert http("GET", f"{base}/v1/jobs/{job['id']}/result", headers=auth)[0] == 404
    assert http("GET", f"{base}/v1/jobs/{job['id']}", headers=auth)[0] == 404


def test_worker_starts_faster_with_cached_weights(
    rabbitmq_url: str, s3_env: dict[str, str], tmp_path: Path
) -> None:
    """A fresh cache converts the ncnn weights; the second start-up reads the cached ones.

    The times are printed for the record, not asserted (speed belongs to benchmarks).
    """
    cache = tmp_path / "cache"
    env = {
        **s3_env,
        "BROKER_BACKEND": "rabbitmq",
        "BROKER_URL": rabbitmq_url,
        "BROKER_QUEUE": f"picupscaler-test-{uuid.uuid4().hex[:8]}",
        "WORKER_MODEL_CACHE_DIR": str(cache),
    }
    timings, logs = [], []
    for run in ("first", "second"):
        started = time.monotonic()
        worker = Service(f"worker-{run}", ["-m", "worker"], env, tmp_path)
        try:
            logs.append(worker.wait_for_log("worker_ready", 300))
            timings.append(time.monotonic() - started)
        finally:
            worker.stop()
    loads = [next(line for line in text.splitlines() if "model_loaded" in line) for text in logs]
    print(f"\nworker start-up to ready: first {timings[0]:.1f} s, second {timings[1]:.1f} s")
    print("first: ", loads[0][loads[0].index("model_loaded") :])
    print("second:", loads[1][loads[1].index("model_loaded") :])
    assert "weights=converted" in loads[0]
    assert "weights=cache" in loads[1]
    assert any(cache.glob("*.pt")), "converted weights were not cached"


def test_an_operator_model_runs_end_to_end(
    rabbitmq_url: str, s3_env: dict[str, str], tmp_path: Path
) -> None:
    """An official-format checkpoint dropped in the model directory is offered by the gateway,
    run by the worker, and named with its sha256 in the job's report."""
    import hashlib

    from safetensors.torch import save_file

    from tests.support.env import MODEL_CACHE
    from worker.engine import NETWORKS, load_network

    models = tmp_path / "models"
    models.mkdir()
    network = load_network(NETWORKS[("realesr-animevideov3", 4)], cache_dir=MODEL_CACHE)
    checkpoint = models / "house-anime-x4.safetensors"
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, checkpoint)
    env = {"MODEL_DIR": str(models)}
    stack = Stack(rabbitmq_url, s3_env, tmp_path, janitor=False, env=env)
    try:
        stack.wait_ready()
        listed = json.loads(http("GET", f"{stack.base}/v1/models")[2])
        assert {"name": "house-anime", "source": "operator"}.items() <= next(
            m for m in listed["models"] if m["name"] == "house-anime"
        ).items()
        _, png = astronaut_lr()
        job, state = upload_and_wait(stack.base, png, {"model": "house-anime", "scale": "2"})
        assert state["status"] == "succeeded", state
        assert (state["result"]["width"], state["result"]["height"]) == (256, 256)
        report = state["report"]
        assert report["resolved_model"] == "house-anime" and report["model_passes"] == [4]
        assert report["resize"] == "lanczos"
        assert report["weights"] == [
            {
                "model": "house-anime",
                "scale": 4,
                "source": "operator",
                "arch": "srvgg",
                "file": checkpoint.name,
                "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
                "package": None,
            }
        ]
    finally:
        stack.stop()
