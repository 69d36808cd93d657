"""What ``bench/engine.py`` runs in its fresh subprocesses: timing, and peak-RSS measurement."""

from __future__ import annotations

import gc
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from impls import Impl, astronaut, make_engine, make_reference


def _impl(spec: dict[str, Any], which: str, device: torch.device) -> Impl:
    """Build ``engine[:<precision>]`` or ``reference:<tile>[:half|:fp32]`` for ``spec``."""
    cache = Path(spec["cache_dir"])
    kind, *rest = which.split(":")
    if kind == "engine":
        precision = rest[0] if rest else "auto"
        return make_engine(
            spec["model"], device, cache, spec["size"], spec["compile_mode"], precision
        )
    half = {"half": True, "fp32": False}.get(rest[1]) if len(rest) > 1 else None
    return make_reference(spec["model"], device, cache, int(rest[0]), half)


def _settings(settings: dict[str, object]) -> str:
    return " ".join(f"{k}={v}" for k, v in settings.items())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def child_time(spec: dict[str, Any]) -> dict[str, Any]:
    """Warm up both implementations, then time them alternately; CUDA peak memory too."""
    device = torch.device(spec["device"])
    names = list(spec["impls"])
    impls = {name: _impl(spec, name, device) for name in names}
    image = astronaut(spec["size"])
    inputs = {name: impl.prepare(image) for name, impl in impls.items()}
    outputs = {name: impl.to_rgb(impl.run(inputs[name])) for name, impl in impls.items()}
    times: dict[str, list[float]] = {name: [] for name in names}
    peaks: dict[str, float | None] = dict.fromkeys(names)
    for _ in range(spec["repeat"]):
        for name, impl in impls.items():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
                before = torch.cuda.memory_allocated()
            _sync(device)
            start = time.perf_counter()
            impl.run(inputs[name])
            _sync(device)
            times[name].append((time.perf_counter() - start) * 1000)
            if device.type == "cuda":
                peaks[name] = (torch.cuda.max_memory_allocated() - before) / 2**20
    ref = outputs["reference:0"].astype(np.int16)
    rows = []
    for name, impl in impls.items():
        row: dict[str, Any] = {
            "case": spec["name"],
            "impl": name,
            "settings": _settings(impl.settings),
            "ms": statistics.median(times[name]),
            "min_ms": min(times[name]),
            "runs": len(times[name]),
            "all_ms": [round(t, 1) for t in times[name]],
            "mae": float(np.abs(outputs[name].astype(np.int16) - ref).mean()),
        }
        if device.type == "cuda":
            row["mem_mb"], row["mem_kind"] = peaks[name], "CUDA max allocated rise"
        rows.append(row)
    return {"rows": rows}


def _status_kb(field: str) -> int:
    """A ``/proc/self/status`` field in kB (VmRSS, VmHWM)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child_rss(spec: dict[str, Any]) -> dict[str, Any]:
    """One upscale by one implementation; the rise of the peak RSS above the RSS before it."""
    device = torch.device(spec["device"])
    impl = _impl(spec, spec["impl"], device)
    data = impl.prepare(astronaut(spec["size"]))
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM (the peak RSS) to the current RSS
    before = _status_kb("VmRSS")
    start = time.perf_counter()
    out = impl.run(data)
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    return {
        "rss_mb": (peak - before) / 1024,
        "ms": seconds * 1000,
        "output_mb": out.nbytes / 2**20,
        "settings": _settings(impl.settings),
    }
