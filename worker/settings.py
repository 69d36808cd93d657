"""Worker settings (``WORKER_`` prefix) plus the shared groups it needs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.audit.settings import AuditSettings
from shared.settings import (
    DEFAULT_DATA_DIR,
    AdmissionSettings,
    AnalyticsSettings,
    BrokerSettings,
    CryptoSettings,
    JobSettings,
    LogSettings,
    ModelDirSettings,
    StorageSettings,
)
from shared.webhooks import WebhookSettings


class WorkerSettings(BaseSettings):
    """Everything the worker reads from its environment, once, at start-up."""

    model_config = SettingsConfigDict(env_prefix="WORKER_", extra="ignore")

    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp16", "bf16", "fp32"] = "auto"
    #: Who runs the network on the CPU: "openvino" (faster there, docs/performance.md),
    #: "torch", or "auto" (OpenVINO when installed and WORKER_COMPILE is off). CUDA: torch.
    cpu_backend: Literal["auto", "torch", "openvino"] = "auto"
    #: Memory for one forward pass (MiB); tile size and batch are derived from it
    #: (``worker.engine.budget``). Unset: 1024 on the CPU, half the free GPU memory on CUDA.
    tile_memory_mb: int | None = Field(default=None, ge=64)
    #: Tile edge in input pixels; unset: the largest the memory budget holds. Set, it wins.
    tile_size: int | None = Field(default=None, ge=32, le=4096)
    tile_overlap: int = Field(default=16, ge=0, le=128)
    #: Tiles per forward pass; unset: as many as the memory budget holds (at most 16).
    tile_batch: int | None = Field(default=None, ge=1, le=64)
    #: ``torch.compile`` mode, or "false". Compiled code is cached under
    #: TORCHINDUCTOR_CACHE_DIR (default: <model_cache_dir>/inductor): keep it on a volume.
    compile: Literal[
        "false", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"
    ] = "false"
    #: Run one batch through each preloaded model at start-up (autotuning, compilation).
    warmup: bool = True
    #: Where converted weights are cached so that later start-ups are fast.
    model_cache_dir: Path = DEFAULT_DATA_DIR / "model-cache"
    #: Models loaded at start-up (name:scale); others load on first use.
    preload: list[str] = Field(default_factory=lambda: ["realesrgan-x4plus:4"])
    #: Port for the Prometheus endpoint of a stand-alone worker (0 = none).
    metrics_port: int = Field(default=0, ge=0, le=65535)
    #: Jobs processed at once, their tiles sharing forward passes (1: one job at a time).
    #: Each job is still acked, timed out and cancelled on its own (worker.batching).
    batch_jobs: int = Field(default=1, ge=1, le=32)
    #: How long the first image of a pass waits for other jobs' images to join it.
    batch_window_ms: float = Field(default=10.0, ge=0, le=10_000)
    #: Most faces restored per image (the largest first; the rest stay as upscaled): bounds
    #: the face stage's time and memory on a crowd.
    face_max: int = Field(default=16, ge=0, le=256)
    #: Seconds between progress writes to a job's manifest (each is a storage PUT).
    progress_interval_seconds: float = Field(default=1.0, ge=0)
    #: Seconds to wait for the current job on SIGTERM before handing it back to the queue.
    shutdown_grace_seconds: int = Field(default=60, ge=1)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    crypto: CryptoSettings = Field(default_factory=CryptoSettings)
    #: Operator models (``MODEL_DIR``): BasicSR checkpoints named <name>-x<scale>.pth|.safetensors.
    models: ModelDirSettings = Field(default_factory=ModelDirSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    #: Only ``ADMISSION_REDIS_URL``: a finished job leaves its network's jobs in flight.
    admission: AdmissionSettings = Field(default_factory=AdmissionSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    #: Webhooks on completion: signing secret, allowed targets, timeouts, retries.
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    #: The deletion audit log: this service's signing key and the anchor store.
    audit: AuditSettings = Field(default_factory=AuditSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @field_validator("tile_memory_mb", "tile_size", "tile_batch", mode="before")
    @classmethod
    def _auto_is_unset(cls, value: object) -> object:
        """Accept "auto" or an empty variable for the derived tile settings."""
        if isinstance(value, str) and value.strip().lower() in ("", "auto"):
            return None
        return value
