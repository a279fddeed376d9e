"""End-to-end: references, observe-only adoption, and the pause annotation."""

from __future__ import annotations

import json
import time

import pytest

from tests.runtime import harness
from tests.runtime.harness import get, is_ready, wait_for
from tests.runtime.local_mrs import GROUP as LOCAL
from tests.runtime.local_mrs import file_mr, local_controller
from tests.runtime.random_mrs import GROUP as RANDOM
from tests.runtime.random_mrs import controller as random_controller

pytestmark = pytest.mark.e2e


def ready(apiserver, resource, name, ns, timeout=60):
    return wait_for(
        f"{resource} {name} Ready",
        lambda: (o := get(apiserver, resource, name, ns)) and is_ready(o) and o,
        timeout=timeout,
    )


def random_id(name, ns, byte_length=4, labels=None, annotations=None, **spec):
    return {
        "apiVersion": f"{RANDOM}/v1alpha1",
        "kind": "Id",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": labels or {},
            "annotations": annotations or {},
        },
        "spec": {"forProvider": {"byteLength": byte_length}, **spec},
    }


def pet(name, ns, **for_provider):
    return {
        "apiVersion": f"{RANDOM}/v1alpha1",
        "kind": "Pet",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"forProvider": {"length": 2, **for_provider}},
    }


def test_references_by_name_and_selector(apiserver, testbed, random_provider, tmp_path):
    ns = apiserver.create_namespace("refs")
    with random_controller(apiserver, testbed, random_provider, tmp_path, namespace=ns):
        apiserver.apply(random_id("src", ns, labels={"app": "demo"}))
        apiserver.apply(pet("by-ref", ns, prefixRef={"name": "src"}))
        apiserver.apply(pet("by-selector", ns, prefixSelector={"matchLabels": {"app": "demo"}}))
        apiserver.apply(pet("waits", ns, prefixRef={"name": "later"}))

        hex_ = ready(apiserver, "ids." + RANDOM, "src", ns)["status"]["atProvider"]["hex"]
        for name in ("by-ref", "by-selector"):
            obj = ready(apiserver, "pets." + RANDOM, name, ns)
            assert obj["status"]["atProvider"]["id"].startswith(hex_ + "-")
            assert obj["status"]["atProvider"]["prefix"] == hex_

        waiting = wait_for(
            "unresolved reference reported",
            lambda: (
                "not found"
                in harness.condition(get(apiserver, "pets." + RANDOM, "waits", ns), "Synced").get(
                    "message", ""
                )
            ),
        )
        assert waiting
        apiserver.apply(random_id("later", ns))
        later_hex = ready(apiserver, "ids." + RANDOM, "later", ns)["status"]["atProvider"]["hex"]
        obj = ready(apiserver, "pets." + RANDOM, "waits", ns, timeout=90)
        assert obj["status"]["atProvider"]["prefix"] == later_hex

        # The referenced Id goes first; its Pet must still be deletable (the value its
        # reference resolved to is in the Pet's Terraform state).
        apiserver.kubectl("delete", "ids." + RANDOM, "src", "-n", ns, "--wait=true")
        apiserver.kubectl("delete", "pets." + RANDOM, "by-ref", "-n", ns, "--timeout=60s")
        assert get(apiserver, "pets." + RANDOM, "by-ref", ns) is None


