"""``make loadtest``: load PicUpscaler with locust, then check through the API that no
accepted job was lost.

Two modes:

* ``--host https://picupscaler.example.org``: a deployed service, anywhere. Nothing is
  started; the load and the lost-job check use only the public API (each job's own token).
* no ``--host``: a local distributed stack on loopback (``loadtest/local_stack.py``: moto S3,
  the gateway, N workers, the janitor and the queue exporter as separate processes, on the
  RabbitMQ at 127.0.0.1:5672 with a queue unique to the run, deleted at the end).

It runs ``loadtest/locustfile.py`` headless for a bounded time, lets the accepted jobs finish
(bounded), and checks every 202-accepted job (``loadtest/lost_jobs.py``): it must end
``succeeded`` or ``failed``. A job still queued or running after the drain, or a 404 for a job
its client did not delete, is *lost*; so is a job whose DELETE was answered 200 but that still
answers 200. 429 and 503 are refusals: their Retry-After is honoured, by the users and by the
check. The exit code is 1 when any job is lost (or nothing was accepted).

It prints accepted jobs/s, accept and completion latency percentiles, errors by status,
refusals, the lost-job count and (local stack) where the CPU went. Everything it wrote
(service logs, locust's CSV and HTML, the ledger, ``report.json``) is under
``var/loadtest/<time>/``. It needs nothing from ``tests/``.

    .venv/bin/python loadtest/run.py --host https://picupscaler.example.org --users 4
    .venv/bin/python loadtest/run.py --users 8 --duration 60 --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from types import FrameType

from local_stack import LocalStack, Process
from lost_jobs import drain_and_check, read_ledger
from report import (
    WorkerLog,
    all_process_cpu,
    background_busy_pct,
    build_report,
    children_rusage_seconds,
    gateway_accept_ms,
    others_cpu,
    own_pids,
    pcts,
    print_report,
    process_cpu_seconds,
    read_worker_logs,
    system_busy_seconds,
)

REPO = Path(__file__).resolve().parents[1]
LOCUSTFILE = REPO / "loadtest" / "locustfile.py"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; every default keeps a run at about two to three minutes."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--host",
        default=None,
        help="URL of a deployed service to load (https://…); none: start a local stack",
    )
    p.add_argument("--users", type=int, default=8, help="journey users (closed loop); 8")
    p.add_argument(
        "--upload-only-users", type=int, default=0, help="open-loop uploaders (accept path); 0"
    )
    p.add_argument("--upload-rate", type=float, default=1.0, help="uploads/s per uploader; 1")
    p.add_argument("--spawn-rate", type=float, default=2.0, help="users started per second; 2")
    p.add_argument("--duration", type=int, default=60, help="seconds of load; 60")
    p.add_argument("--workers", type=int, default=2, help="local stack: worker processes; 2")
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


def locust_command(
    args: argparse.Namespace, base: str, out: Path
) -> tuple[list[str], dict[str, str]]:
    """The locust command line and its environment."""
    ledger = out / "ledger.jsonl"
    env = {
        **os.environ,
        "LOADTEST_MODEL": args.model,
        "LOADTEST_SCALE": str(args.scale),
        "LOADTEST_SIZES": args.sizes,
        "LOADTEST_POLL_INTERVAL": str(args.poll_interval),
        "LOADTEST_DELETE": "0" if args.no_delete else "1",
        "LOADTEST_UPLOAD_RATE": str(args.upload_rate),
        "LOADTEST_LEDGER": str(ledger),
    }
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "-u", str(args.users + args.upload_only_users), "-r", str(args.spawn_rate),
        "-t", f"{args.duration}s", "--host", base,
        "--csv", str(out / "locust"), "--html", str(out / "locust.html"),
        "--only-summary", "--exit-code-on-error", "0", "--stop-timeout", "0",
    ]  # fmt: skip
    if args.users > 0 and args.upload_only_users > 0:
        # Locust spreads users by class weight; fixed counts keep the mix as asked.
        env["LOADTEST_JOURNEY_USERS"] = str(args.users)
        env["LOADTEST_UPLOAD_ONLY_USERS"] = str(args.upload_only_users)
    cmd += ["JourneyUser"] if args.users > 0 else []
    cmd += ["UploadOnlyUser"] if args.upload_only_users > 0 else []
    return cmd, env


def run(args: argparse.Namespace) -> int:
    """Start the stack (unless --host), load, drain, check, report; the exit code."""
    out = args.out or REPO / "var" / "loadtest" / datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    stack = None
    if args.host is None:
        stack = LocalStack(
            workers=args.workers,
            model=args.model,
            scale=args.scale,
            worker_threads=args.worker_threads,
            log_dir=out,
        )
    locust: subprocess.Popen[bytes] | None = None
    print(f"loadtest: output in {out}", flush=True)
    try:
        background = background_busy_pct()
        print(
            f"loadtest: this machine was {background:.0f}% busy before the run "
            "(others' load skews every figure)",
            flush=True,
        )
        if stack is not None:
            t0 = time.monotonic()
            stack.start()
            base = stack.base
            print(
                f"loadtest: stack ready in {time.monotonic() - t0:.1f} s on {base} "
                f"({args.workers} workers, queue {stack.queue})",
                flush=True,
            )
        else:
            base = args.host.rstrip("/")
            print(f"loadtest: loading {base}", flush=True)
        services: dict[str, Process] = stack.processes if stack is not None else {}
        cmd, env = locust_command(args, base, out)
        cpu_before = {name: process_cpu_seconds(s.proc.pid) for name, s in services.items()}
        procs_before = all_process_cpu()
        busy_before, rusage_before = system_busy_seconds(), children_rusage_seconds()
        wall_before = time.monotonic()
        locust = subprocess.Popen(cmd, cwd=REPO, env=env)
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
        procs_after = {
            p: v for p, v in (procs_after | all_process_cpu()).items() if p != locust.pid
        }
        others = others_cpu(procs_before, procs_after, own_pids(services))

        view = read_ledger(out / "ledger.jsonl")
        unfinished = sum(j.status is None for j in view.jobs.values())
        print(
            f"loadtest: load stopped; draining {unfinished} unfinished jobs "
            f"(until none finishes for {args.drain_timeout:.0f} s, at most {args.drain_max:.0f} s)",
            flush=True,
        )
        t_drain = time.monotonic()
        check = drain_and_check(base, view.jobs, args.drain_timeout, args.drain_max)
        drain_s = time.monotonic() - t_drain
        worker_log = read_worker_logs([w.log_path for w in stack.workers]) if stack else WorkerLog()
        report = build_report(
            args, view, worker_log, check.lost, cpu, busy, wall, drain_s, target=args.host
        )
        gateway_log = services["gateway"].log_path if "gateway" in services else None
        report["accept_latency_in_gateway_ms"] = pcts(
            gateway_accept_ms(gateway_log) if gateway_log else []
        )
        report["deleted_but_still_there"] = check.undeleted
        report["refused_during_check"] = check.refusals
        report["background_busy_before_pct"] = round(background, 1)
        report["other_processes_cpu_seconds"] = {k: round(v, 1) for k, v in others.items()}
        (out / "report.json").write_text(json.dumps(report, indent=2))
        print_report(report)
        for job_id, why in sorted(check.lost.items())[:20]:
            print(f"  LOST {job_id}: {why}")
        for job_id in check.undeleted:
            print(f"  NOT DELETED {job_id}: DELETE answered 200, the job still answers 200")
        return 1 if check.lost or check.undeleted or not view.jobs else 0
    except (Interrupted, KeyboardInterrupt) as exc:
        print(f"\nloadtest: interrupted ({str(exc) or 'SIGINT'}); stopping", flush=True)
        return 130
    finally:
        if locust is not None and locust.poll() is None:
            locust.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                locust.wait(timeout=15)
            if locust.poll() is None:
                locust.kill()
        if stack is not None:
            stack.stop()
            print(f"loadtest: stack stopped, queues deleted; files in {out}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
