""" "Delete now" sticks, at every moment of a job's life, in both modes, whoever deletes.

The race matrix of the job lifecycle: for each moment (the worker held there by a failpoint,
:mod:`shared.failpoints`), each mode (all-in-one: one process, local storage; distributed:
gateway, worker and janitor processes on RabbitMQ and the S3 endpoint) and each deleter (the
user's ``DELETE``; the janitor's sweep, also held at a failpoint until the worker is at the
moment), the outcome must be: status and result 404 from the deletion on, nothing of the job
left in storage once the worker has finished with it, and exactly one audit record.

Nothing here waits on a sleep to land in a window: the worker and the janitor stand still at
named moments until the test lets them go. The table of outcomes is written to
``var/test-artifacts/race-matrix.md``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import cv2
import numpy as np
import pytest

from shared import ids, keys
from shared.audit import AuditRecord, read_records
from shared.storage import ObjectStore, open_store
from shared.storage.local import LocalStore
from tests.support.env import MODEL_CACHE, REPO
from tests.support.failpoints import Failpoints
from tests.support.net import free_port, http, multipart, wait_http_ok
from tests.support.photos import photo
from tests.support.processes import Service, Stack
from tests.support.storage import random_keys_env, s3_service_env, storage_settings

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

TILES = 16  # a 128x128 upload in 32-pixel tiles
AFTER_SUCCESS = "after success (worker idle)"
PARTIAL_UPLOAD = "storage.partial.result"
#: (label, failpoint) in the order of a job's life.
MOMENTS: list[tuple[str, str]] = [
    ("queued (worker has the message)", "worker.received"),
    ("marked running", "worker.running"),
    ("input read", "worker.input_read"),
    ("input decoded", "worker.decoded"),
    ("before the first tile", "worker.tile.0"),
    ("writing progress (after tile 1)", "worker.progress"),
    *[
        (f"between tiles {n} and {n + 1}", f"worker.tile.{n}")
        for n in (1, 2, 3, 4, 6, 8, 10, 12, 14)
    ],
    ("before the last tile", f"worker.tile.{TILES - 1}"),
    ("after the last tile", "worker.upscaled"),
    ("result encoded, not uploaded", "worker.encoded"),
    ("during the result upload (partial)", PARTIAL_UPLOAD),
    ("result written, manifest not yet succeeded", "worker.result_written"),
    ("manifest succeeded, worker not returned", "worker.succeeded"),
    (AFTER_SUCCESS, ""),
]
#: A job's age at which the janitor stacks' sweep deletes it (expiry 3600 s, margin 3599 s).
DUE_AFTER_S = 1.0
RESULTS: list[dict[str, str]] = []


class Deployment(Protocol):
    """What a cell needs of a running service, whatever the mode."""

    base: str
    store: ObjectStore
    audit_store: ObjectStore
    failpoints: Failpoints

    def log_text(self) -> str: ...


@dataclass
class AllInOne:
    """``python -m allinone``: gateway, worker thread and janitor thread in one process."""

    base: str
    store: ObjectStore
    audit_store: ObjectStore
    failpoints: Failpoints
    service: Service

    def log_text(self) -> str:
        return self.service.log_text()


@dataclass
class Distributed:
    """Gateway, worker and janitor processes on RabbitMQ and the S3 endpoint."""

    base: str
    store: ObjectStore
    audit_store: ObjectStore
    failpoints: Failpoints
    stack: Stack

    def log_text(self) -> str:
        return "\n".join(w.log_text() for w in self.stack.workers)


def common_env(failpoints: Failpoints, deleter: str) -> dict[str, str]:
    env = {
        **failpoints.env,
        "LOG_FORMAT": "json",
        "WORKER_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "WORKER_PRELOAD": '["realesr-animevideov3:2", "realesr-animevideov3:4"]',
        "WORKER_WARMUP": "false",
        "WORKER_TILE_SIZE": "32",
        "WORKER_TILE_OVERLAP": "4",
        "WORKER_TILE_BATCH": "1",
        "WORKER_PROGRESS_INTERVAL_SECONDS": "0",  # progress written after every tile
        "WORKER_DEVICE": "cpu",
        "GATEWAY_RATE_LIMIT_PER_MINUTE": "0",
        "JANITOR_LIFECYCLE_BACKSTOP": "false",
    }
    if deleter == "janitor":
        # Every job is due for deletion one second after upload; the janitor sweeps only when
        # the test lets it pass its failpoint.
        env |= {
            "JOBS_EXPIRY_SECONDS": "3600",
            "JANITOR_SAFETY_MARGIN_SECONDS": str(3600 - DUE_AFTER_S),
            "JANITOR_INTERVAL_SECONDS": "0.1",
        }
    return env


@pytest.fixture(
    scope="module",
    params=[
        ("all-in-one", "user"),
        ("all-in-one", "janitor"),
        ("distributed", "user"),
        ("distributed", "janitor"),
    ],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Deployment, str, str]]:
    mode, deleter = request.param
    root = tmp_path_factory.mktemp(f"race-{mode}-{deleter}")
    failpoints = Failpoints(root / "failpoints")
    if deleter == "janitor":
        failpoints.arm("janitor.sweep")  # held from its first sweep on
    env = common_env(failpoints, deleter)
    if mode == "all-in-one":
        port = free_port()
        env |= {
            "GATEWAY_PORT": str(port),
            "STORAGE_LOCAL_DIR": str(root / "storage"),
            "CRYPTO_LOCAL_KEY_FILE": str(root / "service.key"),
        }
        service = Service("allinone", ["-m", "allinone"], env, root)
        deployment: Deployment = AllInOne(
            f"http://127.0.0.1:{port}",
            LocalStore(root / "storage", "picupscaler-jobs"),
            LocalStore(root / "storage", "picupscaler-audit"),
            failpoints,
            service,
        )
        try:
            wait_http_ok(f"{deployment.base}/readyz", 300, service)
            yield deployment, mode, deleter
        finally:
            service.stop()
        return
    rabbitmq_url = request.getfixturevalue("rabbitmq_url")
    s3_env = s3_service_env(request.getfixturevalue("s3_endpoint"))
    stack = Stack(
        rabbitmq_url,
        s3_env,
        root,
        workers=1,
        janitor=deleter == "janitor",
        env={**env, "CRYPTO_KEYS": random_keys_env()},
    )
    settings = storage_settings(s3_env)
    deployment = Distributed(
        stack.base,
        open_store(settings, settings.jobs_bucket),
        open_store(settings, settings.audit_bucket),
        failpoints,
        stack,
    )
    try:
        stack.wait_ready()
        yield deployment, mode, deleter
    finally:
        stack.stop()


@pytest.fixture(scope="module", autouse=True)
def _write_table() -> Iterator[None]:
    yield
    if RESULTS:
        out = REPO / "var" / "test-artifacts" / "race-matrix.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_table(RESULTS))
        print("\n" + render_table(RESULTS) + f"\n(written to {out})")


@pytest.mark.parametrize(("label", "moment"), MOMENTS, ids=[m or "idle" for _, m in MOMENTS])
def test_deletion_sticks(deployment: tuple[Deployment, str, str], label: str, moment: str) -> None:
    dep, mode, deleter = deployment
    fp = dep.failpoints
    image, fields = upload_for(moment)
    if moment:
        fp.arm(moment)
    job = submit(dep, image, fields)
    auth = {"Authorization": f"Bearer {job['token']}"}
    if moment:
        fp.wait_hit(moment)
    else:
        wait_finished(dep, job["id"])
        assert status_of(dep, job["id"], auth) == 200

    if deleter == "user":
        code, _, raw = http("DELETE", f"{dep.base}/v1/jobs/{job['id']}", headers=auth)
        assert code == 200, raw
        record_hash = json.loads(raw)["audit_record_sha256"]
    else:
        record_hash = janitor_deletes(dep, job["id"])
    # From the receipt (or the janitor's record) on, the job is gone for its token holder.
    assert_gone(dep, job["id"], auth)

    if moment:
        fp.release(moment)
    outcome = wait_finished(dep, job["id"])
    assert_gone(dep, job["id"], auth)
    left = [i.key for i in dep.store.list(keys.job_prefix(job["id"]) or "")]
    partial = [u.key for u in dep.store.list_incomplete_uploads(keys.job_prefix(job["id"]) or "")]
    assert left == [] and partial == [], (left, partial)
    records = records_of(dep, job["id"])
    assert [r.hash for r in records] == [record_hash], records
    named = {o.key.rsplit("/", 1)[1] for o in records[0].objects}
    assert {"manifest.json", "input", "result"} <= named, named
    RESULTS.append(
        {
            "moment": label,
            "column": f"{mode} / {deleter}",
            "outcome": f"404s, 0 objects, 1 record (worker: {outcome})",
        }
    )


# -- the steps ---------------------------------------------------------------------------------


def upload_for(moment: str) -> tuple[bytes, dict[str, str]]:
    """A 128x128 photo (16 tiles), or for the partial-upload moment a 16-bit noise image whose
    x4 result (about 5.7 MiB) goes up to S3 as a multipart upload."""
    if moment != PARTIAL_UPLOAD:
        return photo(128, 128), {"model": "realesr-animevideov3", "scale": "2"}
    noise = np.random.default_rng(7).integers(0, 65536, (256, 256, 3), dtype=np.uint16)
    ok, png = cv2.imencode(".png", noise)
    assert ok
    return png.tobytes(), {"model": "realesr-animevideov3", "scale": "4"}


def submit(dep: Deployment, image: bytes, fields: dict[str, str]) -> dict[str, str]:
    body, ctype = multipart(fields, image)
    code, _, raw = http("POST", f"{dep.base}/v1/jobs", body, {"Content-Type": ctype})
    assert code == 202, raw
    job: dict[str, str] = json.loads(raw)
    return job


def janitor_deletes(dep: Deployment, job_id: str) -> str:
    """Let the held janitor sweep once (the job is due), hold it again; the record's hash."""
    fp = dep.failpoints
    fp.wait_hit("janitor.sweep")
    created = ids.created_at(job_id)
    assert created is not None
    while datetime.now(UTC) - created < timedelta(seconds=DUE_AFTER_S + 0.2):
        time.sleep(0.05)
    fp.release("janitor.sweep")
    fp.arm("janitor.sweep")  # the next sweep stops again
    deadline = time.monotonic() + 60
    while not (records := records_of(dep, job_id)):
        assert time.monotonic() < deadline, "the janitor did not delete the due job"
        time.sleep(0.05)
    fp.wait_hit("janitor.sweep")  # the sweep is over: nothing else happens until released
    return records[0].hash


