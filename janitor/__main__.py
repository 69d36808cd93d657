"""``python -m janitor``: the expiry loop, one sweep, the operator's report, audit checks, purge.

python -m janitor [run]                       sweep every JANITOR_INTERVAL_SECONDS
python -m janitor sweep                       one sweep, then exit (non-zero on failures)
python -m janitor report [--json]             oldest object, deletions, audit status
python -m janitor verify-audit [--incremental] [--save-state] [--json]
                                              check the audit chains against their anchors:
                                              exit 0 verified, 1 evidence of tampering,
                                              2 could not verify (storage, anchor, keys)
python -m janitor audit-public-keys           the public keys of this process's audit signing
                                              keys, as AUDIT_VERIFY_KEYS lines for auditors
python -m janitor audit-keygen [--key-id ID]  a new audit signing key (for a Secret) and its
                                              public key (for AUDIT_VERIFY_KEYS)
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
from shared import audit, ids
from shared.audit.signing import parse_key_lines
from shared.errors import StorageUnavailable
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
    verify = sub.add_parser("verify-audit", help="verify the audit log against its anchors")
    verify.add_argument(
        "--incremental", action="store_true", help="start where the last saved verification ended"
    )
    verify.add_argument(
        "--save-state", action="store_true", help="sign and save where this verification ends"
    )
    verify.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_parser("audit-public-keys", help="print the public audit keys of this process")
    keygen = sub.add_parser("audit-keygen", help="make a new audit signing key")
    keygen.add_argument("--key-id", default=None, help="its key id (default: random)")
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
    if command == "audit-keygen":
        return _keygen(args.key_id)
    if command == "audit-public-keys":
        return _public_keys(settings)
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
        return _verify(janitor, args)
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
    try:
        janitor.check_audit_anchor()
    except audit.AnchorUnprotected as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: janitor.stop())
    janitor.run()
    return 0


def _verify(janitor: Janitor, args: argparse.Namespace) -> int:
    if not len(audit.current_config().verify_keys):
        print("audit log NOT VERIFIED: no public key (AUDIT_VERIFY_KEYS)", file=sys.stderr)
        return 2
    try:
        result = janitor.verify_audit(incremental=args.incremental, save_state=args.save_state)
    except (StorageUnavailable, ValueError) as exc:
        print(f"audit log NOT VERIFIED: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                {
                    "verified": result.ok,
                    "full": result.full,
                    "chains": result.chains,
                    "records_checked": result.records,
                    "records_summarised": result.summarised,
                    "findings": [
                        {"code": f.code, "where": f.where, "detail": f.detail}
                        for f in result.findings
                    ],
                    "warnings": result.warnings,
                    "anchored_seq": result.anchored_seq,
                    "anchor": result.anchor.where if result.anchor else None,
                    "seconds": round(result.seconds, 3),
                },
                indent=2,
            )
        )
    else:
        for finding in result.findings:
            print(f"PROBLEM  {finding}")
        for warning in result.warnings:
            print(f"note     {warning}")
        status = "verified" if result.ok else "BROKEN"
        kind = "full" if result.full else "incremental"
        print(
            f"audit log {status} ({kind}): {result.chains} chains, {result.records} records "
            f"checked, {result.summarised} in summaries, anchor: "
            f"{result.anchor.where if result.anchor else '?'}"
        )
    return 0 if result.ok else 1


def _public_keys(settings: JanitorSettings) -> int:
    signer = audit.SigningKeys.from_settings(settings.audit)
    if signer is None:
        print("no audit signing key configured", file=sys.stderr)
        return 2
    for line in audit.VerifyKeys(signer.public_keys()).lines():
        print(line)
    return 0


def _keygen(key_id: str | None) -> int:
    line = audit.new_signing_key_line(key_id)
    signer = audit.SigningKeys(parse_key_lines(line, what="new key"))
    print(f"AUDIT_SIGNING_KEYS (secret, for the service):  {line}")
    for public in audit.VerifyKeys(signer.public_keys()).lines():
        print(f"AUDIT_VERIFY_KEYS  (public, for verifiers):    {public}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
