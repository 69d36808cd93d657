"""``make loadtest``: a local distributed stack under locust, then a check that nothing was lost.

On loopback only, it starts moto's S3 server, the gateway, N workers and the janitor as
separate processes on the RabbitMQ at 127.0.0.1:5672 (a queue unique to the run, deleted at
the end), runs ``loadtest/locustfile.py`` headless for a bounded time, lets the accepted jobs
finish (bounded), and checks every 202-accepted job: it must end ``succeeded`` or ``failed``.
A job still queued or running after the drain, or a 404 for a job its client did not delete,
is *lost*; so is a job whose DELETE was answered 200 but that still answers 200. The exit
code is 1 when any is (or when nothing was accepted).

It prints accepted jobs/s, the accept latency (POST) and completion latency (upload start to
the poll that saw the job finished) percentiles, errors by HTTP status, refusals, the lost-job
count, and where the CPU went: on a small machine locust and the stack share the cores.
Everything it wrote (service logs, locust's CSV and HTML, the ledger, ``report.json``) is
under ``var/loadtest/<time>/``.

    .venv/bin/python loadtest/run.py --users 8 --duration 60 --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.jobs_support import random_keys_env  # noqa: E402
from tests.support import (  # noqa: E402
    MODEL_CACHE,
    RABBITMQ_URL,
    Service,
    delete_queues,
    free_port,
    http,
    port_open,
    s3_service_env,
    wait_http_ok,
)

LOCUSTFILE = REPO / "loadtest" / "locustfile.py"
TERMINAL = ("succeeded", "failed")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; every default keeps a run at about two to three minutes."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--users", type=int, default=8, help="journey users (closed loop); 8")
    p.add_argument(
        "--upload-only-users", type=int, default=0, help="open-loop uploaders (accept path); 0"
    )
    p.add_argument("--upload-rate", type=float, default=1.0, help="uploads/s per uploader; 1")
    p.add_argument("--spawn-rate", type=float, default=2.0, help="users started per second; 2")
    p.add_argument("--duration", type=int, default=60, help="seconds of load; 60")
    p.add_argument("--workers", type=int, default=2, help="worker processes; 2")
    p.add_argument(
        "--worker-threads",
        type=int,
        default=0,
        help="OMP_NUM_THREADS for each worker (0: torch's default, one per core)",
    )
    p.add_argument("--model", default="realesr-animevideov3", help="model; realesr-animevideov3")
    p.add_argument("--scale", type=int, default=2, help="scale; 2")
    p.add_argument("--sizes", default="48,64,96", help="image edges in pixels; 48,64,96")
    p.add_argument("--poll-interval", type=float, default=0.25, help="status poll (s); 0.25")
    p.add_argument("--no-delete", action="store_true", help="do not DELETE finished jobs")
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=90.0,
        help="after the load, give up when no job has finished for this long (s); 90",
    )
    p.add_argument("--drain-max", type=float, default=600.0, help="drain at most (s); 600")
    p.add_argument("--out", type=Path, default=None, help="output folder; var/loadtest/<time>")
    return p.parse_args(argv)


class Interrupted(Exception):
    """SIGTERM (or SIGINT) arrived: stop everything and leave."""


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM handler: unwind through ``run``'s clean-up."""
    raise Interrupted(signal.Signals(signum).name)


