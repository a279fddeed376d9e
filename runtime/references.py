"""Crossplane's reference policies, as pure functions (the rendering step does the I/O).

A ``<field>Ref`` or ``<field>Selector`` may carry ``policy: {resolve, resolution}``, with
crossplane-runtime's meaning (``pkg/reference``): ``resolve: IfNotPresent`` (default)
resolves only while the field has no value, ``Always`` on every pass; ``resolution:
Required`` (default) makes a failed resolution an error, ``Optional`` leaves the field
unset.  A selector's ``matchControllerRef`` keeps only the objects with the same
controller as the MR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jetgen.runtime.errors import ReconcileError

RESOLVE = ("Always", "IfNotPresent")
RESOLUTION = ("Required", "Optional")


@dataclass(frozen=True)
class Policy:
    resolve: str = "IfNotPresent"
    resolution: str = "Required"

    @property
    def always(self) -> bool:
        return self.resolve == "Always"

    @property
    def optional(self) -> bool:
        return self.resolution == "Optional"


def policy(at: str, given: Any) -> Policy:
    """The policy at ``at`` (``...Ref`` / ``...Selector``), checked again here because a
    CRD can be old or edited."""
    if given in (None, {}):
        return Policy()
    if not isinstance(given, dict):
        raise ReconcileError(f"{at}.policy: must be an object")
    resolve = given.get("resolve") or "IfNotPresent"
    resolution = given.get("resolution") or "Required"
    if resolve not in RESOLVE:
        raise ReconcileError(f"{at}.policy.resolve: {resolve!r} is not one of {list(RESOLVE)}")
    if resolution not in RESOLUTION:
        raise ReconcileError(
            f"{at}.policy.resolution: {resolution!r} is not one of {list(RESOLUTION)}"
        )
    return Policy(resolve, resolution)


def use_selector(by_name: dict[str, Any], selector: dict[str, Any]) -> bool:
    """A name wins over a selector, except that a selector with ``resolve: Always`` picks
    again every pass (crossplane-runtime drops the Ref then)."""
    if not selector:
        return False
    if not by_name.get("name"):
        return True
    return policy("selector", selector.get("policy")).always


def needs_resolution(chosen: Policy, current: Any) -> bool:
    """Whether to resolve now: ``current`` is the field's value (the user's, or the one
    Terraform's state holds from an earlier resolution)."""
    return chosen.always or current is None


def controller_uid(obj: dict[str, Any]) -> str | None:
    """The uid of the object's controller owner reference, if it has one."""
    for owner in (obj.get("metadata") or {}).get("ownerReferences") or []:
        uid = owner.get("uid")
        if owner.get("controller") is True and isinstance(uid, str) and uid:
            return uid
    return None


def select(
    items: list[dict[str, Any]], match_controller: bool, mr_controller: str | None
) -> dict[str, Any] | None:
    """The object a selector picks among ``items`` (already filtered by labels): with
    ``matchControllerRef`` only those controlled by the MR's controller (none when the MR
    has no controller, as crossplane-runtime does); then the first by name, so the choice
    is the same on every pass and every replica."""
    if match_controller:
        items = [o for o in items if mr_controller and controller_uid(o) == mr_controller]
    return min(items, key=lambda o: o["metadata"]["name"], default=None)
