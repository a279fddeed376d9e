"""Retry delays after errors: exponential, capped, reset by the first success."""

from __future__ import annotations


def delay(failures: int, base: float, cap: float) -> float:
    """Seconds to wait after ``failures`` consecutive failed passes (0 means no failure)."""
    if failures <= 0:
        return cap
    return min(cap, base * 2.0 ** (failures - 1))
