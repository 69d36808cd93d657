"""The audit log at 1 million records: verification (full, incremental), sweep, compaction.

    python bench/audit_history.py [--records 1000000] [--dir var/bench-audit] [--keep]

Writes a history of ``--records`` records with the real writers (local backend, anchor file):
janitor chains in segments of 100 records (one sweep batch each) and gateway chains of
single-record segments (one user deletion each), timed over the last 120 days. Then each phase
runs in its own child process, so its peak RSS is its own, and prints one JSON line:

- ``verify-full``: every segment and the whole anchor file (what ``verify-audit`` does);
- ``verify-incremental``: from the saved state, after 1,000 more records were appended
  (what the janitor's maintenance thread does every pass);
- ``sweep``: one sweep deleting 200 expired jobs, with the 1 M history in the audit bucket and,
  alternating, with an empty one (the sweep must not depend on history);
- ``report``: the operator's 24-hour report;
- ``compact``: records past 90 days folded into summaries, then ``verify-full`` again.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

KEY = "bench-audit:" + base64.b64encode(b"\x42" * 32).decode()
NOW = datetime.now(UTC).replace(microsecond=0)
HISTORY_DAYS = 120


def _setup(root: Path, bucket: str = "audit"):  # type: ignore[no-untyped-def]
    """The audit store (``bucket`` names the jobs store): a directory under ``root``, or with
    ``--s3`` buckets named after ``root`` on the S3 endpoint."""
    from shared import audit
    from shared.settings import StorageSettings
    from shared.storage import open_store

    audit.configure(audit.AuditSettings(signing_keys=KEY))
    settings = StorageSettings(local_dir=root / "storage")
    if settings.backend == "s3":
        bucket = f"{root.name}-{bucket}".lower().replace("_", "-")
    store = open_store(settings, bucket)
    store.ensure_bucket()
    return store


def _deletion(n: int, when: datetime, service: str):  # type: ignore[no-untyped-def]
    from shared.audit import DeletedObject, Deletion

    job = f"{n:032x}"
    return Deletion(
        time=when,
        job_id=job,
        reason="expired" if service == "janitor" else "user_request",
        service=service,
        age_seconds=86000.0,
        objects=[
            DeletedObject(key=f"jobs/2026/01/01/00/{job}/manifest.json", bytes=900),
            DeletedObject(key=f"jobs/2026/01/01/00/{job}/input", bytes=2_400_000),
            DeletedObject(key=f"jobs/2026/01/01/00/{job}/result", bytes=31_000_000),
        ],
    )


def generate(root: Path, records: int) -> dict:
    """Write the history with the real writers."""
    from shared.audit import AuditLog

    store = _setup(root)
    gateway_records = min(10_000, records // 100)
    janitor_records = records - gateway_records
    step = timedelta(days=HISTORY_DAYS) / max(records, 1)
    janitors = [AuditLog(store, service="janitor") for _ in range(4)]
    gateways = [AuditLog(store, service="gateway") for _ in range(5)]
    n = 0
    for batch in range(janitor_records // 100):
        when = NOW - timedelta(days=HISTORY_DAYS) + step * n
        janitors[batch % 4].append([_deletion(n + i, when, "janitor") for i in range(100)])
        n += 100
    for i in range(gateway_records):
        when = NOW - timedelta(days=HISTORY_DAYS) + step * (i * 100)
        gateways[i % 5].append([_deletion(n, when, "gateway")])
        n += 1
    return {"records": n, "janitor_segments": janitor_records // 100, "gateway": gateway_records}


def verify_full(root: Path, save: bool) -> dict:
    from shared import audit

    store = _setup(root)
    config = audit.current_config()
    cpu = time.process_time()
    report = audit.verify(store, save_state_with=config.signer if save else None)
    assert report.ok, report.problems[:5]
    return {
        "records_checked": report.records,
        "summarised": report.summarised,
        "chains": report.chains,
        "verify_seconds": report.seconds,
        "verify_cpu": time.process_time() - cpu,
    }


def append_more(root: Path) -> dict:
    from shared.audit import AuditLog

    store = _setup(root)
    log = AuditLog(store, service="janitor")
    for batch in range(10):
        log.append([_deletion(10**9 + batch * 100 + i, NOW, "janitor") for i in range(100)])
    return {"appended": 1000}


def verify_incremental(root: Path) -> dict:
    from shared import audit

    store = _setup(root)
    config = audit.current_config()
    cpu = time.process_time()
    report = audit.verify(store, incremental=True, save_state_with=config.signer)
    assert report.ok and not report.full, report.problems[:5]
    return {
        "records_checked": report.records,
        "chains": report.chains,
        "verify_seconds": report.seconds,
        "verify_cpu": time.process_time() - cpu,
    }


def sweep_once(root: Path, jobs: int = 200) -> dict:
    """One sweep deleting ``jobs`` expired jobs (the audit bucket as it is under ``root``)."""
    from janitor.sweep import sweep
    from shared import ids, keys

    audit_store = _setup(root)
    store = _setup(root, "jobs")
    store.delete_many([info.key for info in store.list("jobs/")])
    created = NOW - timedelta(hours=30)
    for n in range(jobs):
        job_id = ids.new_job_id(int(created.timestamp() * 1000) + n)
        for name in (keys.MANIFEST, keys.INPUT, keys.RESULT):
            store.put(keys.job_key(job_id, name), b"x" * 64)
    started, cpu = time.perf_counter(), time.process_time()
    result = sweep(store, audit_store, expiry=timedelta(hours=24), now=NOW)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert result.jobs_deleted == jobs
    return {"jobs_deleted": result.jobs_deleted, "sweep_seconds": seconds, "sweep_cpu": cpu}


def report(root: Path) -> dict:
    from shared import audit

    store = _setup(root)
    started = time.perf_counter()
    recent = sum(1 for _ in audit.read_recent_records(store, NOW - timedelta(hours=24)))
    return {"recent_records": recent, "report_read_seconds": time.perf_counter() - started}


def compact(root: Path) -> dict:
    from shared import audit

    store = _setup(root)
    config = audit.current_config()
    assert config.signer is not None
    result = audit.compact(
        store, retention=timedelta(days=90), signer=config.signer, keys=config.verify_keys
    )
    return {
        "records_summarised": result.records_summarised,
        "objects_deleted": result.objects_deleted,
        "chains": result.chains_compacted,
    }


PHASES = {
    "generate": lambda root, args: generate(root, args.records),
    "verify-full": lambda root, args: verify_full(root, save=False),
    "verify-full-save": lambda root, args: verify_full(root, save=True),
    "append": lambda root, args: append_more(root),
    "verify-incremental": lambda root, args: verify_incremental(root),
    "sweep": lambda root, args: sweep_once(root),
    "report": lambda root, args: report(root),
    "compact": lambda root, args: compact(root),
}


def child(phase: str, root: Path, args: argparse.Namespace) -> None:
    """Run one phase in this process and print its JSON line."""
    started = time.perf_counter()
    out = PHASES[phase](root, args)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.update(
        phase=phase,
        seconds=round(time.perf_counter() - started, 3),
        # CPU time of the whole child (imports included): on a shared machine the wall
        # clock says more about the neighbours than about this code.
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 3),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
    )
    print(json.dumps(out))


def run(phase: str, root: Path, args: argparse.Namespace) -> dict:
    """Run a phase in a child process; return its JSON line."""
    cmd = [
        sys.executable,
        __file__,
        "--child",
        phase,
        "--dir",
        str(root),
        "--records",
        str(args.records),
    ]
    done = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "LOG_LEVEL": "WARNING"}, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{done.stderr[-3000:]}")
    line = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(line), flush=True)
    return line


def main() -> None:
    """Generate the history, then run and print every phase."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=ROOT / "var" / "bench-audit")
    parser.add_argument("--keep", action="store_true", help="reuse an existing history")
    parser.add_argument("--s3", action="store_true", help="on moto's S3 server, not a directory")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = args.dir.resolve()
    if args.child:
        child(args.child, root, args)
        return
    if args.s3:
        _start_moto(root)
    empty = root.with_name(root.name + "-empty")
    shutil.rmtree(empty, ignore_errors=True)
    if args.s3 or not (args.keep and (root / "storage").exists()):
        shutil.rmtree(root, ignore_errors=True)
        run("generate", root, args)
    if not args.s3:
        size = sum(f.stat().st_size for f in (root / "storage").rglob("*") if f.is_file())
        print(json.dumps({"history_bytes_on_disk": size}), flush=True)
    run("verify-full", root, args)
    run("verify-full-save", root, args)
    run("append", root, args)
    run("verify-incremental", root, args)
    with_history, without = [], []
    for _ in range(3):  # alternate, so background load hits both alike
        with_history.append(run("sweep", root, args))
        without.append(run("sweep", empty, args))
    summary = {}
    for what in ("sweep_seconds", "sweep_cpu"):
        full = statistics.median(r[what] for r in with_history)
        bare = statistics.median(r[what] for r in without)
        summary[what] = {
            "with_history": round(full, 3),
            "empty_audit": round(bare, 3),
            "ratio": round(full / bare, 2),
        }
    print(json.dumps({"sweep_median": summary}), flush=True)
    run("report", root, args)
    run("compact", root, args)
    run("verify-full", root, args)


def _start_moto(root: Path) -> None:
    """Start moto's S3 server for this run and point the children at it (STORAGE_*)."""
    import atexit
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(server.terminate)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    os.environ.update(
        STORAGE_BACKEND="s3",
        STORAGE_ENDPOINT=f"127.0.0.1:{port}",
        STORAGE_SECURE="false",
        STORAGE_ACCESS_KEY="testing",
        STORAGE_SECRET_KEY="testing",
        STORAGE_REGION="us-east-1",
    )


if __name__ == "__main__":
    main()
