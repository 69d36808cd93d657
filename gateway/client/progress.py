"""A text progress bar on stderr: status or stage, percent, parts, time left.

On a terminal the bar is redrawn in place; otherwise (a log, a pipe, a test) each change is
one line. Time left comes from the events when they give it, else from the rate seen so far
(a straight line through the first progress seen and now, once there is enough of it).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from gateway.client.follow import Update

WIDTH = 24
#: The stages' words, as the web page says them (gateway/static/words.js).
STAGE_WORDS = {
    "starting": "Starting",
    "loading": "Loading the model",
    "loading_model": "Loading the model",
    "decoding": "Reading your image",
    "reading": "Reading your image",
    "analysing": "Looking at your image",
    "upscaling": "Upscaling",
    "running": "Upscaling",
    "resizing": "Resizing to the size you asked",
    "faces": "Restoring faces",
    "face_enhance": "Restoring faces",
    "encoding": "Saving the result",
    "saving": "Saving the result",
    "storing": "Saving the result",
}


def stage_words(stage: str | None) -> str:
    """``decoding`` → ``Reading your image``; an unknown stage in plain letters."""
    if not stage:
        return "Upscaling"
    return STAGE_WORDS.get(stage) or stage.replace("_", " ").capitalize()


def duration_words(seconds: float) -> str:
    """``about 12 s``, ``about 3 min``."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    return f"about {round(seconds / 60)} min"


class ProgressBar:
    """Renders :class:`Update`\\ s; call :meth:`close` before printing anything else."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        interactive: bool | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.clock = clock
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.last_line = ""
        self.shown = 0.0
        self.first: tuple[float, float] | None = None
        self.drawn = False

    def update(self, update: Update) -> None:
        """Show the job's state now (progress never moves backwards on screen)."""
        line = self.render(update)
        if line == self.last_line:
            return
        self.last_line = line
        if self.interactive:
            self.stream.write("\r\x1b[2K" + line)
            self.drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def render(self, update: Update) -> str:
        """The line for ``update``."""
        if update.status == "queued":
            place = f", number {update.queue_position} in line" if update.queue_position else ""
            return f"[{'.' * WIDTH}] waiting in line{place}"
        if update.status in ("succeeded", "failed"):
            fraction = 1.0 if update.status == "succeeded" else self.shown
            return f"{self._bar(fraction)} {round(fraction * 100):3d} % {update.status}"
        fraction = max(self.shown, min(update.progress or 0.0, 0.999))
        self.shown = fraction
        parts = [stage_words(update.stage)]
        if update.tile is not None and update.tiles:
            parts.append(f"part {update.tile} of {update.tiles}")
        left = update.eta_seconds if update.eta_seconds is not None else self._estimate(fraction)
        if left is not None:
            parts.append(f"{duration_words(left)} left")
        return f"{self._bar(fraction)} {int(fraction * 100):3d} % " + " · ".join(parts)

    def message(self, text: str) -> None:
        """A line of its own (the bar, if drawn, is ended first)."""
        self.close()
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line on a terminal."""
        if self.interactive and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
        self.drawn = False
        self.last_line = ""

    def _bar(self, fraction: float) -> str:
        filled = int(round(fraction * WIDTH))
        return "[" + "#" * filled + "." * (WIDTH - filled) + "]"

    def _estimate(self, fraction: float) -> float | None:
        now = self.clock()
        if self.first is None:
            self.first = (now, fraction)
            return None
        start, at = self.first
        done, seconds = fraction - at, now - start
        if done < 0.05 or seconds < 2:
            return None
        return seconds / done * (1 - fraction)
