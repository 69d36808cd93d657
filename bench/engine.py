"""Benchmark this engine against Real-ESRGAN's ``RealESRGANer``: same model, weights and image.

    python bench/engine.py [--device cpu|cuda] [--cases NAME ...] [--quick] [--repeat N]
                           [--size N] [--impls IMPL ...] [--probe]

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
    #: ``engine`` (the worker's defaults), ``engine:<WORKER_PRECISION>[:<backend>]`` with
    #: backend torch, openvino or dense (PyTorch with the concat-free RRDB trunk), and
    #: ``reference:<tile>`` (its fp16 on CUDA, fp32 on the CPU) or ``reference:<tile>:half``.
    #: Throughput cases: ``batch1:<backend>`` and ``batched:<backend>``.
    impls: tuple[str, ...] = ("engine", "reference:0")


def _cpu_time_impls(rrdb: bool) -> tuple[str, ...]:
    """On the CPU: the engine as the worker runs it (precision auto, OpenVINO where
    installed), PyTorch and OpenVINO side by side at equal precision (fp32, and bf16 where
    the CPU has a oneDNN bf16 path), the concat-free RRDB trunk, and the reference in fp32
    (``--fp32``, what CPU users run; its fp16 mode was slower on both CPUs measured)."""
    from worker.engine.precision import bf16_path_from_flags, cpu_flags

    impls = ["engine", "engine:fp32:torch", "engine:fp32:openvino"]
    if rrdb:
        impls.append("engine:fp32:dense")
    if bf16_path_from_flags(cpu_flags()) is not None:
        impls += ["engine:bf16:torch", "engine:bf16:openvino"]
        if rrdb:
            impls.append("engine:bf16:dense")
    return (*impls, "reference:0")


CPU_TIME_IMPLS = ("engine", "engine:fp32", "reference:0", "reference:0:half")
#: Cross-job batching: a mix of small photos, one upscale() each vs one upscale_batch().
THROUGHPUT_IMPLS = ("batch1:torch", "batched:torch")


CASES = [
    Case(
        "x4plus-160",
        "x4plus",
        160,
        "time",
        "cpu",
        "ahead of OpenVINO at equal precision",
        impls=_cpu_time_impls(rrdb=True),
    ),
    Case(
        "animevideov3-256-ov",
        "animevideov3",
        256,
        "time",
        "cpu",
        "ahead of OpenVINO at equal precision",
        impls=_cpu_time_impls(rrdb=False),
    ),
    Case(
        "throughput-animevideov3",
        "animevideov3",
        0,
        "throughput",
        "cpu",
        "images/s batched >= batch 1 (meaningful on a GPU)",
        impls=THROUGHPUT_IMPLS,
    ),
    Case(
        "throughput-x4plus",
        "x4plus",
        0,
        "throughput",
        "cuda",
        "images/s batched vs batch 1",
        impls=THROUGHPUT_IMPLS,
    ),
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
    if case.kind == "throughput":
        result = _child(["--child-throughput", spec])
        if "error" in result:
            return [{"case": case.name, "impl": "-", "error": result["error"]}]
        return result["rows"]
    if case.kind == "time":
        result = _child(["--child-time", spec])
        if "error" in result:
            return [{"case": case.name, "impl": "-", "error": result["error"]}]
        rows = result["rows"]
    if case.device == "cpu" and case.kind == "rss":
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
            "time ratio", "min ratio", "vs OpenVINO (min)", "mem ratio", "MAE vs ref",
            "target"]  # fmt: skip
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
        # The same precision's OpenVINO row: engine:<p>:<backend> against engine:<p>:openvino.
        parts = r["impl"].split(":")
        ov = next(
            (
                x
                for x in rows
                if x["case"] == r["case"]
                and len(parts) == 3
                and x["impl"] == f"engine:{parts[1]}:openvino"
            ),
            {},
        )
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
            fmt(_ratio(r.get("min_ms"), ov.get("min_ms")), 3),
            fmt(_ratio(r.get("mem_mb"), ref.get("mem_mb")), 3),
            fmt(r.get("mae"), 3),
            case.target if r["impl"] == "engine" else "",
        ]
        if "error" in r:
            cells[4] = "ERROR: " + " ".join(r["error"])[:80]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def show_probe() -> None:
    """Print the CPU's flags path, the bf16 probe (run even where the flags rule bf16 out,
    for the record) and what WORKER_PRECISION=auto decides."""
    from worker.engine.precision import (
        BF16_MIN_SPEEDUP,
        PROBE_BUDGET_S,
        bf16_path_from_flags,
        cpu_flags,
        decide_cpu_precision,
        probe_bf16,
    )

    print(f"machine: {machine('cpu')}")
    flags = cpu_flags()
    wanted = sorted(f for f in flags if "bf16" in f or f.startswith(("amx", "avx512", "avx_")))
    print(
        f"bf16-related flags: {wanted or 'none'}; oneDNN bf16 path: {bf16_path_from_flags(flags)}"
    )
    # The start-up probe's own budget, then a longer one for the record (on a busy machine
    # emulated bf16 may not finish one warm-up run within the start-up budget).
    result = None
    for budget in (PROBE_BUDGET_S, 10.0):
        result = probe_bf16(budget_s=budget)
        if result is None:
            print(f"probe within {budget:.1f} s: ran out of time (counts as: bf16 not faster)")
            continue
        print(
            f"probe within {budget:.1f} s (4 convs 64ch, 48x48, {result.runs} runs each): fp32 "
            f"{result.fp32_s * 1000:.1f} ms, bf16 {result.bf16_s * 1000:.1f} ms "
            f"(bf16/fp32 {result.ratio:.2f}; bf16 needs <= {BF16_MIN_SPEEDUP})"
        )
    choice = decide_cpu_precision(flags, lambda: result)
    print(f"WORKER_PRECISION=auto -> {choice.dtype} ({choice.reason})")


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
    parser.add_argument("--size", type=int, help="override the cases' input size")
    parser.add_argument("--impls", nargs="*", help="override the cases' implementations")
    parser.add_argument(
        "--probe", action="store_true", help="show the CPU precision decision and exit"
    )
    parser.add_argument("--child-time", help=argparse.SUPPRESS)
    parser.add_argument("--child-rss", help=argparse.SUPPRESS)
    parser.add_argument("--child-throughput", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_time or args.child_rss or args.child_throughput:
        from children import child_rss, child_throughput, child_time

        if args.child_time:
            out = child_time(json.loads(args.child_time))
        elif args.child_rss:
            out = child_rss(json.loads(args.child_rss))
        else:
            out = child_throughput(json.loads(args.child_throughput))
        print(json.dumps(out))
        return
    if args.probe:
        show_probe()
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
    if args.size:
        selected = [replace(c, size=args.size) if c.kind != "throughput" else c for c in selected]
    if args.impls:
        selected = [replace(c, impls=tuple(args.impls)) for c in selected]
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
