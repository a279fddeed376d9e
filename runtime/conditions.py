"""Crossplane-style status conditions: ``Ready`` and ``Synced``.

Every managed resource carries exactly these two condition types.  ``Ready`` says whether
the external resource exists and is usable; ``Synced`` says whether the last reconcile
went through.  Conditions are rebuilt on every reconcile, and ``lastTransitionTime`` only
moves when the status of a condition really flips, so ``kubectl wait`` and GitOps tools see
stable objects between polls.

Each condition carries the ``metadata.generation`` it was computed for
(``observedGeneration``), as crossplane-runtime's ``Condition.ObservedGeneration`` does:
a condition from an older generation is visibly stale even while ``Synced`` is unchanged.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

READY = "Ready"
SYNCED = "Synced"

# Ready reasons.
AVAILABLE = "Available"
UNAVAILABLE = "Unavailable"
CREATING = "Creating"
DELETING = "Deleting"

# Synced reasons.
RECONCILE_SUCCESS = "ReconcileSuccess"
RECONCILE_ERROR = "ReconcileError"
RECONCILE_PAUSED = "ReconcilePaused"

# Kubernetes caps condition messages at 32 KiB; a short message is more useful anyway.
MAX_MESSAGE = 1000


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str = ""

    def to_dict(
        self, now: str, previous: dict[str, Any] | None, generation: int | None = None
    ) -> dict[str, Any]:
        status = "True" if self.status else "False"
        unchanged = previous is not None and previous.get("status") == status
        since = previous.get("lastTransitionTime") if unchanged and previous else None
        out = {
            "type": self.type,
            "status": status,
            "reason": self.reason,
            "lastTransitionTime": since or now,
        }
        if self.message:
            out["message"] = shorten(self.message)
        if generation is not None:
            out["observedGeneration"] = generation
        return out


def available() -> Condition:
    return Condition(READY, True, AVAILABLE)


def unavailable(message: str = "") -> Condition:
    return Condition(READY, False, UNAVAILABLE, message)


def available_with(message: str) -> Condition:
    """Ready, with a note (say, the drift a policy keeps the controller from fixing)."""
    return Condition(READY, True, AVAILABLE, message)


def creating(message: str = "") -> Condition:
    return Condition(READY, False, CREATING, message)


def deleting(message: str = "") -> Condition:
    return Condition(READY, False, DELETING, message)


def success(message: str = "") -> Condition:
    return Condition(SYNCED, True, RECONCILE_SUCCESS, message)


def error(message: str) -> Condition:
    return Condition(SYNCED, False, RECONCILE_ERROR, message)


def paused(message: str = "reconciliation is paused by annotation") -> Condition:
    return Condition(SYNCED, False, RECONCILE_PAUSED, message)


def shorten(message: str, limit: int = MAX_MESSAGE) -> str:
    message = message.strip()
    return message if len(message) <= limit else message[: limit - 3].rstrip() + "..."


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge(
    existing: list[dict[str, Any]] | None,
    updates: list[Condition],
    at: str | None = None,
    generation: int | None = None,
) -> list[dict[str, Any]]:
    """The new ``status.conditions`` list: ``updates`` replace conditions of the same type.

    Conditions of other types (set by someone else) are kept as they are.
    """
    at = at or now()
    previous = {c.get("type"): c for c in existing or []}
    result = {t: c for t, c in previous.items()}
    for cond in updates:
        result[cond.type] = cond.to_dict(at, previous.get(cond.type), generation)
    return list(result.values())


def same(a: list[dict[str, Any]] | None, b: list[dict[str, Any]] | None) -> bool:
    """Whether two condition lists say the same thing (timestamps aside)."""

    def key(conds: list[dict[str, Any]] | None) -> list[tuple[Any, ...]]:
        return sorted(
            (
                c.get("type"),
                c.get("status"),
                c.get("reason"),
                c.get("message", ""),
                c.get("observedGeneration"),
            )
            for c in conds or []
        )

    return key(a) == key(b)


def find(conditions: list[dict[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions or [] if c.get("type") == type_), None)


def is_true(conditions: list[dict[str, Any]] | None, type_: str) -> bool:
    return (find(conditions, type_) or {}).get("status") == "True"
