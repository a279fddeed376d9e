"""The reconcile decisions, table-driven, through the real Reconciler on a fake driver.

Every row names the inputs -- management policies, what exists outside, the create
guard annotations, the pause annotation, deletion -- and what crossplane-runtime's
``managed.Reconciler.Reconcile`` (pkg/reconciler/managed/reconciler.go, v1.16) does with
them: which external call is made and which conditions are set.  The order of the rules
below is the order of the checks in ``Reconcile``:

1. ``meta.IsPaused(managed) || policy.IsPaused()``  -> ``ReconcilePaused``, nothing else
   (an empty ``managementPolicies`` pauses: ``ManagementPoliciesResolver.IsPaused``).
2. ``meta.WasDeleted && !policy.ShouldDelete()``    -> finalizer removed, nothing deleted.
3. ``meta.ExternalCreateIncomplete``                -> ``Creating`` + ``ReconcileError``
   ("cannot determine creation result ..."), nothing else, deletion included.  (We first
   look the resource up by its recorded identity; only when there is none do we stop.)
4. ``!ResourceExists && policy.ShouldOnlyObserve()`` -> ``ReconcileError`` "external
   resource does not exist".
5. ``WasDeleted``: exists -> ``Delete``; else the finalizer goes.
6. ``!ResourceExists && policy.ShouldCreate()``     -> pending annotation, ``Create``,
   then succeeded (or failed).
7. ``ResourceUpToDate``                             -> ``ReconcileSuccess``.
8. ``!policy.ShouldUpdate()``                       -> "Skipping update due to
   managementPolicies", ``ReconcileSuccess``; Ready stays as observed.
9. otherwise ``Update``.

Replacement (ours, not Crossplane's: its providers update in place) needs Create and
Delete besides Update, else ``Synced=False`` naming the fields that force it.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest
from jetgen.runtime import decisions, kube, reconciler, state
from jetgen.runtime.decisions import Action, Facts, Policy
from jetgen.runtime.resource import EXTERNAL_NAME, ManagedResource, ReconcileError
from jetgen.runtime.terraform.diagnostics import TerraformError
from jetgen.runtime.terraform.workdir import Workdir

from tests.runtime.fakes import ALL, T1, FakeDriver, body, make, thing_kind

OBSERVE = ["Observe"]
NO_DELETE = ["Observe", "Create", "Update", "LateInitialize"]
NO_CREATE = ["Observe", "Update", "Delete", "LateInitialize"]
NO_UPDATE = ["Observe", "Create", "Delete", "LateInitialize"]
PAUSE_LIST: list[str] = []
POLICIES = {
    "all": ALL,
    "observe": OBSERVE,
    "no-delete": NO_DELETE,
    "no-create": NO_CREATE,
    "no-update": NO_UPDATE,
    "empty": PAUSE_LIST,
}
EXTERNALS = ("absent", "present", "drifted", "replace")
GUARDS = ("none", "pending", "succeeded", "failed")


def run(rec: reconciler.Reconciler, b: dict[str, Any]) -> tuple[ManagedResource, str | None]:
    """One pass (or one deletion attempt); returns the MR snapshot and an error, if any."""
    mr = ManagedResource(b, rec.kind)
    memory = reconciler.Memory()
    error = None
    try:
        if mr.deleting:
            asyncio.run(rec._finalize(mr, memory))
        else:
            asyncio.run(rec.reconcile(mr, memory))
    except (ReconcileError, reconciler.Paused) as exc:
        error = str(exc)
    return mr, error


def cond(mr: ManagedResource, type_: str) -> tuple[str, str] | None:
    for c in mr.status.get("conditions") or []:
        if c["type"] == type_:
            return c["status"], c["reason"]
    return None


# --- the table: (policies, external, guard, paused, deleting) -> expected --------------
#
# expected: (external calls that change something, Synced, Ready, guard afterwards)
# Synced/Ready are (status, reason); None means "not written by this pass".

S_OK = ("True", "ReconcileSuccess")
S_ERR = ("False", "ReconcileError")
S_PAUSED = ("False", "ReconcilePaused")
R_AVAIL = ("True", "Available")
R_UNAV = ("False", "Unavailable")
R_CREATING = ("False", "Creating")
R_DELETING = ("False", "Deleting")


def crossplane_expectation(policies, external, guard, paused, deleting):
    """The rule list of the module docstring, in Reconcile's order, for one row."""
    p = Policy.of(policies)
    exists = external != "absent"
    if paused or p.paused:  # rule 1
        return [], S_PAUSED, None, guard
    if deleting and not p.delete:  # rule 2 (our orphan path touches no condition)
        return [], None, None, guard
    # rule 3: the rows' resources are in the Terraform state when they exist, so an
    # incomplete create is found done; when absent, nothing was made (the create never
    # recorded anything and there is no identity to look up) -> the create is unknown.
    if guard == "pending" and not exists:
        return [], S_ERR, (R_DELETING if deleting else R_CREATING), guard
    after = "succeeded" if guard == "pending" else guard
    if deleting:  # rule 5
        return (["destroy"] if exists else []), None, R_DELETING, after
    if not exists and p.only_observe:  # rule 4
        return [], S_ERR, R_UNAV, after
    if not exists:
        if p.create:  # rule 6
            return ["create"], S_OK, R_AVAIL, "succeeded"
        return [], S_OK, R_UNAV, after
    if external == "present":  # rule 7
        return [], S_OK, R_AVAIL, after
    if not p.update:  # rule 8
        return [], S_OK, R_AVAIL, after
    if external == "drifted":  # rule 9
        return ["update"], S_OK, R_AVAIL, after
    if p.replace:  # replacement (Create and Delete listed), guarded like a create
        return ["replace"], S_OK, R_AVAIL, "succeeded"
    return [], S_ERR, R_AVAIL, after


