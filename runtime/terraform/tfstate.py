"""Reading Terraform's JSON state (``terraform.tfstate``) of one managed resource."""

from __future__ import annotations

import json
from typing import Any


def state_instance(data: bytes | None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(resource, instance) of the one managed resource instance in a JSON state (its
    ``attributes`` a dict), or ``None`` if there is none or the state is broken."""
    if not data:
        return None
    try:
        state = json.loads(data)
    except json.JSONDecodeError:
        return None
    for resource in state.get("resources") or []:
        if resource.get("mode", "managed") != "managed":
            continue
        for instance in resource.get("instances") or []:
            if isinstance(instance.get("attributes"), dict):
                return resource, instance
    return None


def state_attributes(data: bytes | None) -> dict[str, Any] | None:
    found = state_instance(data)
    return found[1]["attributes"] if found else None


def state_serial(data: bytes | None) -> tuple[str, int]:
    """(lineage, serial) of a state file; ("", -1) if it is missing or broken."""
    if not data:
        return "", -1
    try:
        state = json.loads(data)
        return str(state.get("lineage", "")), int(state.get("serial", -1))
    except (json.JSONDecodeError, TypeError, ValueError):
        return "", -1
