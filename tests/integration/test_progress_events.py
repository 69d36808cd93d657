"""Live progress through kombu: workers publish events, the gateway relays them as Server-Sent
Events, in both modes (all-in-one on kombu's in-memory transport; gateway and worker
processes on RabbitMQ). The transcript of one multi-tile job is written to
``var/test-artifacts/sse-transcript-<mode>.txt``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path

import pytest

from tests.support.env import MODEL_CACHE, REPO, UNLIMITED_ADMISSION_ENV
from tests.support.net import http, multipart
from tests.support.photos import photo
from tests.support.processes import serving

pytestmark = pytest.mark.rabbitmq


@pytest.fixture(params=["all-in-one", "distributed"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    env = {
        **UNLIMITED_ADMISSION_ENV,
        "WORKER_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "WORKER_PRELOAD": '["realesr-animevideov3:2"]',
        "WORKER_WARMUP": "false",
        "WORKER_TILE_SIZE": "32",
        "WORKER_TILE_BATCH": "1",
    }
    with serving(request.param, env, tmp_path, request) as base:
        yield base, request.param


def read_stream(base: str, path: str, headers: dict[str, str]) -> list[dict[str, str]]:
    """Every frame of a stream until the server ends it: {id?, event, data} or comments."""
    host, port = base.removeprefix("http://").split(":")
    conn = HTTPConnection(host, int(port), timeout=300)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("content-type", "").startswith("text/event-stream")
    frames: list[dict[str, str]] = []
    frame: dict[str, str] = {}
    for raw in response:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if frame:
                frames.append(frame)
            frame = {}
        elif line.startswith(":"):
            frames.append({"comment": line})
        else:
            name, _, value = line.partition(":")
            frame[name] = value.lstrip(" ")
    conn.close()
    return frames


def test_a_job_s_progress_streams_from_the_worker(service: tuple[str, str]) -> None:
    base, mode = service
    body, ctype = multipart({"model": "realesr-animevideov3", "scale": "2"}, photo(128, 128))
    code, _, raw = http("POST", f"{base}/v1/jobs", body, {"Content-Type": ctype})
    assert code == 202
    job = json.loads(raw)
    auth = {"Authorization": f"Bearer {job['token']}"}
    frames = read_stream(base, job["links"]["events"], auth)
    transcript = "\n".join(json.dumps(f) for f in frames)
    out = REPO / "var" / "test-artifacts" / f"sse-transcript-{mode}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(transcript + "\n")
    events = [f for f in frames if "event" in f]
    assert events[0]["event"] == "status"
    progress = [f for f in events if f["event"] == "progress" and "id" in f]
    ids = [int(f["id"]) for f in progress]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and len(ids) >= 4, transcript
    stages = [json.loads(f["data"])["stage"] for f in progress]
    assert "upscaling" in stages and stages[-1] == "done", stages
    values = [json.loads(f["data"])["progress"] for f in progress]
    assert values == sorted(values) and values[-1] == 1.0
    assert 0 < max(v for v in values if v < 1.0) < 1.0  # it moved in between
    final = json.loads(events[-1]["data"])
    assert events[-1]["event"] == "status" and final["status"] == "succeeded"
    assert final["result"]["width"] == 256

    # Resuming after an event replays only what came after it (this gateway kept them).
    middle = progress[len(progress) // 2]
    resumed = read_stream(base, job["links"]["events"], {**auth, "Last-Event-ID": middle["id"]})
    again = [int(f["id"]) for f in resumed if f.get("event") == "progress" and "id" in f]
    assert again == [i for i in ids if i > int(middle["id"])], (again, ids)
