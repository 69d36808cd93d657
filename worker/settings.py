"""Worker settings (``WORKER_`` prefix) plus the shared groups it needs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import (
    DEFAULT_DATA_DIR,
    BrokerSettings,
    JobSettings,
    LogSettings,
    StorageSettings,
)


class WorkerSettings(BaseSettings):
    """Everything the worker reads from its environment, once, at start-up."""

    model_config = SettingsConfigDict(env_prefix="WORKER_", extra="ignore")

    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp16", "bf16", "fp32"] = "auto"
    #: Tile edge in input pixels; larger is faster on a GPU with memory to spare.
    tile_size: int = Field(default=256, ge=32, le=4096)
    tile_overlap: int = Field(default=16, ge=0, le=128)
    tile_batch: int = Field(default=1, ge=1, le=64)
    #: Where converted weights are cached so that later start-ups are fast.
    model_cache_dir: Path = DEFAULT_DATA_DIR / "model-cache"
    #: Models loaded at start-up (name:scale); others load on first use.
    preload: list[str] = Field(default_factory=lambda: ["realesrgan-x4plus:4"])
    #: Port for the Prometheus endpoint of a stand-alone worker (0 = none).
    metrics_port: int = Field(default=0, ge=0, le=65535)
    #: Seconds to wait for the current job on SIGTERM before handing it back to the queue.
    shutdown_grace_seconds: int = Field(default=60, ge=1)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    log: LogSettings = Field(default_factory=LogSettings)
