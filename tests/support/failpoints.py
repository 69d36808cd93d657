"""The test side of :mod:`shared.failpoints`: arm a moment, wait for a process to reach it,
act, release it."""

from __future__ import annotations

import time
from pathlib import Path

from shared.failpoints import ENV_DIR


class Failpoints:
    """Failpoints of the processes that run with ``env`` (a directory the test owns)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        """Environment that makes a process (or this one) obey these failpoints."""
        return {ENV_DIR: str(self.dir)}

    def arm(self, name: str) -> None:
        """Stop the first thread that reaches ``name``."""
        (self.dir / f"{name}.arm").touch()

    def wait_hit(self, name: str, timeout: float = 120) -> None:
        """Wait until a thread stopped at ``name``; fail if none did in time."""
        hit = self.dir / f"{name}.hit"
        deadline = time.monotonic() + timeout
        while not hit.exists():
            if time.monotonic() > deadline:
                raise AssertionError(f"no process reached failpoint {name} in {timeout} s")
            time.sleep(0.01)

    def release(self, name: str) -> None:
        """Let the thread stopped at ``name`` go on."""
        (self.dir / f"{name}.hit").unlink()
        (self.dir / f"{name}.go").touch()

    def disarm_all(self) -> None:
        """Remove every arm file (a moment that was never reached in a test cell)."""
        for arm in self.dir.glob("*.arm"):
            arm.unlink(missing_ok=True)
