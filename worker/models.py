"""The worker's loaded models: each network is built once per process and kept resident."""

from __future__ import annotations

import threading
import time

import structlog
import torch

from worker.engine import NETWORKS, Upscaler, load_network, precision_for, select_device
from worker.engine.weights import cache_path_for
from worker.settings import WorkerSettings

log = structlog.get_logger(__name__)


class ModelPool:
    """Upscalers by (model, scale), loaded on first use or at start-up, shared by jobs."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.device: torch.device = select_device(settings.device)
        self.dtype: torch.dtype = precision_for(self.device, settings.precision)
        self._upscalers: dict[tuple[str, int], Upscaler] = {}
        self._lock = threading.Lock()

    def preload(self) -> float:
        """Load the configured models now; return the seconds it took."""
        start = time.perf_counter()
        for item in self.settings.preload:
            name, _, scale = item.partition(":")
            self.get(name, int(scale or 4))
        return time.perf_counter() - start

    def get(self, model: str, scale: int) -> Upscaler:
        """Return the upscaler for ``model`` at ``scale`` (KeyError if there is none)."""
        key = (model, scale)
        with self._lock:
            upscaler = self._upscalers.get(key)
            if upscaler is None:
                spec = NETWORKS[key]
                cache_dir = self.settings.model_cache_dir
                cached = cache_path_for(spec, cache_dir).is_file()
                start = time.perf_counter()
                network = load_network(spec, cache_dir=cache_dir)
                upscaler = Upscaler(
                    network,
                    scale=spec.scale,
                    device=self.device,
                    dtype=self.dtype,
                    tile_size=self.settings.tile_size,
                    tile_overlap=self.settings.tile_overlap,
                    batch_size=self.settings.tile_batch,
                )
                self._upscalers[key] = upscaler
                log.info(
                    "model_loaded",
                    model=model,
                    scale=scale,
                    device=str(self.device),
                    dtype=str(self.dtype),
                    weights="cache" if cached else "converted",
                    seconds=round(time.perf_counter() - start, 2),
                )
            return upscaler
