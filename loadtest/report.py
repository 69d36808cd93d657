"""Figures of a load run: latency percentiles, where the CPU went (local stack only), and
the report printed and written to ``report.json``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from local_stack import Process
from lost_jobs import LedgerView


def process_cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of a process and its children (0 once it is gone)."""
    try:
        proc = psutil.Process(pid)
        total = 0.0
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total
    except psutil.Error:
        return 0.0


def children_rusage_seconds() -> float:
    """CPU seconds of this process's reaped children (locust, once it has exited)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def system_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (every core; idle, I/O wait and steal excluded)."""
    t = psutil.cpu_times()
    return sum(getattr(t, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq"))


def background_busy_pct(seconds: float = 3.0) -> float:
    """How busy the machine is before the run starts (% of all cores): others' load."""
    before = system_busy_seconds()
    time.sleep(seconds)
    return 100 * (system_busy_seconds() - before) / (seconds * (psutil.cpu_count() or 1))


def process_label(proc: psutil.Process) -> str:
    """A short name for a process: RabbitMQ, or the program and its first argument."""
    try:
        name = proc.name()
        if name == "beam.smp":
            return "RabbitMQ"
        args = proc.cmdline()
    except psutil.Error:
        return "?"
    if "-c" in args[1:2]:
        script = "-c"
    else:
        script = Path(next((a for a in args[1:] if not a.startswith("-")), "")).name
    return " ".join(f"{Path(args[0]).name if args else name} {script}".split())[:60]


def all_process_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds so far of every process on the machine, with its label."""
    found: dict[int, tuple[str, float]] = {}
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            found[proc.pid] = (process_label(proc), t.user + t.system)
    return found


def own_pids(services: dict[str, Process]) -> set[int]:
    """This process, the services and their children."""
    pids = {os.getpid()}
    for service in services.values():
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(service.proc.pid)
            pids |= {proc.pid, *(c.pid for c in proc.children(recursive=True))}
    return pids


def others_cpu(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], ours: set[int]
) -> dict[str, float]:
    """CPU seconds that processes not of this run used in between, by label (largest first).

    ``before`` must be taken before the locust process starts: locust is not in ``ours``.
    """
    used: dict[str, float] = {}
    for pid, (label, seconds) in after.items():
        if pid in ours:
            continue
        # A process started in between counts whole; one that ended in between is not seen.
        delta = seconds - before[pid][1] if pid in before else seconds
        if delta > 0.05:
            used[label] = used.get(label, 0.0) + delta
    return dict(sorted(used.items(), key=lambda kv: -kv[1]))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def pcts(values: list[float]) -> dict[str, float | None]:
    """p50, p95 and p99."""
    return {f"p{q}": percentile(values, q) for q in (50, 95, 99)}


@dataclass
class WorkerLog:
    """What the workers' JSON logs say: when each job finished, and inference times."""

    finished_at: dict[str, float] = field(default_factory=dict)
    inference_s: list[float] = field(default_factory=list)


def read_worker_logs(log_paths: list[Path]) -> WorkerLog:
    """Parse ``job_succeeded`` / ``job_failed`` lines (job id, time, inference seconds).

    Best effort: a line that is not JSON, or lacks a field, is skipped.
    """
    found = WorkerLog()
    for path in log_paths:
        with contextlib.suppress(OSError):
            for line in path.read_text(errors="replace").splitlines():
                if '"job_succeeded"' not in line and '"job_failed"' not in line:
                    continue
                with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
                    rec = json.loads(line)
                    when = datetime.fromisoformat(rec["timestamp"]).timestamp()
                    job_id = rec["job_id"]
                    found.finished_at[job_id] = min(when, found.finished_at.get(job_id, when))
                    if rec.get("inference_seconds") is not None:
                        found.inference_s.append(float(rec["inference_seconds"]))
    return found


def gateway_accept_ms(log_path: Path) -> list[float]:
    """Server-side time of each 202 ``POST /v1/jobs``, from the gateway's JSON access log."""
    found: list[float] = []
    with contextlib.suppress(OSError):
        for line in log_path.read_text(errors="replace").splitlines():
            if '"request"' not in line or '"POST"' not in line:
                continue
            with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
                rec = json.loads(line)
                if rec["route"] == "/v1/jobs" and rec["status"] == 202:
                    found.append(float(rec["ms"]))
    return found


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def fmt_ms(stats: dict[str, float | None], unit: str = "ms") -> str:
    """``p50 … p95 … p99 …`` in ms or s."""
    div = 1000.0 if unit == "s" else 1.0
    return "  ".join(
        f"{k} {'-' if v is None else format(v / div, '.2f' if unit == 's' else '.0f')} {unit}"
        for k, v in stats.items()
    )


def build_report(
    args: argparse.Namespace,
    view: LedgerView,
    worker_log: WorkerLog,
    lost: dict[str, str],
    cpu: dict[str, float],
    busy: float,
    wall: float,
    drain_s: float,
    target: str | None = None,
) -> dict[str, Any]:
    """Every figure the run printed, as a dict (also written to report.json).

    ``target``: the deployed URL under test; None for the local stack (then the machine is
    the service's, and CPU shares are the services').
    """
    window = view.window[1] - view.window[0] if view.window else float(args.duration)
    posts = [r for r in view.requests if r["name"] == "POST /v1/jobs"]
    accept_ms = [r["ms"] for r in posts if r["status"] == 202]
    polls = [r["ms"] for r in view.requests if r["name"] == "GET /v1/jobs/[id]"]
    jobs = list(view.jobs.values())
    succeeded = [j for j in jobs if j.status == "succeeded"]
    by_client = [j.latency_ms for j in succeeded if not j.drained and j.latency_ms is not None]
    # Upload start → the worker's job_succeeded line; a poll's time where the log lacks it.
    finished_at = {
        j.id: worker_log.finished_at.get(j.id, j.started + (j.latency_ms or 0) / 1000)
        for j in succeeded
    }
    completion = [1000 * (finished_at[j.id] - j.started) for j in succeeded]
    in_window = [t for t in finished_at.values() if view.window and t <= view.window[1]]
    statuses = Counter(str(r["status"]) for r in view.requests)
    errors = {s: n for s, n in sorted(statuses.items()) if not s.startswith("2")}
    cores = psutil.cpu_count() or 1
    workers_cpu = sum(v for k, v in cpu.items() if k.startswith("worker-"))
    ours = sum(cpu.values())
    gpu = "none (CPU inference)" if target is None else "n/a (this is the load generator)"
    return {
        "target": target or "local stack",
        "machine": {"cpu": cpu_model(), "cores": cores, "gpu": gpu},
        "settings": {
            "users": args.users,
            "upload_only_users": args.upload_only_users,
            "upload_rate": args.upload_rate,
            "spawn_rate": args.spawn_rate,
            "duration_s": args.duration,
            "workers": args.workers,
            "worker_threads": args.worker_threads or "torch default",
            "model": args.model,
            "scale": args.scale,
            "sizes": args.sizes,
            "poll_interval_s": args.poll_interval,
            "delete": not args.no_delete,
        },
        "window_s": round(window, 2),
        "accepted": len(jobs),
        "accepted_per_s": round(len(jobs) / window, 3) if window > 0 else None,
        "succeeded_in_window_per_s": round(len(in_window) / window, 3) if window > 0 else None,
        "refused": view.refused,
        "accept_latency_ms": pcts(accept_ms),
        "status_poll_latency_ms": pcts(polls),
        "completion_latency_ms": pcts(completion),
        "completion_times_from_worker_logs": sum(j.id in worker_log.finished_at for j in succeeded),
        "completion_latency_seen_by_clients_ms": pcts(by_client),
        "succeeded": len(succeeded),
        "failed": sum(j.status == "failed" for j in jobs),
        "checked_by_harness": sum(j.drained for j in jobs),
        "backlog_at_stop": sum(
            not view.window
            or worker_log.finished_at.get(j.id, j.started + (j.latency_ms or 1e9) / 1000)
            > view.window[1]
            for j in jobs
        ),
        "drain_s": round(drain_s, 2),
        "worker_inference_ms": pcts([1000 * v for v in worker_log.inference_s]),
        "requests_by_status": dict(sorted(statuses.items())),
        "errors_by_status": errors,
        "lost": len(lost),
        "lost_jobs": lost,
        "cpu_seconds": {k: round(v, 1) for k, v in sorted(cpu.items())},
        "cpu_share_of_machine_pct": {
            "workers": round(100 * workers_cpu / (wall * cores), 1),
            "gateway": round(100 * cpu.get("gateway", 0) / (wall * cores), 1),
            "moto_s3": round(100 * cpu.get("moto", 0) / (wall * cores), 1),
            "janitor": round(100 * cpu.get("janitor", 0) / (wall * cores), 1),
            "locust": round(100 * cpu.get("locust", 0) / (wall * cores), 1),
            "others_rabbitmq_os": round(100 * max(0.0, busy - ours) / (wall * cores), 1),
            "idle": round(100 * max(0.0, wall * cores - busy) / (wall * cores), 1),
        },
        "locust_cpu_warnings": view.cpu_warnings,
    }


def print_report(r: dict[str, Any]) -> None:
    """The figures, for a person."""
    s = r["settings"]
    share = r["cpu_share_of_machine_pct"]
    workers = f"{s['workers']} workers" if r["target"] == "local stack" else r["target"]
    print()
    print("=" * 78)
    print(
        f"PicUpscaler load test: {workers}, {s['users']} journey users"
        f" + {s['upload_only_users']} upload-only, spawn {s['spawn_rate']}/s, {s['duration_s']} s,"
        f" {s['model']} x{s['scale']}, PNG {s['sizes']} px"
    )
    m = r["machine"]
    where = "machine" if r["target"] == "local stack" else "load generator"
    print(f"{where}: {m['cpu']}, {m['cores']} cores, {m['gpu']}")
    print("-" * 78)
    print(
        f"accepted jobs          {r['accepted']} ({r['accepted_per_s']}/s over {r['window_s']} s)"
    )
    print(f"finished during load   {r['succeeded_in_window_per_s']} jobs/s (succeeded)")
    print(f"accept latency (POST)  {fmt_ms(r['accept_latency_ms'])}")
    print(
        f"  inside the gateway   {fmt_ms(r['accept_latency_in_gateway_ms'])}"
        "  (its access log: from request to 202)"
    )
    print(f"status poll (GET)      {fmt_ms(r['status_poll_latency_ms'])}")
    print(
        f"completion latency     {fmt_ms(r['completion_latency_ms'], 's')}"
        "  (upload → worker finished)"
    )
    print(
        f"  seen by journey users {fmt_ms(r['completion_latency_seen_by_clients_ms'], 's')}"
        "  (upload → poll saw it)"
    )
    print(
        f"jobs                   {r['succeeded']} succeeded, {r['failed']} failed; "
        f"{r['backlog_at_stop']} unfinished when the load stopped, drained in {r['drain_s']} s"
    )
    print(f"worker inference       {fmt_ms(r['worker_inference_ms'])}  (from the workers' logs)")
    print(
        f"refused (429/503)      {r['refused']} by uploads, {r['refused_during_check']} during"
        " the lost-job check (each waited for its Retry-After)"
    )
    print(f"errors by status       {r['errors_by_status'] or 'none'}")
    print(f"LOST JOBS              {r['lost']}")
    if r["deleted_but_still_there"]:
        print(f"DELETED YET STILL THERE {len(r['deleted_but_still_there'])}")
    if r["target"] == "local stack":
        print(
            f"CPU (% of all cores)   workers {share['workers']}, gateway {share['gateway']}, "
            f"moto S3 {share['moto_s3']}, locust {share['locust']}, janitor {share['janitor']}, "
            f"others {share['others_rabbitmq_os']}, idle {share['idle']}"
        )
    else:
        print(f"load generator CPU     locust {share['locust']} %, idle {share['idle']} %")
    others = ", ".join(f"{k} {v} s" for k, v in list(r["other_processes_cpu_seconds"].items())[:4])
    print(f"others' CPU seconds    {others or 'none'} (before: {r['background_busy_before_pct']}%)")
    if r["locust_cpu_warnings"]:
        print(f"locust warned {r['locust_cpu_warnings']} times that its own CPU was saturated")
    print("=" * 78, flush=True)
