"""Cross-job batching: several jobs' tiles in one forward pass, each job still its own.

With ``WORKER_BATCH_JOBS`` = N > 1 the worker runs N Dramatiq threads (prefetch N), so N jobs
of the queue are in progress at once, each acked, timed out, retried and cancelled on its own,
exactly as with one. Their upscale calls meet here: a :class:`BatchingUpscaler` (one per
network) collects the images asked for within a short window and runs them through
:meth:`worker.engine.Upscaler.upscale_batch`, whose passes take tiles of several images. Web
uploads are mostly small, so one image per pass leaves a GPU idle between jobs.

Each job's callbacks stay its own: a job whose stop check answers True (deleted) or raises
(its time limit) leaves the batch alone; its exception is raised in its own thread, and the
other images go on. A progress callback that raises (the job's manifest is gone) stops that
image the same way.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import structlog

from worker.engine import UpscaleCancelled, Upscaler
from worker.engine.upscaler import ImageRequest
from worker.provider import ModelProvider

log = structlog.get_logger(__name__)


@dataclass
class _Call:
    image: np.ndarray
    progress: Callable[[float], None] | None
    should_stop: Callable[[], bool] | None
    done: Future[np.ndarray] = field(default_factory=Future)
    #: An exception a callback raised: re-raised in the job's own thread.
    failure: BaseException | None = None

    def stop(self) -> bool:
        if self.failure is not None:
            return True
        if self.should_stop is None:
            return False
        try:
            return self.should_stop()
        except BaseException as exc:  # the job's time limit, a storage error...
            self.failure = exc
            return True

    def report(self, fraction: float) -> None:
        if self.progress is None or self.failure is not None:
            return
        try:
            self.progress(fraction)
        except BaseException as exc:  # the job was deleted under its progress write
            self.failure = exc


class BatchingUpscaler:
    """An upscaler shared by the worker's job threads; concurrent calls share passes."""

    def __init__(self, upscaler: Upscaler, *, max_images: int, window_seconds: float) -> None:
        self.upscaler = upscaler
        self.scale = upscaler.scale
        self.max_images = max_images
        self.window_seconds = window_seconds
        self._calls: queue.Queue[_Call] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="batcher", daemon=True)
        self._thread.start()

    def upscale(
        self,
        image: np.ndarray,
        *,
        progress: Callable[[float], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """Upscale ``image`` in a pass shared with other jobs' images (same result)."""
        call = _Call(image, progress, should_stop)
        self._calls.put(call)
        return call.done.result()

    def _serve(self) -> None:
        while True:
            batch = [self._calls.get()]
            deadline = time.monotonic() + self.window_seconds
            while len(batch) < self.max_images:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    break
                try:
                    batch.append(self._calls.get(timeout=wait))
                except queue.Empty:
                    break
            self._run(batch)

    def _run(self, batch: list[_Call]) -> None:
        requests = [ImageRequest(c.image, c.report, c.stop) for c in batch]
        try:
            outcomes = self.upscaler.upscale_batch(requests)
        except BaseException as exc:  # a bad image or the device: every caller hears it
            for call in batch:
                call.done.set_exception(exc)
            return
        if len(batch) > 1:
            log.debug("batched", images=len(batch))
        for call, outcome in zip(batch, outcomes, strict=True):
            if call.failure is not None:
                call.done.set_exception(call.failure)
            elif outcome.cancelled or outcome.output is None:
                call.done.set_exception(UpscaleCancelled("stopped between passes"))
            else:
                call.done.set_result(outcome.output)


class BatchedModels:
    """A model provider whose upscalers batch across jobs (wraps any provider)."""

    def __init__(self, models: ModelProvider, *, max_images: int, window_seconds: float) -> None:
        self.models = models
        self.max_images = max_images
        self.window_seconds = window_seconds
        self._upscalers: dict[tuple[str, int], BatchingUpscaler] = {}
        self._lock = threading.Lock()

    def available(self) -> dict[str, tuple[int, ...]]:
        return self.models.available()

    def native_scales(self, model: str) -> tuple[int, ...]:
        return self.models.native_scales(model)

    def describe(self, model: str, scale: int) -> dict[str, Any]:
        return self.models.describe(model, scale)

    def get(self, model: str, scale: int) -> BatchingUpscaler:
        with self._lock:
            batcher = self._upscalers.get((model, scale))
            if batcher is None:
                upscaler = self.models.get(model, scale)
                if not isinstance(upscaler, Upscaler):
                    raise TypeError("cross-job batching needs the engine's Upscaler")
                batcher = BatchingUpscaler(
                    upscaler, max_images=self.max_images, window_seconds=self.window_seconds
                )
                self._upscalers[(model, scale)] = batcher
            return batcher
