"""What one pass does, decided from what it observed: a pure function, no I/O.

The reconciler observes (state, import by recorded identity, plan) and then asks
:func:`decide` what to do with the facts; it never branches on policies or annotations
itself.  The rules follow crossplane-runtime's ``managed.Reconciler.Reconcile``
(``pkg/reconciler/managed/reconciler.go``) and its ``ManagementPoliciesResolver``
(``policies.go``), with three deliberate differences, all on the safe side:

* a create whose result is unknown blocks the pass (as ``meta.ExternalCreateIncomplete``
  does) only while the resource cannot be found by its recorded identity -- Terraform
  state or the external name -- so a controller killed after Terraform saved its state
  recovers by itself; Crossplane always waits for a human;
* a change that forces replacement is a delete plus a create, so it needs both policies
  and is guarded like a create (Crossplane has no replacement: providers update in place);
* deletion never drops the finalizer while the external state is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from jetgen.runtime import conditions, state
from jetgen.runtime.conditions import Condition

# What the observation found about the external resource.
ABSENT = "absent"  # known not to exist (no state entry, or a structured "not found")
PRESENT = "present"  # exists and matches the spec
DRIFTED = "drifted"  # exists, an in-place update would make it match
REPLACE = "replace"  # exists, only a replacement would make it match
UNKNOWN = "unknown"  # cannot be told: an interrupted create with no recorded identity
EXTERNAL_STATES = (ABSENT, PRESENT, DRIFTED, REPLACE, UNKNOWN)

# crossplane-runtime's messages, in our words where they are not keys users grep for.
CREATE_INCOMPLETE = (
    "cannot determine creation result: a create was interrupted before its result was "
    "recorded and the external resource cannot be found by a recorded identity, so it is "
    "not retried (that could make a duplicate); check the provider, then set "
    "crossplane.io/external-name to adopt what was created, or remove the "
    f"{state.PENDING} annotation if it is safe to create again"
)
IDENTITY_LOST = (
    "the external resource was created but its Terraform state is lost and it has no "
    "crossplane.io/external-name; set that annotation so it can be deleted, or remove the "
    "finalizer to leave it"
)
DOES_NOT_EXIST = "cannot observe external resource: external resource does not exist"
PAUSED = (
    "reconciliation is paused through the crossplane.io/paused annotation or "
    "spec.managementPolicies: []"
)


class Action(StrEnum):
    PAUSE = "pause"  # touch nothing
    WAIT = "wait"  # the outcome of a create is unknown: touch nothing, say what to do
    CREATE = "create"  # guarded by the pending annotation
    UPDATE = "update"
    REPLACE = "replace"  # delete + create, guarded like a create
    NOTHING = "nothing"  # up to date (a refreshed state may still be stored)
    SKIP_UPDATE = "skip-update"  # differs, but Update is excluded: report the diff
    REFUSE_REPLACE = "refuse-replace"  # needs replacement, but Create or Delete excluded
    MISSING = "missing"  # does not exist and may not be created
    DELETE = "delete"
    RELEASE = "release"  # drop the finalizer: nothing (more) to delete
    ORPHAN = "orphan"  # drop the finalizer, leave the external resource


@dataclass(frozen=True)
class Policy:
    """crossplane-runtime's ``ManagementPoliciesResolver`` (management policies on)."""

    policies: frozenset[str] = frozenset({"*"})
    deletion_policy: str = "Delete"

    @classmethod
    def of(cls, listed: list[str] | None, deletion_policy: str | None = None) -> Policy:
        # Absent means the default (generated CRDs default it to ["*"]); [] pauses.
        chosen = frozenset({"*"}) if listed is None else frozenset(listed)
        return cls(chosen, deletion_policy or "Delete")

    def _has(self, action: str) -> bool:
        return "*" in self.policies or action in self.policies

    @property
    def paused(self) -> bool:  # IsPaused
        return not self.policies

    @property
    def create(self) -> bool:  # ShouldCreate
        return self._has("Create")

    @property
    def update(self) -> bool:  # ShouldUpdate
        return self._has("Update")

    @property
    def late_initialize(self) -> bool:  # ShouldLateInitialize
        return self._has("LateInitialize")

    @property
    def only_observe(self) -> bool:  # ShouldOnlyObserve
        return self.policies == {"Observe"}

    @property
    def replace(self) -> bool:
        """A replacement deletes and creates: both must be in the policies.  (Not
        ShouldDelete: deletionPolicy is about deleting the MR, not about updates.)"""
        return self._has("Create") and self._has("Delete")

    @property
    def delete(self) -> bool:  # ShouldDelete
        # deletionPolicy counts only with the default policies; a non-default list that
        # names Delete wins over deletionPolicy: Orphan.
        if self.deletion_policy == "Delete" and self._has("Delete"):
            return True
        return self.policies != {"*"} and "Delete" in self.policies