class LocalStack:
    """moto S3, gateway, workers and janitor as processes on loopback, like ``tests.support``."""

    def __init__(self, args: argparse.Namespace, log_dir: Path) -> None:
        self.args = args
        self.log_dir = log_dir
        self.queue = f"picupscaler-loadtest-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.moto: Service | None = None
        self.gateway: Service | None = None
        self.janitor: Service | None = None
        self.workers: list[Service] = []
        self.env: dict[str, str] = {}

    def services(self) -> dict[str, Service]:
        """The running services by name."""
        named = {"moto": self.moto, "gateway": self.gateway, "janitor": self.janitor}
        found = {k: v for k, v in named.items() if v is not None}
        found.update({w.name: w for w in self.workers})
        return found

    def start(self) -> None:
        """Start everything and wait until the gateway is ready and every worker loaded."""
        if not port_open("127.0.0.1", 5672):
            raise SystemExit("RabbitMQ is not reachable on 127.0.0.1:5672 (start it first)")
        s3_port = free_port()
        self.moto = Service(
            "moto", ["-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)], {}, self.log_dir
        )
        wait_http_ok(f"http://127.0.0.1:{s3_port}/moto-api/", 60, self.moto)
        self.env = {
            **s3_service_env(f"127.0.0.1:{s3_port}"),
            "BROKER_BACKEND": "rabbitmq",
            "BROKER_URL": RABBITMQ_URL,
            "BROKER_QUEUE": self.queue,
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(self.port),
            "GATEWAY_RATE_LIMIT_PER_MINUTE": "0",
            "CRYPTO_KEYS": random_keys_env(),
            "WORKER_PRELOAD": json.dumps([f"{self.args.model}:{self.args.scale}"]),
            "WORKER_MODEL_CACHE_DIR": str(MODEL_CACHE),
            "WORKER_DEVICE": "cpu",
            "JANITOR_INTERVAL_SECONDS": "30",
            "LOG_FORMAT": "json",
        }
        self.gateway = Service("gateway", ["-m", "gateway"], self.env, self.log_dir)
        self.janitor = Service("janitor", ["-m", "janitor"], self.env, self.log_dir)
        worker_env = dict(self.env)
        if self.args.worker_threads > 0:
            threads = str(self.args.worker_threads)
            worker_env |= {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        for i in range(self.args.workers):
            self.workers.append(
                Service(f"worker-{i + 1}", ["-m", "worker"], worker_env, self.log_dir)
            )
        wait_http_ok(f"{self.base}/readyz", 120, self.gateway)
        for worker in self.workers:
            worker.wait_for_log("worker_ready", 300)

    def stop(self) -> None:
        """Stop every process (gateway first, S3 last) and delete the run's queues."""
        for service in [self.gateway, *self.workers, self.janitor, self.moto]:
            if service is not None:
                with contextlib.suppress(Exception):
                    service.stop()
        with contextlib.suppress(Exception):
            delete_queues(RABBITMQ_URL, self.queue)


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


def own_pids(services: dict[str, Service]) -> set[int]:
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
class Job:
    """One accepted job as the ledger and the drain saw it."""

    id: str
    token: str
    started: float
    status: str | None = None
    latency_ms: float | None = None
    delete_sent: bool = False
    deleted: bool = False
    vanished: bool = False
    drained: bool = False


@dataclass
class LedgerView:
    """What the locust users recorded (``LOADTEST_LEDGER``)."""

    jobs: dict[str, Job] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    cpu_warnings: int = 0
    window: tuple[float, float] | None = None


def read_ledger(path: Path) -> LedgerView:
    """Parse the JSON-lines ledger the locust process wrote."""
    view = LedgerView()
    start = stop = None
    if not path.exists():
        return view
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut by a hard stop
        kind = rec["e"]
        if kind == "test_start":
            start = rec["t"]
        elif kind == "test_stop":
            stop = rec["t"]
        elif kind == "req":
            view.requests.append(rec)
        elif kind == "refused":
            view.refused += 1
        elif kind == "cpu_warning":
            view.cpu_warnings += 1
        elif kind == "accepted":
            view.jobs[rec["id"]] = Job(rec["id"], rec["token"], rec["started"])
        elif (job := view.jobs.get(rec.get("id", ""))) is not None:
            if kind == "finished":
                job.status, job.latency_ms = rec["status"], rec["latency_ms"]
            elif kind == "delete_sent":
                job.delete_sent = True
            elif kind == "deleted":
                job.deleted = True
            elif kind == "vanished":
                job.vanished = True
    if start is not None and stop is not None:
        view.window = (start, stop)
    return view


def job_state(base: str, job: Job) -> tuple[int, str | None, bytes]:
    """GET a job's status with its token: (HTTP status, job status or None, body)."""
    code, _, raw = http(
        "GET", f"{base}/v1/jobs/{job.id}", headers={"Authorization": f"Bearer {job.token}"}
    )
    status = None
    if code == 200:
        with contextlib.suppress(ValueError, AttributeError):
            status = json.loads(raw).get("status")
    return code, status, raw


def drain_and_check(
    base: str, jobs: dict[str, Job], stall_timeout: float, max_drain: float
) -> tuple[dict[str, str], list[str]]:
    """Wait for unfinished jobs, then verify every accepted one.

    Returns ({job id: why it is lost}, [jobs whose DELETE was answered 200 yet still exist]).
    The drain goes on while jobs keep finishing; it gives up when none has finished for
    ``stall_timeout`` seconds, or after ``max_drain``. A job must answer 200 with a finished
    status, or 404 if its client sent DELETE (a DELETE cut off by the end of the test may not
    have arrived: the job then still exists, which is fine). Drained jobs get a completion
    latency from this poll (its grain: one round over the pending jobs, 0.25 s or more).
    """
    lost: dict[str, str] = {}
    pending = {j.id for j in jobs.values() if j.status is None and not j.delete_sent}
    hard_deadline = time.monotonic() + max_drain
    last_progress = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        while pending:
            batch = sorted(pending)
            for job_id, (code, status, _) in zip(
                batch, pool.map(lambda i: job_state(base, jobs[i]), batch), strict=True
            ):
                job = jobs[job_id]
                if status in TERMINAL:
                    job.status, job.drained = status, True
                    job.latency_ms = (time.time() - job.started) * 1000
                    pending.discard(job_id)
                    last_progress = time.monotonic()
                elif code == 404:
                    lost[job_id] = "404 for an accepted job that its client did not delete"
                    pending.discard(job_id)
            now = time.monotonic()
            if not pending or now - last_progress > stall_timeout or now > hard_deadline:
                break
            time.sleep(0.25)
    for job_id in pending:
        lost[job_id] = (
            f"not finished: no job finished for {stall_timeout:.0f} s (or {max_drain:.0f} s passed)"
        )
    # A final look at every other job: still finished, or gone if its client deleted it.
    undeleted: list[str] = []
    rest = [j for j in jobs.values() if j.id not in lost and not j.drained]
    with ThreadPoolExecutor(max_workers=4) as pool:
        states = list(pool.map(lambda j: job_state(base, j), rest))
    for job, (code, status, raw) in zip(rest, states, strict=True):
        if code == 404:
            if not job.delete_sent:
                lost[job.id] = "404 for an accepted job that its client did not delete"
        elif status in TERMINAL:
            if job.deleted:
                undeleted.append(job.id)
        else:
            lost[job.id] = f"final check answered {code} {raw[:120]!r}"
    return lost, undeleted


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


def run(args: argparse.Namespace) -> int:
    """Start the stack, load it, drain, check, report; the exit code."""
    out = args.out or REPO / "var" / "loadtest" / datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    ledger_path = out / "ledger.jsonl"
    stack = LocalStack(args, out)
    locust: subprocess.Popen[bytes] | None = None
    print(f"loadtest: output in {out}", flush=True)
    try:
        background = background_busy_pct()
        print(
            f"loadtest: the machine was {background:.0f}% busy before the run "
            "(others' load skews every figure)",
            flush=True,
        )
        t0 = time.monotonic()
        stack.start()
        print(
            f"loadtest: stack ready in {time.monotonic() - t0:.1f} s on {stack.base} "
            f"({args.workers} workers, queue {stack.queue})",
            flush=True,
        )
        classes = ["JourneyUser"] if args.users > 0 else []
        classes += ["UploadOnlyUser"] if args.upload_only_users > 0 else []
        users = args.users + args.upload_only_users
        locust_env = {
            **os.environ,
            "LOADTEST_MODEL": args.model,
            "LOADTEST_SCALE": str(args.scale),
            "LOADTEST_SIZES": args.sizes,
            "LOADTEST_POLL_INTERVAL": str(args.poll_interval),
            "LOADTEST_DELETE": "0" if args.no_delete else "1",
            "LOADTEST_UPLOAD_RATE": str(args.upload_rate),
            "LOADTEST_LEDGER": str(ledger_path),
        }
        cmd = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
            "-u", str(users), "-r", str(args.spawn_rate), "-t", f"{args.duration}s",
            "--host", stack.base, "--csv", str(out / "locust"), "--html", str(out / "locust.html"),
            "--only-summary", "--exit-code-on-error", "0", "--stop-timeout", "0",
        ]  # fmt: skip
        if args.users > 0 and args.upload_only_users > 0:
            # Locust spreads users by class weight; fixed counts keep the mix as asked.
            locust_env["LOADTEST_JOURNEY_USERS"] = str(args.users)
            locust_env["LOADTEST_UPLOAD_ONLY_USERS"] = str(args.upload_only_users)
        cmd += classes
        services = stack.services()
        cpu_before = {name: process_cpu_seconds(s.proc.pid) for name, s in services.items()}
        procs_before = all_process_cpu()
        busy_before, rusage_before = system_busy_seconds(), children_rusage_seconds()
        wall_before = time.monotonic()
        locust = subprocess.Popen(cmd, cwd=REPO, env=locust_env)
        procs_after = dict(procs_before)
        deadline = time.monotonic() + args.duration + 90
        while locust.poll() is None:
            if time.monotonic() > deadline:
                print("loadtest: locust overran its time; stopping it", flush=True)
                locust.terminate()
                locust.wait(timeout=30)
                break
            # Sampled every 2 s so that others' processes that end in between still count.
            procs_after |= all_process_cpu()
            with contextlib.suppress(subprocess.TimeoutExpired):
                locust.wait(timeout=2)
        wall = time.monotonic() - wall_before
        cpu = {n: process_cpu_seconds(s.proc.pid) - cpu_before[n] for n, s in services.items()}
        cpu["locust"] = children_rusage_seconds() - rusage_before
        busy = system_busy_seconds() - busy_before
        locust_pid = locust.pid
        procs_after = {
            p: v for p, v in (procs_after | all_process_cpu()).items() if p != locust_pid
        }
        others = others_cpu(procs_before, procs_after, own_pids(services))

        view = read_ledger(ledger_path)
        unfinished = sum(j.status is None for j in view.jobs.values())
        print(
            f"loadtest: load stopped; draining {unfinished} unfinished jobs "
            f"(until none finishes for {args.drain_timeout:.0f} s, at most {args.drain_max:.0f} s)",
            flush=True,
        )
        t_drain = time.monotonic()
        lost, undeleted = drain_and_check(stack.base, view.jobs, args.drain_timeout, args.drain_max)
        drain_s = time.monotonic() - t_drain
        worker_log = read_worker_logs([w.log_path for w in stack.workers])
        report = build_report(args, view, worker_log, lost, cpu, busy, wall, drain_s)
        assert stack.gateway is not None
        report["accept_latency_in_gateway_ms"] = pcts(gateway_accept_ms(stack.gateway.log_path))
        report["deleted_but_still_there"] = undeleted
        report["background_busy_before_pct"] = round(background, 1)
        report["other_processes_cpu_seconds"] = {k: round(v, 1) for k, v in others.items()}
        (out / "report.json").write_text(json.dumps(report, indent=2))
        print_report(report)
        if lost:
            for job_id, why in sorted(lost.items())[:20]:
                print(f"  LOST {job_id}: {why}")
        for job_id in undeleted:
            print(f"  NOT DELETED {job_id}: DELETE answered 200, the job still answers 200")
        return 1 if lost or undeleted or not view.jobs else 0
    except (Interrupted, KeyboardInterrupt) as exc:
        print(f"\nloadtest: interrupted ({str(exc) or 'SIGINT'}); stopping the stack", flush=True)
        return 130
    finally:
        if locust is not None and locust.poll() is None:
            locust.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                locust.wait(timeout=15)
            if locust.poll() is None:
                locust.kill()
        stack.stop()
        print(f"loadtest: stack stopped, queues deleted; files in {out}", flush=True)


def build_report(
    args: argparse.Namespace,
    view: LedgerView,
    worker_log: WorkerLog,
    lost: dict[str, str],
    cpu: dict[str, float],
    busy: float,
    wall: float,
    drain_s: float,
) -> dict[str, Any]:
    """Every figure the run printed, as a dict (also written to report.json)."""
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
    return {
        "machine": {"cpu": cpu_model(), "cores": cores, "gpu": "none (CPU inference)"},
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
    print()
    print("=" * 78)
    print(
        f"PicUpscaler load test: {s['workers']} workers, {s['users']} journey users"
        f" + {s['upload_only_users']} upload-only, spawn {s['spawn_rate']}/s, {s['duration_s']} s,"
        f" {s['model']} x{s['scale']}, PNG {s['sizes']} px"
    )
    m = r["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['gpu']}")
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
    print(f"refused (Retry-After)  {r['refused']}")
    print(f"errors by status       {r['errors_by_status'] or 'none'}")
    print(f"LOST JOBS              {r['lost']}")
    if r["deleted_but_still_there"]:
        print(f"DELETED YET STILL THERE {len(r['deleted_but_still_there'])}")
    print(
        f"CPU (% of all cores)   workers {share['workers']}, gateway {share['gateway']}, "
        f"moto S3 {share['moto_s3']}, locust {share['locust']}, janitor {share['janitor']}, "
        f"others {share['others_rabbitmq_os']}, idle {share['idle']}"
    )
    others = ", ".join(f"{k} {v} s" for k, v in list(r["other_processes_cpu_seconds"].items())[:4])
    print(f"others' CPU seconds    {others or 'none'} (before: {r['background_busy_before_pct']}%)")
    if r["locust_cpu_warnings"]:
        print(f"locust warned {r['locust_cpu_warnings']} times that its own CPU was saturated")
    print("=" * 78, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
