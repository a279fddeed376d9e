"""One managed resource as a pass sees it: a snapshot with Crossplane's conventions.

Also the two things every part of a pass shares about it: :class:`ReconcileError` (a
problem the user can act on) and the :class:`Redactor` that keeps the secret values met
during the pass out of every message.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from jetgen.runtime.kinds import Kind

EXTERNAL_NAME = "crossplane.io/external-name"
PAUSED = "crossplane.io/paused"


class ReconcileError(Exception):
    """A problem the user can act on; the message is safe to show (no secret values)."""


class Redactor:
    """Replaces every secret value seen during a pass in text meant for humans."""

    MASK = "[redacted]"

    def __init__(self) -> None:
        self.values: set[str] = set()

    def add(self, value: str | None) -> None:
        # Very short values would blank out ordinary words; they are not worth hiding.
        if value and len(value) >= 4:
            self.values.add(value)
            self.values.add(base64.b64encode(value.encode()).decode())

    def __call__(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, self.MASK)
        return text


class ManagedResource:
    """A read-only snapshot of one managed resource, with Crossplane's conventions."""

    def __init__(self, body: Any, kind: Kind):
        self.body: dict[str, Any] = copy.deepcopy(dict(body))
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
    def policies(self) -> set[str]:
        return set(self.spec.get("managementPolicies") or ["*"])

    def may(self, action: str) -> bool:
        if action == "Delete" and self.spec.get("deletionPolicy") == "Orphan":
            return False
        return "*" in self.policies or action in self.policies

    @property
    def observe_only(self) -> bool:
        return not (self.may("Create") or self.may("Update"))