@dataclass(frozen=True)
class Facts:
    policy: Policy = field(default_factory=Policy)
    paused: bool = False  # the crossplane.io/paused annotation
    deleting: bool = False  # metadata.deletionTimestamp is set
    guard: str = state.NO_CREATE  # state.guard(): none | pending | succeeded | failed
    external: str = ABSENT
    changed: tuple[str, ...] = ()  # fields that differ (drifted / replace)
    forcing: tuple[str, ...] = ()  # fields that force replacement


@dataclass(frozen=True)
class Decision:
    action: Action
    synced: Condition
    # None: Ready follows the observation after the action (Available if it exists).
    ready: Condition | None = None
    # A create-guard annotation to record before acting: an incomplete create was found
    # done (succeeded) or, by a structured lookup of its identity, not done (failed).
    record: str | None = None
    event: tuple[str, str] | None = None  # (reason, message) of a Warning event


def _fields(names: tuple[str, ...]) -> str:
    return ", ".join(names) if names else "unknown fields"


def decide(f: Facts) -> Decision:
    """The action and conditions for one pass; see the module docstring."""
    if f.paused or f.policy.paused:
        # Reconcile: "Reconciliation is paused either through the `spec.managementPolicies`
        # or the pause annotation" -> ReconcilePaused; deletion waits too.
        return Decision(Action.PAUSE, conditions.paused(PAUSED))
    if f.deleting:
        return _decide_deletion(f)
    if f.external == UNKNOWN:
        # meta.ExternalCreateIncomplete -> Creating + ReconcileError(errCreateIncomplete).
        message = CREATE_INCOMPLETE if f.guard == "pending" else IDENTITY_LOST
        return Decision(
            Action.WAIT,
            conditions.error(message),
            conditions.creating(),
            event=("CannotDetermineCreationResult", message),
        )
    record = None
    if f.guard == "pending":
        record = state.FAILED if f.external == ABSENT else state.SUCCEEDED
    decision = _decide_sync(f)
    return Decision(decision.action, decision.synced, decision.ready, record, decision.event)


def _decide_sync(f: Facts) -> Decision:
    p = f.policy
    if f.external == ABSENT:
        if p.only_observe:
            # !ResourceExists && ShouldOnlyObserve -> ReconcileError(errExternalResourceNotExist)
            return Decision(
                Action.MISSING,
                conditions.error(DOES_NOT_EXIST),
                conditions.unavailable("external resource does not exist"),
                event=("CannotObserveExternalResource", DOES_NOT_EXIST),
            )
        if not p.create:
            return Decision(
                Action.MISSING,
                conditions.success(),
                conditions.unavailable(
                    "external resource does not exist (managementPolicies exclude Create)"
                ),
            )
        return Decision(Action.CREATE, conditions.success())
    if f.external == PRESENT:
        return Decision(Action.NOTHING, conditions.success())
    if not p.update:
        # !ShouldUpdate -> "Skipping update due to managementPolicies", ReconcileSuccess;
        # Ready stays as observed (it exists), the diff is reported.
        note = (
            "external resource differs from spec (managementPolicies exclude Update): "
            + _fields(f.changed)
        )
        return Decision(Action.SKIP_UPDATE, conditions.success(), conditions.available_with(note))
    if f.external == DRIFTED:
        return Decision(Action.UPDATE, conditions.success())
    missing = [a for a in ("Create", "Delete") if not p._has(a)]
    if missing:
        message = (
            f"the change needs replacement (forced by {_fields(f.forcing)}) but "
            f"managementPolicies exclude {' and '.join(missing)}"
        )
        return Decision(
            Action.REFUSE_REPLACE,
            conditions.error(message),
            conditions.available_with("external resource differs from spec"),
            event=("CannotReplaceExternalResource", message),
        )
    return Decision(Action.REPLACE, conditions.success())


def _decide_deletion(f: Facts) -> Decision:
    if not f.policy.delete:
        # WasDeleted && !ShouldDelete -> remove the finalizer, leave the resource.
        return Decision(Action.ORPHAN, conditions.success(), conditions.deleting())
    if f.external == UNKNOWN:
        # ExternalCreateIncomplete is checked before deletion: the finalizer stays.
        message = CREATE_INCOMPLETE if f.guard == "pending" else IDENTITY_LOST
        return Decision(
            Action.WAIT,
            conditions.error(message),
            conditions.deleting(message),
            event=("CannotDeleteExternalResource", message),
        )
    if f.external == ABSENT:
        return Decision(Action.RELEASE, conditions.success(), conditions.deleting())
    record = state.SUCCEEDED if f.guard == "pending" else None
    return Decision(Action.DELETE, conditions.success(), conditions.deleting(), record=record)
