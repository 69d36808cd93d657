"""``python -m gateway.client`` against a real all-in-one (its own process, real weights):
upload, progress, download, delete with the receipt, then 404."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from gateway.client.progress import STAGE_WORDS
from tests.support.env import MODEL_CACHE, REPO
from tests.support.photos import photo
from tests.support.processes import all_in_one

pytestmark = pytest.mark.slow


@pytest.fixture
def allinone(tmp_path: Path) -> Iterator[str]:
    env = {
        "AUDIT_LOCAL_SIGNING_KEY_FILE": str(tmp_path / "keys" / "audit.key"),
        "WORKER_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "WORKER_PRELOAD": '["realesr-animevideov3:2"]',
        # Small tiles and a progress write per tile: a small image still moves the bar.
        "WORKER_TILE_SIZE": "32",
        "WORKER_PROGRESS_INTERVAL_SECONDS": "0",
    }
    with all_in_one(env, tmp_path) as base:
        yield base


def client(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.client", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_upscale_download_delete(allinone: str, tmp_path: Path) -> None:
    image = tmp_path / "photo.jpg"
    image.write_bytes(photo(192, 128, "JPEG"))
    run = client(
        "upscale",
        str(image),
        "--model",
        "realesr-animevideov3",
        "--scale",
        "2",
        "--delete-after",
        "--url",
        allinone,
    )
    print("\n$ python -m gateway.client upscale photo.jpg ... --delete-after")
    print(run.stderr, run.stdout, sep="")
    assert run.returncode == 0, run.stderr

    err = run.stderr.splitlines()
    accepted = next(line for line in err if line.startswith("job "))
    job_id, token = accepted.split()[1], accepted.split("token ")[1]
    bars = [line for line in err if line.startswith("[")]
    assert bars and bars[-1].endswith("100 % succeeded"), err
    # Which events a job sends before it ends depends on the machine's speed (a one-tile job
    # on a fast CPU sends no "upscaling" step); whatever came is in the page's words, never a
    # raw stage name.
    words = {*STAGE_WORDS.values(), "waiting in line"}
    for line in bars[:-1]:
        assert any(word in line for word in words), line

    out = tmp_path / "photo_x2.png"
    assert run.stdout.splitlines()[0] == str(out)
    with Image.open(out) as result:
        assert (result.format, result.size) == ("PNG", (384, 256))
        result.load()  # the whole file decodes
    receipt = json.loads(run.stdout.split("\n", 1)[1])
    assert receipt["id"] == job_id and receipt["status"] == "deleted"
    assert {Path(o["key"]).name for o in receipt["objects_deleted"]} == {
        "input",
        "result",
        "manifest.json",
    }
    assert len(receipt["audit_record_sha256"]) == 64

    gone = client("status", job_id, "--token", token, "--url", allinone)
    assert gone.returncode == 4, gone
    assert "job_not_found" in gone.stderr and "HTTP 404" in gone.stderr
