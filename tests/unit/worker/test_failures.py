"""Failure handling in one place: the real runtime (actor, Retries, the failure middleware, a
Dramatiq Worker) on the in-process broker, real storage and a tiny network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dramatiq.brokers.stub import StubBroker

from shared import keys
from shared.audit import read_records
from shared.broker import enqueue_job
from shared.manifest import JobManifest, load_manifest
from shared.states import JobStatus
from tests.support.models import TinyModels
from tests.support.photos import photo
from tests.support.storage import replace_input, submitted_job
from worker.runtime import WorkerRuntime, build_runtime
from worker.scaling import SupportsUpscale
from worker.settings import WorkerSettings


class BrokenModels(TinyModels):
    """A provider with a bug: every model lookup raises (an unexpected exception)."""

    def get(self, model: str, scale: int) -> SupportsUpscale:
        raise RuntimeError("a bug in the worker")


def start(tmp_path: Path, models: TinyModels, **broker: object) -> WorkerRuntime:
    settings = WorkerSettings(
        storage={"local_dir": tmp_path / "storage"},
        crypto={"local_key_file": tmp_path / "service.key"},
        broker={"max_retries": 1, **broker},
    )
    runtime = build_runtime(settings, models=models)
    assert isinstance(runtime.broker, StubBroker)
    runtime.worker.start()
    return runtime


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[WorkerRuntime]:
    rt = start(tmp_path, TinyModels())
    yield rt
    rt.worker.stop()


def run(rt: WorkerRuntime, image: bytes, *, plant: bytes | None = None) -> JobManifest:
    """Store a job as the gateway does, optionally replace its input, then queue it for the
    running worker (queued only after the replacement: no race with the worker)."""
    ctx = rt.context
    fields = {"model": "realesr-animevideov3", "scale": "2"}
    job = submitted_job(ctx.store, ctx.keyring, image, fields)  # queued on an unused broker
    if plant is not None:
        replace_input(ctx.store, ctx.keyring, job.id, plant)
    enqueue_job(rt.broker, rt.settings.broker.queue, job.id)
    assert isinstance(rt.broker, StubBroker)
    rt.broker.join(rt.settings.broker.queue, fail_fast=False)
    rt.worker.join()
    manifest = load_manifest(ctx.store, job.id)
    assert manifest is not None
    return manifest


def test_a_permanent_failure_fails_the_job_once_and_deletes_its_images(
    runtime: WorkerRuntime,
) -> None:
    manifest = run(runtime, photo(), plant=b"\x89PNG\r\n\x1a\n broken")
    assert manifest.status is JobStatus.FAILED
    assert manifest.error is not None and manifest.error.code == "undecodable_image"
    assert manifest.attempts == 1  # declared permanent: not retried
    assert manifest.data_key is None  # shredded: no copy of the image opens any more
    store = runtime.context.store
    assert [i.key for i in store.list(keys.job_prefix(manifest.id) or "")] == [
        keys.job_key(manifest.id, keys.MANIFEST)
    ]
    [record] = list(read_records(runtime.context.audit_store))
    assert (record.reason, record.job_id, record.service) == ("failed_job", manifest.id, "worker")


def test_a_bug_is_retried_within_the_budget_then_fails_without_details(tmp_path: Path) -> None:
    rt = start(tmp_path, BrokenModels())
    try:
        manifest = run(rt, photo())
    finally:
        rt.worker.stop()
    assert manifest.status is JobStatus.FAILED
    assert manifest.attempts == 2  # the first try and the one retry BROKER_MAX_RETRIES allows
    assert manifest.error is not None
    assert (manifest.error.code, manifest.error.message) == (
        "processing_error",
        "Processing failed on the worker.",
    )
    assert "bug" not in manifest.model_dump_json()


def test_a_job_over_its_time_limit_fails_with_that_reason(tmp_path: Path) -> None:
    rt = start(tmp_path, TinyModels(tile_size=8))
    rt.context.time_limit_seconds = 1e-9
    try:
        manifest = run(rt, photo(64, 64))
    finally:
        rt.worker.stop()
    assert manifest.status is JobStatus.FAILED and manifest.attempts == 1
    assert manifest.error is not None and manifest.error.code == "time_limit_exceeded"
    assert rt.context.store.stat(keys.job_key(manifest.id, keys.INPUT)) is None