def assert_gone(dep: Deployment, job_id: str, auth: dict[str, str]) -> None:
    assert status_of(dep, job_id, auth) == 404
    assert http("GET", f"{dep.base}/v1/jobs/{job_id}/result", headers=auth)[0] == 404


def status_of(dep: Deployment, job_id: str, auth: dict[str, str]) -> int:
    return http("GET", f"{dep.base}/v1/jobs/{job_id}", headers=auth)[0]


def wait_finished(dep: Deployment, job_id: str, timeout: float = 180) -> str:
    """Wait for the worker's ``job_finished`` line of this job; return its outcome."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in dep.log_text().splitlines():
            if job_id in line and '"job_finished"' in line:
                return str(json.loads(line)["outcome"])
        time.sleep(0.05)
    raise AssertionError(f"the worker never finished job {job_id}")


def records_of(dep: Deployment, job_id: str) -> list[AuditRecord]:
    return [r for r in read_records(dep.audit_store) if r.job_id == job_id]


def render_table(results: list[dict[str, str]]) -> str:
    columns = sorted({r["column"] for r in results})
    rows = list(dict.fromkeys(r["moment"] for r in results))
    cell = {(r["moment"], r["column"]): r["outcome"] for r in results}
    lines = [
        "| moment | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for row in rows:
        lines.append(
            f"| {row} | " + " | ".join(cell.get((row, c), "not run") for c in columns) + " |"
        )
    lines.append(f"\n{len(results)} cells, one run each.")
    return "\n".join(lines)