def test_reference_policies_and_match_controller_ref(apiserver, testbed, random_provider, tmp_path):
    """Crossplane's reference semantics: resolution Optional / Required, resolve Always /
    IfNotPresent, and a selector's matchControllerRef."""
    ns = apiserver.create_namespace("refpolicy")
    pets, ids = "pets." + RANDOM, "ids." + RANDOM
    # The MR's controller and a co-controlled target; any object with a uid will do.
    apiserver.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "xr", "namespace": ns}}
    )
    xr_uid = get(apiserver, "configmaps", "xr", ns)["metadata"]["uid"]
    controlled_by_xr = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "xr", "uid": xr_uid, "controller": True}
    ]
    optional = {"resolution": "Optional"}
    with random_controller(apiserver, testbed, random_provider, tmp_path, namespace=ns):
        apiserver.apply(pet("optional", ns, prefixRef={"name": "absent", "policy": optional}))
        apiserver.apply(pet("required", ns, prefixRef={"name": "absent"}))
        apiserver.apply(random_id("src", ns))
        apiserver.apply(
            pet("always", ns, prefixRef={"name": "src", "policy": {"resolve": "Always"}})
        )
        apiserver.apply(pet("once", ns, prefixRef={"name": "src"}))
        # "a-stranger" sorts first, so only matchControllerRef keeps it from being chosen.
        apiserver.apply(random_id("a-stranger", ns, labels={"team": "t"}))
        co = random_id("co", ns, labels={"team": "t"})
        co["metadata"]["ownerReferences"] = controlled_by_xr
        apiserver.apply(co)
        mine = pet(
            "mine", ns, prefixSelector={"matchLabels": {"team": "t"}, "matchControllerRef": True}
        )
        mine["metadata"]["ownerReferences"] = controlled_by_xr
        apiserver.apply(mine)

        # Optional: the missing target does not block; the field stays unset.
        obj = ready(apiserver, pets, "optional", ns)
        assert not obj["status"]["atProvider"].get("prefix")
        # Required (the default): Synced=False naming the missing object.
        synced = wait_for(
            "required reference reported",
            lambda: (
                (c := harness.condition(get(apiserver, pets, "required", ns), "Synced"))
                and c.get("status") == "False"
                and "referenced Id absent not found" in c.get("message", "")
                and c
            ),
        )
        assert synced["reason"] == "ReconcileError"
        assert not is_ready(get(apiserver, pets, "required", ns))

        first = ready(apiserver, ids, "src", ns)["status"]["atProvider"]["hex"]
        for name in ("always", "once"):
            assert ready(apiserver, pets, name, ns)["status"]["atProvider"]["prefix"] == first
        stranger = ready(apiserver, ids, "a-stranger", ns)["status"]["atProvider"]["hex"]
        co_hex = ready(apiserver, ids, "co", ns)["status"]["atProvider"]["hex"]
        assert ready(apiserver, pets, "mine", ns)["status"]["atProvider"]["prefix"] == co_hex
        assert co_hex != stranger

        # The target's value changes (a new byteLength replaces the Id): Always follows,
        # IfNotPresent keeps the value it resolved first.
        apiserver.apply(random_id("src", ns, byte_length=5))
        second = wait_for(
            "Id src replaced",
            lambda: (
                (h := get(apiserver, ids, "src", ns)["status"].get("atProvider", {}).get("hex"))
                and h != first
                and h
            ),
        )
        wait_for(
            "Always re-resolved",
            lambda: (
                (o := get(apiserver, pets, "always", ns))
                and is_ready(o)
                and o["status"]["atProvider"].get("prefix") == second
            ),
            timeout=90,
        )
        time.sleep(6)  # more than one poll of "once" after "always" moved
        assert get(apiserver, pets, "once", ns)["status"]["atProvider"]["prefix"] == first


def test_observe_only_adopts_by_external_name_and_changes_nothing(
    apiserver, testbed, random_provider, tmp_path
):
    ns = apiserver.create_namespace("observe")
    with random_controller(apiserver, testbed, random_provider, tmp_path, namespace=ns):
        apiserver.apply(random_id("original", ns, byte_length=6))
        original = ready(apiserver, "ids." + RANDOM, "original", ns)["status"]["atProvider"]

        adopter = random_id(
            "adopter",
            ns,
            byte_length=6,
            annotations={"crossplane.io/external-name": original["b64Url"]},
            managementPolicies=["Observe"],
        )
        apiserver.apply(adopter)
        seen = ready(apiserver, "ids." + RANDOM, "adopter", ns)["status"]["atProvider"]
        assert seen["hex"] == original["hex"]
        assert "ImportedExternalResource" in harness.events_text(apiserver, ns)

        # A spec that differs must not be applied: Observe never changes anything.
        adopter["spec"]["forProvider"]["byteLength"] = 12
        apiserver.apply(adopter)
        time.sleep(12)  # a couple of polls
        obj = get(apiserver, "ids." + RANDOM, "adopter", ns)
        assert obj["status"]["atProvider"]["hex"] == original["hex"]
        assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]


def test_paused_resource_is_left_alone_until_unpaused(apiserver, testbed, local_provider, tmp_path):
    ns = apiserver.create_namespace("paused")
    target = tmp_path / "out" / "paused.txt"
    with local_controller(apiserver, testbed, local_provider, tmp_path, namespace=ns):
        apiserver.apply(file_mr("p", ns, target, "v1\n"))
        ready(apiserver, "files." + LOCAL, "p", ns)

        apiserver.kubectl("annotate", "files." + LOCAL, "p", "-n", ns, "crossplane.io/paused=true")
        wait_for(
            "ReconcilePaused",
            lambda: (
                harness.condition(get(apiserver, "files." + LOCAL, "p", ns), "Synced").get("reason")
                == "ReconcilePaused"
            ),
        )
        apiserver.apply(file_mr("p", ns, target, "v2\n"))
        target.unlink()
        time.sleep(10)  # more than two polls
        assert not target.exists()

        apiserver.kubectl("annotate", "files." + LOCAL, "p", "-n", ns, "crossplane.io/paused-")
        wait_for("unpaused file written", lambda: target.exists() and target.read_text() == "v2\n")
        ready(apiserver, "files." + LOCAL, "p", ns)

        # Deletion waits while paused too.
        apiserver.kubectl("annotate", "files." + LOCAL, "p", "-n", ns, "crossplane.io/paused=true")
        apiserver.kubectl("delete", "files." + LOCAL, "p", "-n", ns, "--wait=false")
        time.sleep(6)
        assert get(apiserver, "files." + LOCAL, "p", ns) is not None
        assert target.exists()
        apiserver.kubectl("annotate", "files." + LOCAL, "p", "-n", ns, "crossplane.io/paused-")
        wait_for("deleted once unpaused", lambda: get(apiserver, "files." + LOCAL, "p", ns) is None)
        assert not target.exists()


