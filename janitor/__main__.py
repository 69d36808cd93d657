"""``python -m janitor``: the expiry loop, one sweep, the operator's report, audit checks, purge.

python -m janitor [run]                       sweep every JANITOR_INTERVAL_SECONDS
python -m janitor sweep                       one sweep, then exit (non-zero on failures)
python -m janitor report [--json]             oldest object, deletions, audit status
python -m janitor verify-audit                check the audit hash chains (non-zero if broken)
python -m janitor purge JOB_ID --reason TEXT  delete a job now (audit-logged; shows nothing)
"""

from __future__ import annotations

import argparse
import json
import signal
import sys

from prometheus_client import start_http_server

from janitor.service import Janitor
from janitor.settings import JanitorSettings
from shared import ids
from shared.logging import configure_logging


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m janitor",
        description="Deletes expired jobs and proves it.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="sweep every JANITOR_INTERVAL_SECONDS until stopped (default)")
    sub.add_parser("sweep", help="one sweep, then exit")
    report = sub.add_parser("report", help="print the deletion report")
    report.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_parser("verify-audit", help="verify the audit log's hash chains")
    purge = sub.add_parser("purge", help="delete one job now, audit-logged")
    purge.add_argument("job_id")
    purge.add_argument("--reason", required=True, help="why (kept in the audit record)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run it."""
    args = _parser().parse_args(argv)
    command = args.command or "run"
    settings = JanitorSettings()
    configure_logging("janitor", settings.log)
    janitor = Janitor(settings)
    if command == "sweep":
        return 1 if janitor.sweep_once().failed_keys else 0
    if command == "report":
        report = janitor.report()
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            for key, value in report.items():
                print(f"{key:36} {value}")
        ok = report["audit_chain_verified"] and not report["objects_past_expiry_still_stored"]
        return 0 if ok else 1
    if command == "verify-audit":
        result = janitor.verify_audit()
        for problem in result.problems:
            print(f"PROBLEM  {problem}")
        status = "verified" if result.ok else "BROKEN"
        print(f"audit log {status}: {result.chains} chains, {result.records} records")
        return 0 if result.ok else 1
    if command == "purge":
        if ids.created_at(args.job_id) is None:
            print(f"not a job id: {args.job_id!r}", file=sys.stderr)
            return 2
        record = janitor.purge(args.job_id, args.reason)
        if record is None:
            print(f"no job {args.job_id} to delete (gone, or being deleted)", file=sys.stderr)
            return 1
        print(
            json.dumps(
                {
                    "job_id": args.job_id,
                    "objects_deleted": len(record.objects),
                    "audit": record.hash,
                }
            )
        )
        return 0
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: janitor.stop())
    janitor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
