"""One managed resource as a pass sees it: a snapshot with Crossplane's conventions.

Also the two things every part of a pass shares about it: :class:`ReconcileError` (a
problem the user can act on; defined in errors.py) and the :class:`Redactor` that keeps
the secret values met during the pass out of every message.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from jetgen.runtime import redaction
from jetgen.runtime.decisions import Policy
from jetgen.runtime.errors import ReconcileError as ReconcileError  # re-exported for a pass
from jetgen.runtime.kinds import Kind

EXTERNAL_NAME = "crossplane.io/external-name"
PAUSED = "crossplane.io/paused"
# crossplane-runtime v2 (pkg/meta, xmeta): a per-object poll interval (a Go duration, at
# least 1s; anything else is ignored) and a token whose change asks for a pass now.
POLL_INTERVAL = "crossplane.io/poll-interval"
RECONCILE_REQUESTED_AT = "crossplane.io/reconcile-requested-at"
HANDLED = "lastHandledReconcileAt"  # status field: the reconcile-requested-at token seen
MIN_POLL_INTERVAL = 1.0


class Redactor:
    """Replaces every secret value seen during a pass in text meant for humans; each value
    is registered process-wide too (see :mod:`jetgen.runtime.redaction`), so logs and
    messages about other objects mask it as well."""

    MASK = redaction.MASK

    def __init__(self) -> None:
        self.values: set[str] = set()

    def add(self, value: str | None) -> None:
        # Very short values would blank out ordinary words; they are not worth hiding.
        if value and len(value) >= redaction.MIN_LENGTH:
            self.values.add(value)
            self.values.add(base64.b64encode(value.encode()).decode())
            redaction.REGISTRY.add(value)

    def __call__(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, self.MASK)
        return redaction.REGISTRY(text)


class ManagedResource:
    """A read-only snapshot of one managed resource, with Crossplane's conventions.

    The snapshot is shallow: each pass gets an object of its own, parsed by the
    scheduler from the MR's last event (the deletion handler gets kopf's body, whose
    source dict each event *replaces*, never changes in place), so the top-level keys
    taken here keep one event's object for the whole pass.  A pass
    never changes the nested values either (annotations are copied; status and the
    provider values are replaced or deep-copied where they are built on): a deep copy
    per pass cost 3-5% of a settled poll's CPU (docs/runtime.md)."""

    def __init__(self, body: Any, kind: Kind):
        self.body: dict[str, Any] = dict(body)
        self.kind = kind
        self.secrets = Redactor()
        meta = self.body.get("metadata") or {}
        self.name: str = meta.get("name", "")
        self.namespace: str | None = meta.get("namespace")
        self.uid: str = meta.get("uid", "")
        self.generation: int | None = meta.get("generation")
        self.annotations: dict[str, str] = dict(meta.get("annotations") or {})
        self.spec: dict[str, Any] = self.body.get("spec") or {}
        self.status: dict[str, Any] = self.body.get("status") or {}

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def for_provider(self) -> dict[str, Any]:
        return copy.deepcopy(self.spec.get("forProvider") or {})

    @property
    def init_provider(self) -> dict[str, Any]:
        return copy.deepcopy(self.spec.get("initProvider") or {})

    @property
    def paused(self) -> bool:
        return self.annotations.get(PAUSED, "").lower() == "true"

    @property
    def external_name(self) -> str | None:
        return self.annotations.get(EXTERNAL_NAME) or None

    @property
    def policy(self) -> Policy:
        return Policy.of(self.spec.get("managementPolicies"), self.spec.get("deletionPolicy"))

    @property
    def policies(self) -> set[str]:
        return set(self.policy.policies)

    def may(self, action: str) -> bool:
        """ManagementPoliciesResolver.Should<Action> of crossplane-runtime."""
        if action == "Observe":
            return not self.policy.paused
        return bool(getattr(self.policy, action.lower()))

    @property
    def only_observe(self) -> bool:
        return self.policy.only_observe

    @property
    def observe_only(self) -> bool:
        """Nothing may change the external resource: passes plan with -refresh-only."""
        return not (self.may("Create") or self.may("Update"))

    @property
    def deleting(self) -> bool:
        return bool((self.body.get("metadata") or {}).get("deletionTimestamp"))

    @property
    def poll_interval(self) -> float | None:
        """The ``crossplane.io/poll-interval`` override in seconds, if valid."""
        seconds = go_duration(self.annotations.get(POLL_INTERVAL, ""))
        return seconds if seconds is not None and seconds >= MIN_POLL_INTERVAL else None

    @property
    def reconcile_request(self) -> str | None:
        return self.annotations.get(RECONCILE_REQUESTED_AT) or None


_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str) -> float | None:
    """Seconds of a Go ``time.ParseDuration`` string ("90s", "1h30m", "1.5h"), else None."""
    text = text.strip()
    if not text or text[0] == "-":
        return None
    text = text.lstrip("+")
    if text == "0":
        return 0.0
    total, i = 0.0, 0
    while i < len(text):
        start = i
        while i < len(text) and (text[i].isdigit() or text[i] == "."):
            i += 1
        number = text[start:i]
        unit_start = i
        while i < len(text) and not (text[i].isdigit() or text[i] == "."):
            i += 1
        unit = text[unit_start:i]
        if not number or number == "." or number.count(".") > 1 or unit not in _GO_UNITS:
            return None
        total += float(number) * _GO_UNITS[unit]
    return total
