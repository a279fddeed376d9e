"""What a ``plan`` found, from the CLI's ``-json`` and ``show -json`` output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jetgen.runtime.terraform.diagnostics import Diagnostic


@dataclass
class Plan:
    """What a ``plan`` found: the resource's planned action and any drift seen on refresh."""

    action: str = "no-op"  # create | update | replace | delete | no-op
    drift: str | None = None  # update | delete (gone) as seen by refresh, if anything
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return self.action != "no-op"


def summarize_plan(messages: list[dict[str, Any]]) -> Plan:
    plan = Plan()
    for message in messages:
        change = message.get("change") or {}
        if message.get("type") == "planned_change":
            plan.action = _normal_action(change.get("action", "no-op"))
        elif message.get("type") == "resource_drift":
            plan.drift = _normal_action(change.get("action", "update"))
    return plan


def _normal_action(action: str) -> str:
    # Terraform says "noop"/"no-op" and "replace"/"delete_create"/"create_delete".
    if action in ("noop", "no-op", "read"):
        return "no-op"
    if action in ("delete_create", "create_delete", "replace"):
        return "replace"
    return action


def plan_changes(shown: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(changed attributes, attributes forcing replacement) of ``show -json <plan>``."""
    changed: set[str] = set()
    forcing: set[str] = set()
    for rc in shown.get("resource_changes") or []:
        if rc.get("mode", "managed") != "managed":
            continue
        change = rc.get("change") or {}
        before, after = change.get("before") or {}, change.get("after") or {}
        unknown = change.get("after_unknown") or {}
        for name in set(before) | set(after) | set(unknown):
            if before.get(name) != after.get(name) or unknown.get(name) is True:
                changed.add(name)
        for path in change.get("replace_paths") or []:
            if path:
                forcing.add(".".join(str(step) for step in path))
    return sorted(changed), sorted(forcing)
