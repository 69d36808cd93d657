"""Cross-job batching: concurrent jobs share forward passes, yet each is stopped, timed out or
deleted on its own. The real engine on a tiny network; the real runtime on the in-process
broker for the job-level case."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from dramatiq.brokers.stub import StubBroker

from shared import keys
from shared.broker import enqueue_job
from shared.manifest import load_manifest
from shared.states import JobStatus
from tests.support.failpoints import Failpoints
from tests.support.models import TinyModels
from tests.support.photos import photo
from tests.support.storage import submitted_job
from worker.batching import BatchedModels, BatchingUpscaler
from worker.engine import UpscaleCancelled, Upscaler
from worker.errors import JobTimedOut
from worker.runtime import build_runtime
from worker.settings import WorkerSettings


class CountingUpscaler(Upscaler):
    """The engine, counting how many images each ``upscale_batch`` call carried."""

    batches: list[int]

    def upscale_batch(self, requests):  # type: ignore[no-untyped-def]
        self.batches.append(len(requests))
        return super().upscale_batch(requests)


def engine() -> CountingUpscaler:
    base = TinyModels(tile_size=16).get("realesr-animevideov3", 2)
    upscaler = CountingUpscaler(base.network, scale=2, device=base.device, dtype=base.dtype,
                                tile_size=16, tile_overlap=4)  # fmt: skip
    upscaler.batches = []
    return upscaler


def images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, (40 + 8 * i, 48, 3), dtype=np.uint8) for i in range(n)]


def concurrently(calls: list[Callable[[], object]]) -> list[object]:
    results: list[object] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_jobs_share_passes_and_get_their_own_results() -> None:
    upscaler = engine()
    batcher = BatchingUpscaler(upscaler, max_images=4, window_seconds=0.5)
    pictures = images(4)
    alone = [upscaler.upscale(p) for p in pictures]
    upscaler.batches.clear()
    results = concurrently([lambda p=p: batcher.upscale(p) for p in pictures])
    for got, want in zip(results, alone, strict=True):
        assert isinstance(got, np.ndarray)
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert upscaler.batches == [4]


def test_a_stopped_or_timed_out_job_leaves_the_others_alone() -> None:
    batcher = BatchingUpscaler(engine(), max_images=3, window_seconds=0.5)
    a, b, c = images(3)
    calls = [0]

    def timed_out() -> bool:
        calls[0] += 1
        if calls[0] > 1:
            raise JobTimedOut("over its limit")
        return False

    results = concurrently(
        [
            lambda: batcher.upscale(a),
            lambda: batcher.upscale(b, should_stop=lambda: True),  # deleted
            lambda: batcher.upscale(c, should_stop=timed_out),
        ]
    )
    assert isinstance(results[0], np.ndarray) and results[0].shape == (a.shape[0] * 2, 96, 3)
    assert isinstance(results[1], UpscaleCancelled)
    assert isinstance(results[2], JobTimedOut)


def test_a_job_deleted_mid_batch_leaves_nothing_and_the_others_succeed(tmp_path: Path) -> None:
    failpoints = Failpoints(tmp_path / "failpoints")
    settings = WorkerSettings(
        storage={"local_dir": tmp_path / "storage"},
        crypto={"local_key_file": tmp_path / "service.key"},
        batch_jobs=3,
        batch_window_ms=8000,  # the pass starts when all three jobs joined it (or after 8 s)
        progress_interval_seconds=0,
    )
    upscaler = engine()
    models = TinyModels(tile_size=16)
    models._upscalers[("realesr-animevideov3", 2)] = upscaler
    with pytest.MonkeyPatch.context() as mp:
        for name, value in failpoints.env.items():
            mp.setenv(name, value)
        rt = build_runtime(settings, models=models)
        assert isinstance(rt.context.models, BatchedModels)
        ctx = rt.context
        jobs = [
            submitted_job(
                ctx.store,
                ctx.keyring,
                photo(48, 48),
                {"model": "realesr-animevideov3", "scale": "2"},
            ).id  # fmt: skip
            for _ in range(3)
        ]
        failpoints.arm("worker.tile.1")  # the batch thread stops after the first shared pass
        rt.worker.start()
        try:
            for job_id in jobs:
                enqueue_job(rt.broker, settings.broker.queue, job_id)
            failpoints.wait_hit("worker.tile.1")
            from shared.deletion import delete_job

            record = delete_job(ctx.store, ctx.audit_store, jobs[0], reason="user_request",
                                service="gateway")  # fmt: skip
            assert record is not None
            failpoints.release("worker.tile.1")
            assert isinstance(rt.broker, StubBroker)
            rt.broker.join(settings.broker.queue, fail_fast=False)
            rt.worker.join()
        finally:
            rt.worker.stop()
    assert upscaler.batches[0] == 3  # the three jobs did share a pass
    assert list(ctx.store.list(keys.job_prefix(jobs[0]) or "")) == []
    for job_id in jobs[1:]:
        manifest = load_manifest(ctx.store, job_id)
        assert manifest is not None and manifest.status is JobStatus.SUCCEEDED, manifest