ROWS = list(itertools.product(POLICIES, EXTERNALS, GUARDS, (False, True), (False, True)))


@pytest.mark.parametrize(("policy", "external", "guard", "paused", "deleting"), ROWS)
def test_decision_table(tmp_path, policy, external, guard, paused, deleting):
    policies = POLICIES[policy]
    # A create that succeeded saved its state first: if the resource is gone now, that
    # state says so (without it, the outcome would be unknown: see the test below).
    driver = FakeDriver(tmp_path / "work", external, empty_state=guard == "succeeded")
    rec, events = make(tmp_path, driver)
    mr, error = run(rec, body(policies, guard, paused, deleting))
    calls, synced, ready, guard_after = crossplane_expectation(
        policies, external, guard, paused, deleting
    )
    changing = [c for c in driver.calls if c in ("create", "update", "replace", "destroy")]
    assert changing == calls
    assert cond(mr, "Synced") == synced
    if ready is not None:
        assert cond(mr, "Ready") == ready
    assert state.guard(mr.annotations) == guard_after
    # Every condition carries the generation it describes.
    for c in mr.status.get("conditions") or []:
        assert c["observedGeneration"] == 3
    # A stop is explained: Synced=False has a message, and a Warning event says it too.
    if synced == S_ERR:
        message = next(c for c in mr.status["conditions"] if c["type"] == "Synced")["message"]
        assert message
        assert any(e[0] == "Warning" for e in events)
    stopped = paused or Policy.of(policies).paused
    if deleting and guard == "pending" and external == "absent" and not stopped:
        if not Policy.of(policies).delete:
            return
        assert error and "external-create-pending" in error  # the finalizer stays
    if deleting and stopped:
        assert error and "paused" in error  # deletion waits too


def test_table_size():
    assert len(ROWS) == 384


# --- rows the product above does not reach ----------------------------------------------


def test_incomplete_create_found_by_external_name_is_adopted_not_created(tmp_path):
    # The resource exists outside but the state does not know it (workdir and Secret lost).
    driver = FakeDriver(tmp_path / "work", "present", in_state=False)
    rec, _ = make(tmp_path, driver)
    mr, error = run(rec, body(ALL, "pending", False, False, external_name="ext-9"))
    assert error is None
    assert driver.calls[0] == "import ext-9"
    assert "create" not in driver.calls
    assert state.guard(mr.annotations) == "succeeded"
    assert cond(mr, "Ready") == R_AVAIL


def test_incomplete_create_whose_identity_is_not_found_creates_once(tmp_path):
    # A structured "does not exist" for the recorded name: the create made nothing.
    driver = FakeDriver(tmp_path / "work", "absent")
    rec, _ = make(tmp_path, driver)
    mr, _ = run(rec, body(ALL, "pending", False, False, external_name="ext-9"))
    assert driver.calls == ["import ext-9", "create"]
    assert state.guard(mr.annotations) == "succeeded"


def test_deleting_an_incomplete_create_with_a_name_looks_it_up_and_deletes(tmp_path):
    driver = FakeDriver(tmp_path / "work", "present", in_state=False)
    rec, _ = make(tmp_path, driver)
    _, error = run(rec, body(ALL, "pending", False, True, external_name="ext-9"))
    assert error is None
    assert driver.calls == ["import ext-9", "destroy"]


