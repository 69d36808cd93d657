"""The worker's models: each network is built once per process, kept resident, and described.

Two sources: the built-in catalogue (official weights converted from ncnn) and operator
checkpoints in ``WORKER_MODEL_DIR``. Every operator checkpoint is read, hashed, recognised and
strictly loaded when the pool is created, so a bad file stops the worker at start-up with the
file's name in the message, never in the middle of a job.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import torch
from torch import nn

from shared.operator_models import OperatorModelError, operator_model_files
from worker.engine import (
    NETWORKS,
    NetworkSpec,
    Upscaler,
    load_network,
    precision_for,
    select_device,
)
from worker.engine.budget import (
    TilePlan,
    activation_bytes_per_pixel,
    auto_limits,
    default_budget_bytes,
    plan_tiles,
)
from worker.engine.checkpoints import load_checkpoint
from worker.engine.ncnn import MODEL_PACKAGE, WeightsFormatError, ncnn_model_dir
from worker.engine.openvino_backend import (
    OpenVINOBackend,
    openvino_available,
    openvino_cache_path,
)
from worker.engine.precision import bf16_path_from_flags, cpu_flags
from worker.engine.weights import cache_path_for
from worker.settings import WorkerSettings

log = structlog.get_logger(__name__)

__all__ = ["ModelPool", "OperatorModelError"]


@dataclass(frozen=True)
class _Entry:
    """Where a (model, scale) comes from: its spec, weights file and, once known, its digest."""

    spec: NetworkSpec
    source: str  # "builtin" or "operator"
    path: Path
    sha256: str | None = None


class ModelPool:
    """Upscalers by (model, scale), loaded on first use or at start-up, shared by jobs."""

    def __init__(self, settings: WorkerSettings) -> None:
        """Choose device and precision, derive the memory budget, verify operator models."""
        self.settings = settings
        self.device: torch.device = select_device(settings.device)
        self.dtype: torch.dtype = precision_for(self.device, settings.precision)
        mb = settings.tile_memory_mb
        self.budget_bytes = mb << 20 if mb else default_budget_bytes(self.device)
        self.compile_mode = None if settings.compile == "false" else settings.compile
        self.cpu_backend = self._cpu_backend(settings)
        log.info(
            "engine_selected",
            device=str(self.device),
            dtype=str(self.dtype),
            backend=self.cpu_backend if self.device.type == "cpu" else "torch",
        )
        if self.compile_mode is not None:
            # Compiling x4plus with max-autotune takes minutes: cache it beside the weights
            # (a persistent volume) so that only the first start of a deployment pays.
            inductor = (Path(settings.model_cache_dir) / "inductor").resolve()
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(inductor))
        self._entries: dict[tuple[str, int], _Entry] = {
            key: _Entry(spec, "builtin", ncnn_model_dir() / f"{spec.ncnn_stem}.bin")
            for key, spec in NETWORKS.items()
        }
        self._waiting: dict[tuple[str, int], nn.Module] = {}  # verified, not yet on the device
        if settings.models.dir is not None:
            self._load_operator_models(Path(settings.models.dir))
        self._upscalers: dict[tuple[str, int], Upscaler] = {}
        self._lock = threading.Lock()

    def _cpu_backend(self, settings: WorkerSettings) -> str:
        """ "openvino" or "torch" from WORKER_CPU_BACKEND; a missing OpenVINO fails here."""
        choice = settings.cpu_backend
        if choice == "auto":
            usable = openvino_available() and self.compile_mode is None
            return "openvino" if usable else "torch"
        if choice == "openvino" and self.device.type == "cpu":
            if not openvino_available():
                raise RuntimeError("WORKER_CPU_BACKEND=openvino but openvino is not installed")
            if self.compile_mode is not None:
                raise RuntimeError("WORKER_CPU_BACKEND=openvino excludes WORKER_COMPILE")
        return choice

    def _backend(self, entry: _Entry, network: nn.Module) -> OpenVINOBackend | None:
        """The OpenVINO backend for ``entry`` on the CPU when selected, else None (torch)."""
        if self.device.type != "cpu" or self.cpu_backend != "openvino":
            return None
        cache_dir = Path(self.settings.model_cache_dir)
        if entry.source == "builtin":
            key = cache_path_for(entry.spec, cache_dir).stem
        else:  # operator checkpoints are keyed by their digest, known since start-up
            key = f"{entry.spec.name}-x{entry.spec.scale}-{(entry.sha256 or '')[:16]}"
        return OpenVINOBackend(
            network, precision=self.dtype, cache_path=openvino_cache_path(key, cache_dir)
        )

    def _load_operator_models(self, model_dir: Path) -> None:
        """Load every checkpoint in ``model_dir``; raise ``OperatorModelError`` on any bad one."""
        try:
            files = operator_model_files(model_dir)
        except OperatorModelError as exc:
            raise OperatorModelError(f"MODEL_DIR: {exc}") from exc
        for path, name, scale in files:
            parsed = (name, scale)
            if parsed in self._entries:
                kind = self._entries[parsed].source
                raise OperatorModelError(
                    f"{path}: {parsed[0]} x{parsed[1]} is already a {kind} model"
                )
            try:
                info, network = load_checkpoint(path, *parsed)
            except WeightsFormatError as exc:
                raise OperatorModelError(
                    f"operator model {path.name} does not load: {exc}"
                ) from exc
            self._entries[parsed] = _Entry(info.spec, "operator", path, info.sha256)
            self._waiting[parsed] = network
            log.info(
                "operator_model",
                model=parsed[0],
                scale=parsed[1],
                file=path.name,
                sha256=info.sha256,
                arch=info.spec.arch,
                **info.spec.arch_kwargs,
            )

    def available(self) -> dict[str, tuple[int, ...]]:
        """Every servable model name with its native scales (built-in and operator)."""
        found: dict[str, list[int]] = {}
        for name, scale in sorted(self._entries):
            found.setdefault(name, []).append(scale)
        return {name: tuple(scales) for name, scales in found.items()}

    def native_scales(self, model: str) -> tuple[int, ...]:
        """The scales ``model`` runs natively (empty when there is no such model)."""
        return self.available().get(model, ())

    def describe(self, model: str, scale: int) -> dict[str, Any]:
        """What ran, for a job's manifest: source, weights file, its sha256, architecture."""
        key = (model, scale)
        entry = self._entries[key]
        if entry.sha256 is None:  # built-in: hash the shipped .bin once, on first request
            digest = hashlib.sha256(entry.path.read_bytes()).hexdigest()
            entry = self._entries[key] = _Entry(entry.spec, entry.source, entry.path, digest)
        described: dict[str, Any] = {
            "model": model,
            "scale": scale,
            "source": entry.source,
            "arch": entry.spec.arch,
            "file": entry.path.name,
            "sha256": entry.sha256,
        }
        if entry.source == "builtin":
            described["package"] = f"{MODEL_PACKAGE}=={_package_version()}"
        return described

    def plan_for(self, network: nn.Module) -> TilePlan:
        """Tile size and batch for ``network`` from the budget (explicit settings win)."""
        path = bf16_path_from_flags(cpu_flags()) if self.device.type == "cpu" else None
        max_extent, max_batch = auto_limits(self.device, self.dtype, path)
        return plan_tiles(
            activation_bytes_per_pixel(network, self.dtype),
            self.budget_bytes,
            self.settings.tile_overlap,
            tile_size=self.settings.tile_size,
            batch=self.settings.tile_batch,
            max_extent=max_extent,
            max_batch=max_batch,
        )

    def preload(self) -> float:
        """Load (and warm up) the configured models now; return the seconds it took."""
        start = time.perf_counter()
        for item in self.settings.preload:
            name, _, scale = item.partition(":")
            upscaler = self.get(name, int(scale or 4))
            if self.settings.warmup:
                seconds = upscaler.warmup()
                log.info(
                    "model_warmed_up",
                    model=name,
                    scale=int(scale or 4),
                    shape=list(upscaler.static_shape),
                    seconds=round(seconds, 2),
                )
        return time.perf_counter() - start

    def get(self, model: str, scale: int) -> Upscaler:
        """Return the upscaler for ``model`` at ``scale`` (KeyError if there is none)."""
        key = (model, scale)
        with self._lock:
            upscaler = self._upscalers.get(key)
            if upscaler is None:
                entry = self._entries[key]
                start = time.perf_counter()
                if entry.source == "operator":
                    network, weights = self._waiting.pop(key), "checkpoint"
                else:
                    cache_dir = self.settings.model_cache_dir
                    cached = cache_path_for(entry.spec, cache_dir).is_file()
                    network = load_network(entry.spec, cache_dir=cache_dir)
                    weights = "cache" if cached else "converted"
                plan = self.plan_for(network)
                backend = self._backend(entry, network)
                upscaler = Upscaler(
                    network,
                    scale=entry.spec.scale,
                    device=self.device,
                    dtype=backend.input_dtype if backend is not None else self.dtype,
                    tile_size=plan.tile_size,
                    tile_overlap=plan.overlap,
                    batch_size=plan.batch,
                    compile_mode=None if backend is not None else self.compile_mode,
                    backend=backend,
                )
                self._upscalers[key] = upscaler
                log.info(
                    "model_loaded",
                    model=model,
                    scale=scale,
                    device=str(self.device),
                    dtype=str(self.dtype),
                    weights=weights,
                    tile=plan.tile_size,
                    batch=plan.batch,
                    bytes_per_pixel=plan.bytes_per_pixel,
                    budget_mb=plan.budget_bytes >> 20,
                    compile=self.compile_mode or "off",
                    backend=backend.name if backend is not None else "torch",
                    backend_model=backend.source if backend is not None else None,
                    seconds=round(time.perf_counter() - start, 2),
                )
            return upscaler


def _package_version() -> str:
    """Installed version of the weights package ("unknown" when run from a bare folder)."""
    try:
        return importlib.metadata.version(MODEL_PACKAGE.replace("_", "-"))
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
