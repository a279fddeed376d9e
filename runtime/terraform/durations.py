"""Terraform's duration syntax (a kind's operation timeouts)."""

from __future__ import annotations

_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def duration_seconds(text: str | None) -> float | None:
    """``"20m"``, ``"1h30m"``, ``"45s"`` (Terraform's timeout syntax) -> seconds."""
    if not text:
        return None
    total, number = 0.0, ""
    for ch in text.strip():
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in _DURATION_UNITS and number:
            total += float(number) * _DURATION_UNITS[ch]
            number = ""
        else:
            raise ValueError(f"not a duration: {text!r}")
    if number:
        raise ValueError(f"duration {text!r} lacks a unit (h, m or s)")
    return total
