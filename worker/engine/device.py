"""Choose the torch device and the inference precision."""

from __future__ import annotations

import torch

__all__ = ["cpu_has_bf16_matrix_unit", "precision_for", "select_device"]

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


def cpu_has_bf16_matrix_unit() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (Intel AMX, Sapphire Rapids on).

    There oneDNN runs bf16 convolutions several times faster than fp32 (x4plus: ~4x on a
    2-core Xeon slice, docs/performance.md); elsewhere bf16 is emulated and slower than fp32.
    """
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private, hence the care
    try:
        return bool(probe()) if probe is not None else False
    except (RuntimeError, OSError):
        return False


def precision_for(device: torch.device, requested: str = "auto") -> torch.dtype:
    """Return the compute dtype for ``device``.

    CUDA: fp16 by default, or "bf16"/"fp32" as asked. CPU: "auto" is bf16 where the CPU has
    a bf16 matrix unit (AMX) and fp32 elsewhere; "bf16" and "fp32" are honoured; "fp16" gives
    fp32 (CPUs convolve fp16 slowly or not at all).
    """
    req = requested.strip().lower()
    if req != "auto" and req not in _DTYPES:
        raise ValueError(f"unknown precision {requested!r}")
    if device.type != "cuda":
        if req == "auto":
            return torch.bfloat16 if cpu_has_bf16_matrix_unit() else torch.float32
        return torch.bfloat16 if req == "bf16" else torch.float32
    return torch.float16 if req == "auto" else _DTYPES[req]