def test_interrupted_create_with_known_external_name_is_adopted(
    apiserver, testbed, random_provider, tmp_path
):
    """A pending create mark with an external name: import decides, nothing is created."""
    ns = apiserver.create_namespace("pending-import")
    with random_controller(apiserver, testbed, random_provider, tmp_path, namespace=ns):
        apiserver.apply(random_id("made", ns, byte_length=5))
        made = ready(apiserver, "ids." + RANDOM, "made", ns)["status"]["atProvider"]
        # As if a controller died right after creating it: the mark is set, the state is not.
        interrupted = random_id(
            "interrupted",
            ns,
            byte_length=5,
            annotations={
                "crossplane.io/external-create-pending": "2026-01-01T00:00:00.000000Z",
                "crossplane.io/external-name": made["b64Url"],
            },
        )
        apiserver.apply(interrupted)
        obj = ready(apiserver, "ids." + RANDOM, "interrupted", ns)
    assert obj["status"]["atProvider"]["hex"] == made["hex"]
    annotations = obj["metadata"]["annotations"]
    assert "crossplane.io/external-create-succeeded" in annotations
    events = json.loads(harness.events_text(apiserver, ns))["items"]
    imported = [e for e in events if e["reason"] == "ImportedExternalResource"]
    created = [e for e in events if e["reason"] == "CreatedExternalResource"]
    assert [e["involvedObject"]["name"] for e in imported] == ["interrupted"]
    assert [e["involvedObject"]["name"] for e in created] == ["made"]


def test_policies_without_create_or_update_only_report(
    apiserver, testbed, local_provider, tmp_path
):
    ns = apiserver.create_namespace("no-create-update")
    out = tmp_path / "out"
    with local_controller(apiserver, testbed, local_provider, tmp_path, namespace=ns):
        no_create = file_mr(
            "no-create", ns, out / "a.txt", "a\n", managementPolicies=["Observe", "Update"]
        )
        no_update = file_mr(
            "no-update",
            ns,
            out / "b.txt",
            "b\n",
            managementPolicies=["Observe", "Create", "Delete"],
        )
        apiserver.apply(no_create)
        apiserver.apply(no_update)
        ready(apiserver, "files." + LOCAL, "no-update", ns)

        def ready_message(name):
            obj = get(apiserver, "files." + LOCAL, name, ns)
            return harness.condition(obj, "Ready").get("message", "")

        wait_for("Create excluded", lambda: "exclude Create" in ready_message("no-create"))
        assert not (out / "a.txt").exists()

        no_update["spec"]["forProvider"]["content"] = "changed\n"
        apiserver.apply(no_update)
        wait_for("Update excluded", lambda: "exclude Update" in ready_message("no-update"))
        assert (out / "b.txt").read_text() == "b\n"


def test_empty_policies_pause_and_a_reconcile_request_is_handled_at_once(
    apiserver, testbed, local_provider, tmp_path
):
    ns = apiserver.create_namespace("request")
    out = tmp_path / "out"
    ctl = harness.Controller(
        kinds=harness.kinds_file(local_provider),
        apiserver=apiserver,
        testbed=testbed,
        workdir_root=tmp_path / "work",
        log=tmp_path / "controller.log",
        poll=120,  # only a wake-up can be quick
        namespace=ns,
    )
    with ctl:
        # managementPolicies: [] pauses (crossplane-runtime's IsPaused): nothing created.
        apiserver.apply(file_mr("idle", ns, out / "idle.txt", "i\n", managementPolicies=[]))
        apiserver.apply(file_mr("r", ns, out / "r.txt", "r\n"))
        ready(apiserver, "files." + LOCAL, "r", ns)
        idle = wait_for(
            "idle paused",
            lambda: (
                (o := get(apiserver, "files." + LOCAL, "idle", ns))
                and harness.condition(o, "Synced").get("reason") == "ReconcilePaused"
                and o
            ),
        )
        assert not (out / "idle.txt").exists()
        assert all(
            c["observedGeneration"] == idle["metadata"]["generation"]
            for c in idle["status"]["conditions"]
        )

        (out / "r.txt").unlink()  # drift only a pass (not the 120 s poll) would see soon
        annotation = "crossplane.io/reconcile-requested-at=token-1"
        apiserver.kubectl("annotate", "files." + LOCAL, "r", "-n", ns, annotation)
        wait_for(
            "request handled",
            lambda: (
                get(apiserver, "files." + LOCAL, "r", ns)["status"].get("lastHandledReconcileAt")
                == "token-1"
            ),
            timeout=30,
        )
        wait_for("file back", lambda: (out / "r.txt").exists(), timeout=30)
        assert "ReconcileRequestHandled" in harness.events_text(apiserver, ns)
