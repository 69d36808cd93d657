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
from PIL import Image


def _impl(spec: dict[str, Any], which: str, device: torch.device) -> Impl:
    """Build ``engine[:<precision>[:<backend>]]`` or ``reference:<tile>[:half|:fp32]``."""
    cache = Path(spec["cache_dir"])
    kind, *rest = which.split(":")
    if kind == "engine":
        precision = rest[0] if rest else "auto"
        backend = rest[1] if len(rest) > 1 else "auto"
        return make_engine(
            spec["model"], device, cache, spec["size"], spec["compile_mode"], precision, backend
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


#: The throughput mix: crops of scikit-image's photos at small "web" sizes (h, w). On a GPU
#: the same code runs the 0.25-2 MP sizes of issue #16 (``spec["scale_mix"]``).
_MIX = [(96, 128), (128, 96), (112, 112), (96, 160), (144, 96), (128, 128), (96, 96), (160, 112)]
_MIX_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def throughput_mix(scale_mix: float = 1.0) -> list[np.ndarray]:
    """The mix of photos (uint8 RGB), each size scaled by ``scale_mix``."""
    from skimage import data

    images = []
    for k, (h, w) in enumerate(_MIX):
        h, w = int(h * scale_mix), int(w * scale_mix)
        photo = getattr(data, _MIX_PHOTOS[k % len(_MIX_PHOTOS)])()
        photo = np.asarray(Image.fromarray(photo).resize((max(w, 512), max(h, 512))))
        images.append(np.ascontiguousarray(photo[:h, :w]))
    return images


def child_throughput(spec: dict[str, Any]) -> dict[str, Any]:
    """Images per second on the mix: one ``upscale`` per image vs one ``upscale_batch``.

    Both use the same engine settings except the batch: fixed-shape tiles (``shrink_tiles``
    off, as on CUDA) of ``tile`` + 2 x 8 context, so tiles of different images share passes.
    """
    from impls import MODELS

    from worker.engine import NETWORKS, load_network
    from worker.engine.upscaler import ImageRequest, Upscaler

    device = torch.device(spec["device"])
    cuda = device.type == "cuda"
    dtype = torch.float16 if cuda else torch.float32
    net = load_network(NETWORKS[MODELS[spec["model"]]], cache_dir=Path(spec["cache_dir"]))
    images = throughput_mix(spec.get("scale_mix", 8.0 if cuda else 1.0))
    tile = spec.get("tile", 256 if cuda else 64)
    batch = spec.get("batch", 8 if cuda else 4)
    engines = {
        name: Upscaler(
            net,
            scale=4,
            device=device,
            dtype=dtype,
            tile_size=tile,
            tile_overlap=8,
            batch_size=batch if name.startswith("batched") else 1,
            shrink_tiles=False,
        )
        for name in spec["impls"]
    }
    runs = {
        name: (
            (
                lambda e=engine: [
                    o.output for o in e.upscale_batch([ImageRequest(i) for i in images])
                ]
            )
            if name.startswith("batched")
            else (lambda e=engine: [e.upscale(i) for i in images])
        )
        for name, engine in engines.items()
    }
    outputs = {name: run() for name, run in runs.items()}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(spec["repeat"]):
        for name, run in runs.items():
            _sync(device)
            start = time.perf_counter()
            run()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    first = next(iter(outputs.values()))
    pixels = sum(i.shape[0] * i.shape[1] for i in images)
    rows = []
    for name in runs:
        best = min(times[name])
        diff = max(
            int(np.abs(a.astype(np.int16) - b).max())
            for a, b in zip(first, outputs[name], strict=True)
        )
        rows.append(
            {
                "case": spec["name"],
                "impl": name,
                "settings": f"tile={tile}+2x8 batch={engines[name].batch_size} {len(images)} "
                f"images {pixels / len(images) / 1e3:.0f} kpx avg, dtype={dtype}",
                "ms": statistics.median(times[name]) * 1000 / len(images),
                "min_ms": best * 1000 / len(images),
                "images_per_s": len(images) / best,
                "runs": len(times[name]),
                "max_diff_vs_first": diff,
            }
        )
    return {"rows": rows}
