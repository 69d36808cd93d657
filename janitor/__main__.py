"""``python -m janitor [run|sweep]``: the expiry loop, or one sweep (for cron or by hand)."""

from __future__ import annotations

import argparse
import signal
import sys

from prometheus_client import start_http_server

from janitor.service import Janitor
from janitor.settings import JanitorSettings
from shared.logging import configure_logging


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run it."""
    parser = argparse.ArgumentParser(prog="python -m janitor", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="run",
        choices=["run", "sweep"],
        help="run: sweep every JANITOR_INTERVAL_SECONDS until stopped (default); "
        "sweep: one sweep, then exit",
    )
    args = parser.parse_args(argv)
    settings = JanitorSettings()
    configure_logging("janitor", settings.log)
    janitor = Janitor(settings)
    if args.command == "sweep":
        result = janitor.sweep_once()
        return 1 if result.failed_keys else 0
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: janitor.stop())
    janitor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
