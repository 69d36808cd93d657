"""Benchmark this engine against Real-ESRGAN's ``RealESRGANer``: same model, weights and image.

    python bench/engine.py [--device cpu|cuda] [--cases NAME ...] [--quick] [--repeat N]

Needs the ``bench`` extra: ``pip install --no-deps realesrgan==0.3.0``. For each case it prints
ms per image (median of N timed runs after one warm-up, the two implementations alternating
so that background load hits both alike), peak memory, and the ratio engine/reference.
Peak memory: on the CPU the rise of the process's peak RSS during one upscale, each
implementation in a fresh subprocess (an RSS peak is process-wide); on CUDA
``torch.cuda.max_memory_allocated`` above what was allocated before the run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # runs as a script, installed or not


@dataclass(frozen=True)
class Case:
    """One comparison: model, square input size, what is measured, where, and the target."""

    name: str
    model: str
    size: int
    kind: str  # "time" (time + memory) or "rss" (one run each, peak RSS)
    device: str
    target: str
    compile_mode: str | None = None
    #: ``engine`` (the worker's defaults), ``engine:<WORKER_PRECISION>``, and
    #: ``reference:<tile>`` (its fp16 on CUDA, fp32 on the CPU) or ``reference:<tile>:half``.
    impls: tuple[str, ...] = ("engine", "reference:0")


#: On the CPU: the engine as the worker runs it (bf16 where the CPU has AMX) and in fp32; the
#: reference in fp32 (``--fp32``, what CPU users run) and in fp16 (its command line's default).
CPU_TIME_IMPLS = ("engine", "engine:fp32", "reference:0", "reference:0:half")


CASES = [
    Case("x4plus-256", "x4plus", 256, "time", "cpu", "time ratio <= 0.9", impls=CPU_TIME_IMPLS),
    Case(
        "animevideov3-256",
        "animevideov3",
        256,
        "time",
        "cpu",
        "time ratio <= 0.9",
        impls=CPU_TIME_IMPLS,
    ),
    Case(
        "x4plus-1024-rss",
        "x4plus",
        1024,
        "rss",
        "cpu",
        "peak RSS <= 0.5x reference (tile=0)",
        impls=("engine", "engine:fp32", "reference:0", "reference:256"),
    ),
    Case("x4plus-512", "x4plus", 512, "time", "cuda", "<= 40 ms/image"),
    Case("animevideov3-512", "animevideov3", 512, "time", "cuda", ">= 15x faster than reference"),
    Case(
        "x4plus-512-compiled",
        "x4plus",
        512,
        "time",
        "cuda",
        "<= 40 ms/image",
        compile_mode="max-autotune",
    ),
    Case(
        "animevideov3-512-compiled",
        "animevideov3",
        512,
        "time",
        "cuda",
        ">= 15x faster than reference",
        compile_mode="max-autotune",
    ),
]
QUICK_SIZES = {"x4plus-256": 64, "animevideov3-256": 128, "x4plus-1024-rss": 192}


def machine(device: str) -> str:
    """One line about where this ran."""
    import torch

    cpu = platform.processor() or "unknown CPU"
    with open("/proc/cpuinfo") as fh:  # Linux; the model name is what matters here
        cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    line = f"{platform.machine()}, {cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}"
    if device == "cuda":
        line += f", GPU {torch.cuda.get_device_name()}"
    return line + f", {torch.get_num_threads()} torch threads"


def _child(args: list[str]) -> dict:
    """Run this script in a fresh interpreter; return the JSON it prints last."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-3:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_case(case: Case, repeat: int, cache_dir: Path) -> list[dict]:
    """Measure one case; return one row per implementation."""
    spec = json.dumps({**asdict(case), "repeat": repeat, "cache_dir": str(cache_dir)})
    rows: list[dict] = []
    if case.kind == "time":
        result = _child(["--child-time", spec])
        if "error" in result:
            return [{"case": case.name, "impl": "-", "error": result["error"]}]
        rows = result["rows"]
    if case.device == "cpu":
        for impl in case.impls:
            rss = _child(["--child-rss", json.dumps({**json.loads(spec), "impl": impl})])
            row = next((r for r in rows if r["impl"] == impl), None)
            if row is None:
                row = {"case": case.name, "impl": impl, "ms": rss.get("ms"), "runs": 1,
                       "settings": rss.get("settings", "")}  # fmt: skip
                rows.append(row)
            row["mem_mb"], row["mem_kind"] = rss.get("rss_mb"), "peak RSS rise"
            if "error" in rss:
                row["error"] = rss["error"]
    return rows


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def table(rows: list[dict], cases: dict[str, Case]) -> str:
    """The results as a Markdown table, ratios against the reference with tile=0.

    Time ratios are against the faster of the reference's tile=0 modes (fp32 or fp16), memory
    ratios against its tile=0 default mode. "time ratio" compares medians; "min ratio" the
    fastest runs, the least disturbed by other load on a shared machine.
    """
    head = ["case", "device", "impl", "settings", "ms/image", "min ms", "runs", "peak MB",
            "time ratio", "min ratio", "mem ratio", "MAE vs ref", "target"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ref = next((x for x in rows if x["case"] == r["case"] and x["impl"] == "reference:0"), {})
        tile0 = [
            x
            for x in rows
            if x["case"] == r["case"]
            and x["impl"].startswith("reference:0")
            and x.get("ms") is not None
            and "error" not in x
        ]
        fastest = min(tile0, key=lambda x: x["ms"], default={})
        case = cases[r["case"]]
        fmt = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
        cells = [
            r["case"],
            case.device,
            r["impl"],
            r.get("settings", ""),
            fmt(r.get("ms")),
            fmt(r.get("min_ms")),
            str(r.get("runs", "")),
            fmt(r.get("mem_mb")),
            fmt(_ratio(r.get("ms"), fastest.get("ms")), 3),
            fmt(_ratio(r.get("min_ms"), fastest.get("min_ms")), 3),
            fmt(_ratio(r.get("mem_mb"), ref.get("mem_mb")), 3),
            fmt(r.get("mae"), 3),
            case.target if r["impl"] == "engine" else "",
        ]
        if "error" in r:
            cells[4] = "ERROR: " + " ".join(r["error"])[:80]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Parse arguments (or run as a child) and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default=None,
        help="default: cuda when available, else cpu",
    )
    parser.add_argument("--cases", nargs="*", help="case names (default: all for the device)")
    parser.add_argument("--quick", action="store_true", help="small sizes, one timed run")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs (CPU 3, CUDA 20)")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "model-cache")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--child-time", help=argparse.SUPPRESS)
    parser.add_argument("--child-rss", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_time or args.child_rss:
        from children import child_rss, child_time

        out = (
            child_time(json.loads(args.child_time))
            if args.child_time
            else child_rss(json.loads(args.child_rss))
        )
        print(json.dumps(out))
        return
    import importlib.util

    import torch

    if importlib.util.find_spec("realesrgan") is None:
        sys.exit("bench/engine.py needs the reference: pip install --no-deps realesrgan==0.3.0")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    selected = [c for c in CASES if c.device == device and (not args.cases or c.name in args.cases)]
    if args.quick:
        selected = [
            replace(c, size=QUICK_SIZES.get(c.name, c.size // 2))
            for c in selected
            if c.compile_mode is None
        ]
    repeat = args.repeat or (1 if args.quick else 3 if device == "cpu" else 20)
    print(f"machine: {machine(device)}", flush=True)
    rows: list[dict] = []
    for case in selected:
        print(f"-- {case.name} ({case.device}, {case.size}x{case.size})", flush=True)
        for row in run_case(case, repeat, args.cache_dir):
            print("   ", json.dumps(row), flush=True)
            rows.append(row)
    print()
    print(table(rows, {c.name: c for c in selected}))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(device), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
