"""Operation timeouts (``timeouts.create`` ...) in Terraform's syntax: ``45s``, ``20m``,
``1h30m``, ``1.5h``.  The generator checks a kind's timeouts with :func:`seconds` and
the reconciler converts them with it, so what passes generation also runs."""

from __future__ import annotations

import re

from jetgen.runtime.contract.errors import shown

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[hms])+")
SYNTAX = "a number and a unit (h, m or s) or several, such as 45s, 20m or 1h30m"


class DurationError(ValueError):
    """Not a duration; the message quotes the text and says the syntax."""


def seconds(text: object) -> float | None:
    """``"1h30m"`` -> 5400.0; ``None`` or ``""`` (no timeout set) -> None.  Anything else
    (a number from YAML, say) is not a duration."""
    if text is None or text == "":
        return None
    if not isinstance(text, str) or _WHOLE.fullmatch(text) is None:
        raise DurationError(f"{shown(text)} is not a duration: {SYNTAX}")
    total = sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(text))
    if total <= 0:
        raise DurationError(f"{shown(text)} is no time at all: a timeout must be positive")
    return total