def test_succeeded_create_without_state_or_name_keeps_the_finalizer(tmp_path):
    driver = FakeDriver(tmp_path / "work", "present", in_state=False)
    rec, events = make(tmp_path, driver)
    mr, error = run(rec, body(ALL, "succeeded", False, True))
    assert error and "state is lost" in error
    assert driver.calls == []
    assert cond(mr, "Synced") == S_ERR
    assert any(e[1] == "CannotDeleteExternalResource" for e in events)


@pytest.mark.parametrize(
    ("error", "guard_after"),
    [
        # Terraform exited normally, the provider refused: nothing was created.
        (TerraformError("apply", [], nothing_created=True), "failed"),
        # Timeout, crash, kill: the outcome is unknown -> the create stays incomplete.
        (TerraformError("apply", [], "timed out after 5s"), "pending"),
        (RuntimeError("anything else"), "pending"),
    ],
)
def test_create_failure_is_failed_only_when_nothing_was_created(tmp_path, error, guard_after):
    driver = FakeDriver(tmp_path / "work", "absent", apply_error=error)
    rec, _ = make(tmp_path, driver)
    mr = ManagedResource(body(ALL, "none", False, False), rec.kind)
    with pytest.raises(type(error)):
        asyncio.run(rec.reconcile(mr, reconciler.Memory()))
    assert state.guard(mr.annotations) == guard_after


def test_a_failed_state_write_leaves_the_create_incomplete(tmp_path):
    driver = FakeDriver(tmp_path / "work", "absent")
    rec, _ = make(tmp_path, driver)

    async def broken_save(body, data, **_):
        raise OSError("apiserver said no")

    rec.rt.store.save = broken_save  # type: ignore[method-assign]
    mr = ManagedResource(body(ALL, "none", False, False), rec.kind)
    with pytest.raises(OSError):
        asyncio.run(rec.reconcile(mr, reconciler.Memory()))
    assert driver.calls == ["create"]
    assert state.guard(mr.annotations) == "pending"  # never "succeeded" without saved state


def lost_pending_answer(rec: reconciler.Reconciler) -> list[str]:
    """The apiserver takes the first create-pending patch and answers with an error (the
    answer lost); returns the pending values it stored."""
    stored: list[str] = []
    patch = rec.rt.kube.patch

    async def landed_then_failed(path, body, content_type=None):
        await patch(path, body, content_type)
        meta = body.get("metadata") if isinstance(body, dict) else None  # not a status patch
        pending = ((meta or {}).get("annotations") or {}).get(state.PENDING)
        if pending and not stored:
            stored.append(pending)
            raise kube.KubeError(500, "the server was unable to return a response")

    rec.rt.kube.patch = landed_then_failed  # type: ignore[method-assign]
    return stored


def test_a_pending_mark_whose_answer_was_lost_is_recorded_failed_and_created_once(tmp_path):
    """The pending mark landed but its patch raised, before the driver was called: this
    controller knows nothing was created, so its next pass records the create failed and
    creates (not Crossplane's stop for an incomplete create, which waits for a person)."""
    driver = FakeDriver(tmp_path / "work", "absent")
    rec, _ = make(tmp_path, driver)
    stored = lost_pending_answer(rec)
    memory = reconciler.Memory()
    b = body(ALL, "none", False, False)
    with pytest.raises(kube.KubeError):
        asyncio.run(rec.reconcile(ManagedResource(b, rec.kind), memory))
    assert driver.calls == [] and memory.unused_pending == stored[0]
    b["metadata"]["annotations"][state.PENDING] = stored[0]  # what the watch then shows
    mr = ManagedResource(b, rec.kind)
    asyncio.run(rec.reconcile(mr, memory))
    assert driver.calls == ["create"]
    assert state.guard(mr.annotations) == "succeeded"
    assert cond(mr, "Ready") == R_AVAIL and memory.unused_pending is None


def test_a_lost_pending_answer_does_not_excuse_a_later_mark(tmp_path):
    """A pending mark with another time (a later create, or another replica's) is an
    incomplete create as always: nothing is created blindly."""
    driver = FakeDriver(tmp_path / "work", "absent")
    rec, _ = make(tmp_path, driver)
    lost_pending_answer(rec)
    memory = reconciler.Memory()
    b = body(ALL, "none", False, False)
    with pytest.raises(kube.KubeError):
        asyncio.run(rec.reconcile(ManagedResource(b, rec.kind), memory))
    b["metadata"]["annotations"][state.PENDING] = T1
    mr = ManagedResource(b, rec.kind)
    asyncio.run(rec.reconcile(mr, memory))
    assert driver.calls == []
    assert cond(mr, "Synced") == S_ERR and state.guard(mr.annotations) == "pending"


