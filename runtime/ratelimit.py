"""Client-side limits on requests to the apiserver: a token bucket and Retry-After.

A controller with thousands of objects must not flood the apiserver when they all wake
at once (a restart, a credential rotation).  :class:`TokenBucket` allows ``burst``
requests at once and ``qps`` per second on average, like client-go's default limiter;
:func:`retry_after` reads how long a 429 asks the client to wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any


class TokenBucket:
    """``qps`` requests per second on average, at most ``burst`` at once; ``qps <= 0``
    means no limit.  Waiters are served in arrival order (one lock)."""

    def __init__(
        self,
        qps: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ):
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._at = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> float:
        """Take one token, waiting for it; returns the seconds waited."""
        if self.qps <= 0:
            return 0.0
        async with self._lock:
            waited = 0.0
            while True:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._at) * self.qps)
                self._at = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                delay = (1 - self._tokens) / self.qps
                await self._sleep(delay)
                waited += delay


def retry_after(headers: Mapping[str, str], body: Any, default: float) -> float:
    """Seconds a 429 (or 503) asks to wait: the ``Retry-After`` header (seconds; the
    apiserver never sends an HTTP date), else the Status' ``details.retryAfterSeconds``,
    else ``default``."""
    value = headers.get("Retry-After")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    details = body.get("details") if isinstance(body, dict) else None
    if isinstance(details, dict):
        seconds = details.get("retryAfterSeconds")
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            return max(0.0, float(seconds))
    return default
