"""Failpoints: named moments at which a test can hold a running process, deterministically.

The job lifecycle's promises are about races (a deletion while a worker writes), and a race
proved by a ``sleep`` that happens to land in the window proves nothing. So the code names its
dangerous moments (``failpoint("worker.result_written")``) and a test can stop a process
exactly there, act (delete the job), and let it go on, the way etcd's ``gofail`` and TiKV's
``fail-rs`` do. A failpoint is inert unless ``PICUPSCALER_FAILPOINTS_DIR`` is set in the
process's environment; production never sets it, and an unset variable costs one dict lookup.

Protocol, through files, so that it works across processes (separate worker processes in the
distributed tests) as well as threads (all-in-one):

1. the test creates ``<dir>/<name>.arm``;
2. the first thread that reaches ``failpoint(name)`` claims it by renaming the file to
   ``<name>.hit`` (atomic: exactly one thread stops), then waits;
3. the test sees ``<name>.hit``, does what it wants at that moment, creates ``<name>.go``;
4. the thread removes ``<name>.go`` and goes on.

A failpoint that is not released within ``PICUPSCALER_FAILPOINTS_TIMEOUT`` seconds (default
120) raises :class:`FailpointTimeout`, so a broken test fails loudly instead of hanging.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from shared.errors import PicUpscalerError

ENV_DIR = "PICUPSCALER_FAILPOINTS_DIR"
ENV_TIMEOUT = "PICUPSCALER_FAILPOINTS_TIMEOUT"
_NAME = re.compile(r"^[a-z0-9_.-]+$")


class FailpointTimeout(PicUpscalerError):
    """Raised when an armed failpoint was hit and never released (a broken test)."""


def failpoint(name: str) -> None:
    """Stop here if a test armed ``name``; otherwise return at once."""
    directory = os.environ.get(ENV_DIR)
    if not directory:
        return
    if not _NAME.match(name):
        raise ValueError(f"invalid failpoint name {name!r}")
    base = Path(directory)
    try:
        os.rename(base / f"{name}.arm", base / f"{name}.hit")
    except FileNotFoundError:
        return  # not armed, or another thread claimed it first
    go = base / f"{name}.go"
    deadline = time.monotonic() + float(os.environ.get(ENV_TIMEOUT, "120"))
    while not go.exists():
        if time.monotonic() > deadline:
            raise FailpointTimeout(f"failpoint {name} was never released")
        time.sleep(0.01)
    go.unlink()