def test_deleting_after_a_lost_pending_answer_releases_the_object(tmp_path):
    driver = FakeDriver(tmp_path / "work", "absent")
    rec, _ = make(tmp_path, driver)
    stored = lost_pending_answer(rec)
    memory = reconciler.Memory()
    b = body(ALL, "none", False, False)
    with pytest.raises(kube.KubeError):
        asyncio.run(rec.reconcile(ManagedResource(b, rec.kind), memory))
    b["metadata"]["annotations"][state.PENDING] = stored[0]
    b["metadata"]["deletionTimestamp"] = T1
    asyncio.run(rec._finalize(ManagedResource(b, rec.kind), memory))  # no stop: released
    assert driver.calls == []


# An interrupted replacement: the state still records ext-1, which its delete removed;
# the create made ext-2, which nothing recorded.


def stale_replacement(tmp_path: Path) -> FakeDriver:
    return FakeDriver(tmp_path / "work", "present", gone=frozenset({"ext-1"}))


def test_interrupted_replacement_with_a_stale_state_stops_and_says_what_to_do(tmp_path):
    driver = stale_replacement(tmp_path)
    rec, events = make(tmp_path, driver)
    mr, error = run(rec, body(ALL, "pending", False, False))
    assert error is None
    assert [c for c in driver.calls if c != "plan"] == []  # no import, no blind create
    assert cond(mr, "Synced") == S_ERR and cond(mr, "Ready") == R_CREATING
    assert state.guard(mr.annotations) == "pending"
    assert EXTERNAL_NAME not in mr.annotations  # the stale ID is not written back
    assert any(e[1] == "CannotDetermineCreationResult" for e in events)


def test_interrupted_replacement_is_adopted_by_the_external_name_the_user_sets(tmp_path):
    driver = stale_replacement(tmp_path)
    rec, _ = make(tmp_path, driver)
    mr, error = run(rec, body(ALL, "pending", False, False, external_name="ext-2"))
    assert error is None
    assert "import ext-2" in driver.calls and "create" not in driver.calls
    assert state.guard(mr.annotations) == "succeeded"
    assert cond(mr, "Ready") == R_AVAIL and cond(mr, "Synced") == S_OK
    assert mr.annotations[EXTERNAL_NAME] == "ext-2"


def test_interrupted_replacement_named_by_the_stale_id_stays_unknown(tmp_path):
    driver = stale_replacement(tmp_path)
    rec, _ = make(tmp_path, driver)
    mr, _ = run(rec, body(ALL, "pending", False, False, external_name="ext-1"))
    assert [c for c in driver.calls if c != "plan"] == []
    assert state.guard(mr.annotations) == "pending" and cond(mr, "Synced") == S_ERR


def test_deleting_an_interrupted_replacement_keeps_the_finalizer_until_named(tmp_path):
    driver = stale_replacement(tmp_path)
    rec, _ = make(tmp_path, driver)
    _, error = run(rec, body(ALL, "pending", False, True))
    assert error and "external-create-pending" in error  # the finalizer stays
    assert "destroy" not in driver.calls

    driver = FakeDriver(tmp_path / "work2", "present", gone=frozenset({"ext-1"}))
    rec, _ = make(tmp_path, driver)
    _, error = run(rec, body(ALL, "pending", False, True, external_name="ext-2"))
    assert error is None
    assert [c for c in driver.calls if c != "plan"] == ["import ext-2", "destroy"]


def test_a_create_whose_state_records_nothing_stays_incomplete(tmp_path):
    # Terraform exited 0 but its workdir went away under it: no state, no ID.
    driver = FakeDriver(tmp_path / "work", "absent", loses_state=True)
    rec, _ = make(tmp_path, driver)
    mr = ManagedResource(body(ALL, "none", False, False), rec.kind)
    with pytest.raises(ReconcileError, match="records no resource"):
        asyncio.run(rec.reconcile(mr, reconciler.Memory()))
    assert driver.calls == ["create"]
    assert state.guard(mr.annotations) == "pending"
    # The next pass does not create again: the outcome is unknown.
    mr, _ = run(rec, body(ALL, "pending", False, False))
    assert driver.calls == ["create"]
    assert cond(mr, "Synced") == S_ERR


