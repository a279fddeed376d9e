"""Progress of a long generation on one terminal line, rewritten in place.

Only for a terminal: piped or redirected output gets the summary line alone, so logs and
scripts see one line per run. Standard library only (the CLI imports it before it knows
whether the generator extra is installed).
"""

from __future__ import annotations

import time
from typing import Protocol, TextIO

CLEAR = "\r\033[K"  # carriage return, erase to the end of the line


class Report(Protocol):
    """``report(phase, done, total)``: a phase started, or ``done`` of ``total`` kinds."""

    def __call__(self, phase: str, done: int = 0, total: int = 0) -> None: ...


def silent(phase: str, done: int = 0, total: int = 0) -> None:
    """The report of a run nobody watches."""


class Line:
    """Rewrites one line of ``stream``; at most ten updates a second, except a phase's
    first and last, so a fast loop costs nothing and the line never lags behind."""

    def __init__(self, stream: TextIO, interval: float = 0.1):
        self.stream, self.interval = stream, interval
        self.shown = False
        self._last = 0.0
        self._started = time.monotonic()

    def __call__(self, phase: str, done: int = 0, total: int = 0) -> None:
        now = time.monotonic()
        edge = done in (0, 1, total)
        if not edge and now - self._last < self.interval:
            return
        self._last = now
        count = f" {done}/{total} kinds" if total else ""
        elapsed = now - self._started
        self.stream.write(f"{CLEAR}jetgen: {elapsed:5.1f} s  {phase}{count}")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the line (before the summary, a warning or an error is printed)."""
        if self.shown:
            self.stream.write(CLEAR)
            self.stream.flush()
            self.shown = False
