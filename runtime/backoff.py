"""Retry delays after errors: exponential, capped, reset by the first success."""

from __future__ import annotations

import random
import time
from collections.abc import Callable


def delay(failures: int, base: float, cap: float) -> float:
    """Seconds to wait after ``failures`` consecutive failed passes (0 means no failure)."""
    if failures <= 0:
        return cap
    return min(cap, base * 2.0 ** (failures - 1))


class Cooldown:
    """Retries of one shared step that many callers need (installing the provider,
    starting a provider process): after a failure, callers get the failure at once
    instead of each trying again, until an exponential, jittered delay has passed; then
    one caller tries (the step's own lock makes the others wait for that try).  The
    jitter keeps several controllers, or several broken steps, from retrying in step.
    """

    def __init__(
        self, base: float = 2.0, cap: float = 300.0, *, clock: Callable[[], float] = time.monotonic
    ):
        self.base = base
        self.cap = cap
        self.failures = 0
        self.retry_at = 0.0
        self.error: Exception | None = None
        self._clock = clock

    def blocked(self) -> Exception | None:
        """The last failure while its retry is not due yet, else None (go ahead)."""
        if self.error is not None and self._clock() < self.retry_at:
            return self.error
        return None

    def wait(self) -> float:
        """Seconds until the next try is due (0 when it is)."""
        return max(0.0, self.retry_at - self._clock()) if self.error is not None else 0.0

    def failed(self, error: Exception) -> float:
        """Record a failed try; returns the seconds until the next one."""
        self.failures += 1
        seconds = delay(self.failures, self.base, self.cap) * random.uniform(0.75, 1.25)
        self.error = error
        self.retry_at = self._clock() + seconds
        return seconds

    def succeeded(self) -> None:
        self.failures, self.retry_at, self.error = 0, 0.0, None