def test_replacement_refused_names_the_forcing_field_and_drift_names_the_diff(tmp_path):
    driver = FakeDriver(tmp_path / "work", "replace")
    rec, _ = make(tmp_path, driver)
    mr, _ = run(rec, body(NO_DELETE, "succeeded", False, False))
    synced = next(c for c in mr.status["conditions"] if c["type"] == "Synced")
    assert "forced by content" in synced["message"] and "exclude Delete" in synced["message"]

    driver = FakeDriver(tmp_path / "work2", "drifted")
    rec, _ = make(tmp_path, driver)
    mr, _ = run(rec, body(NO_UPDATE, "succeeded", False, False))
    ready = next(c for c in mr.status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and "content" in ready["message"]


def test_user_edit_of_the_external_name_is_kept_and_adopted(tmp_path):
    driver = FakeDriver(tmp_path / "work", "present")  # the state holds ext-1
    rec, _ = make(tmp_path, driver)
    mr, error = run(rec, body(ALL, "succeeded", False, False, external_name="ext-7"))
    assert error is None
    assert "import ext-7" in driver.calls and "create" not in driver.calls
    assert mr.annotations[EXTERNAL_NAME] == "ext-7"


def test_decide_without_a_driver_matches_the_rules():
    """decide() alone over the same product (a pure function: no I/O)."""
    for policy, external, guard, paused, deleting in ROWS:
        facts = Facts(
            policy=Policy.of(POLICIES[policy]),
            paused=paused,
            deleting=deleting,
            guard=guard,
            external=decisions.UNKNOWN if guard == "pending" and external == "absent" else external,
        )
        decision = decisions.decide(facts)
        calls, synced, _, _ = crossplane_expectation(
            POLICIES[policy], external, guard, paused, deleting
        )
        expected = {
            "create": Action.CREATE,
            "update": Action.UPDATE,
            "replace": Action.REPLACE,
            "destroy": Action.DELETE,
        }
        if calls:
            assert decision.action == expected[calls[0]]
        else:
            assert decision.action not in expected.values()
        if synced is not None:
            status = "True" if decision.synced.status else "False"
            assert (status, decision.synced.reason) == synced


def test_poll_interval_and_policy_resolution():
    mr = ManagedResource(
        {"metadata": {"annotations": {"crossplane.io/poll-interval": "1m30s"}}}, thing_kind()
    )
    assert mr.poll_interval == 90.0
    for bad in ("500ms", "soon", "-1m", ""):
        mr.annotations["crossplane.io/poll-interval"] = bad
        assert mr.poll_interval is None
    # ShouldDelete: deletionPolicy counts only with the default policies.
    assert not Policy.of(["*"], "Orphan").delete
    assert Policy.of(["Observe", "Delete"], "Orphan").delete
    assert not Policy.of(["Observe", "Create"], "Delete").delete
    # Replacement needs Create and Delete in the policies, whatever deletionPolicy says.
    assert Policy.of(["*"], "Orphan").replace
    assert not Policy.of(["Observe", "Create", "Update"]).replace
    assert Policy.of(None).policies == {"*"} and Policy.of([]).paused


def test_the_state_terraform_could_not_save_is_used(tmp_path):
    # A create whose state write failed: Terraform left errored.tfstate with the resource.
    driver = FakeDriver(tmp_path / "work", "present", in_state=False)
    rec, _ = make(tmp_path, driver)
    wd = driver.workdir("uid-1")
    elsewhere = Workdir(tmp_path / "elsewhere")
    elsewhere.ensure()
    driver._record(elsewhere, "ext-5")
    (wd.path / "errored.tfstate").write_bytes(elsewhere.read_state() or b"")
    mr, error = run(rec, body(ALL, "pending", False, False))
    assert error is None
    assert "create" not in driver.calls and not any(c.startswith("import") for c in driver.calls)
    assert state.guard(mr.annotations) == "succeeded"
    assert mr.annotations[EXTERNAL_NAME] == "ext-5"


def test_a_reconcile_request_is_recorded_once(tmp_path):
    driver = FakeDriver(tmp_path / "work", "present")
    rec, events = make(tmp_path, driver)
    b = body(ALL, "succeeded", False, False)
    b["metadata"]["annotations"]["crossplane.io/reconcile-requested-at"] = "token-1"
    mr = ManagedResource(b, rec.kind)
    memory = reconciler.Memory()
    asyncio.run(rec.reconcile(mr, memory))
    assert mr.status["lastHandledReconcileAt"] == "token-1"
    handled = [
        p for p in rec.rt.kube.patches if p[1] == {"status": {"lastHandledReconcileAt": "token-1"}}
    ]
    assert len(handled) == 1 and handled[0][0].endswith("/status")
    assert [e[1] for e in events].count("ReconcileRequestHandled") == 1
    asyncio.run(rec.reconcile(mr, memory))  # the same token again: nothing new
    assert [e[1] for e in events].count("ReconcileRequestHandled") == 1
