"""Choose the torch device and the inference precision."""

from __future__ import annotations

import torch

from worker.engine.precision import cpu_precision

__all__ = ["precision_for", "select_device"]

_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def select_device(preference: str = "auto") -> torch.device:
    """Return the device for ``preference``: "auto" (CUDA if present), "cpu", "cuda" or "cuda:N"."""
    pref = preference.strip().lower()
    if pref == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if pref == "cpu":
        return torch.device("cpu")
    if pref == "cuda" or pref.startswith("cuda:"):
        # Fail at start-up, not at the first job, when a GPU was demanded but is missing.
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {preference!r} requested but CUDA is not available")
        return torch.device(pref)
    raise ValueError(f"unknown device preference {preference!r}")


def precision_for(device: torch.device, requested: str = "auto") -> torch.dtype:
    """Return the compute dtype for ``device``.

    CUDA: fp16 by default, or "bf16"/"fp32" as asked. CPU: "auto" is bf16 where oneDNN has a
    bf16 path on this CPU (AMX, AVX512-BF16, AVX2-VNNI-2) that a start-up probe finds faster,
    fp32 elsewhere (``precision.cpu_precision``); "bf16" and "fp32" are honoured; "fp16" gives
    fp32 (CPUs convolve fp16 slowly or not at all).
    """
    req = requested.strip().lower()
    if req != "auto" and req not in _DTYPES:
        raise ValueError(f"unknown precision {requested!r}")
    if device.type != "cuda":
        if req == "auto":
            return cpu_precision().dtype
        return torch.bfloat16 if req == "bf16" else torch.float32
    return torch.float16 if req == "auto" else _DTYPES[req]
