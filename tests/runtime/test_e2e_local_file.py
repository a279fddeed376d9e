"""End-to-end: local_file -- create, drift repair, update, delete, orphan."""

from __future__ import annotations

import json
import time

import pytest

from tests.runtime import harness
from tests.runtime.harness import get, is_ready, wait_for
from tests.runtime.local_mrs import GROUP, POLL, file_mr, local_controller

pytestmark = pytest.mark.e2e


def ready(apiserver, name, ns):
    return wait_for(
        f"File {name} Ready",
        lambda: (o := get(apiserver, "files." + GROUP, name, ns)) and is_ready(o) and o,
    )


LEGACY_DIFF_BASE = "jetgen.dev/last-handled-configuration"


def kopf_annotations(obj: dict) -> dict[str, str]:
    """Annotations kopf would write: its diff base, progress or marker (any prefix)."""
    annotations = obj["metadata"].get("annotations") or {}
    kopf_names = ("last-handled-configuration", "kopf-managed", "reconcile", "finalize")
    return {
        key: value
        for key, value in annotations.items()
        if key.startswith("kopf.zalando.org/") or key.partition("/")[2] in kopf_names
    }


def run_lifecycle(apiserver, testbed, provider, tmp_path, binary: str) -> None:
    ns = apiserver.create_namespace(f"file-{binary}")
    out = tmp_path / "out"
    target = out / "managed.txt"
    with local_controller(apiserver, testbed, provider, tmp_path, binary=binary, namespace=ns):
        apiserver.apply(file_mr("managed", ns, target, "v1\n"))
        obj = ready(apiserver, "managed", ns)
        assert target.read_text() == "v1\n"
        assert obj["status"]["atProvider"]["filename"] == str(target)
        assert (
            obj["metadata"]["annotations"]["crossplane.io/external-name"]
            == (obj["status"]["atProvider"]["id"])
        )

        # Someone deletes the file by hand: the next poll notices and recreates it.
        target.unlink()
        gone_at = time.monotonic()
        wait_for("file recreated", target.exists, timeout=POLL + 10, every=0.1)
        assert time.monotonic() - gone_at <= POLL + 5  # one poll plus one pass of slack
        assert target.read_text() == "v1\n"
        events = harness.events_text(apiserver, ns)
        assert "recreated" in events

        # A spec change is applied without waiting for the poll.
        apiserver.apply(file_mr("managed", ns, target, "v2\n"))
        wait_for("file updated", lambda: target.read_text() == "v2\n", timeout=POLL + 10)
        obj = wait_for(
            "observedGeneration 2",
            lambda: (
                (o := get(apiserver, "files." + GROUP, "managed", ns))
                and o["status"].get("observedGeneration") == 2
                and is_ready(o)
                and o
            ),
        )
        assert obj["status"]["atProvider"]["content"] == "v2\n"
        # Created, repaired and updated: kopf left no copy of the spec (no diff base) and
        # no bookkeeping of its own on the object (runtime/diffbase.py).
        assert not kopf_annotations(obj), kopf_annotations(obj)

        uid = obj["metadata"]["uid"]
        assert get(apiserver, "secret", f"jetgen-tfstate-{uid}", "default") is not None

        # Deleting the MR deletes the file (through the finalizer).
        apiserver.kubectl("delete", "files." + GROUP, "managed", "-n", ns, "--timeout=60s")
        assert not target.exists()
        assert get(apiserver, "files." + GROUP, "managed", ns) is None

        # Without Delete in managementPolicies the file outlives its MR.
        kept = out / "kept.txt"
        policies = ["Observe", "Create", "Update", "LateInitialize"]
        legacy = file_mr("kept", ns, kept, "keep me\n", managementPolicies=policies)
        # The diff base an older version wrote: removed the first time the object is seen.
        legacy["metadata"]["annotations"] = {LEGACY_DIFF_BASE: json.dumps({"spec": {}})}
        apiserver.apply(legacy)
        ready(apiserver, "kept", ns)
        wait_for(
            "the old diff base removed",
            lambda: not kopf_annotations(get(apiserver, "files." + GROUP, "kept", ns)),
            timeout=POLL + 10,
        )
        apiserver.kubectl("delete", "files." + GROUP, "kept", "-n", ns, "--timeout=60s")
        assert kept.read_text() == "keep me\n"
        assert get(apiserver, "files." + GROUP, "kept", ns) is None
        assert "OrphanedExternalResource" in harness.events_text(apiserver, ns)

    # State Secrets live in the controller's namespace ("default" here, no POD_NAMESPACE);
    # each goes when its MR is gone.  None ever lands in the MR's namespace.
    def state_secrets(namespace: str) -> list[str]:
        items = json.loads(
            apiserver.kubectl("get", "secrets", "-n", namespace, "-o", "json").stdout
        )["items"]
        return [
            s["metadata"]["name"]
            for s in items
            if f" {ns}/"
            in (s["metadata"].get("annotations") or {}).get("jetgen.dev/tfstate-of", "")
            or "tfstate" in s["metadata"]["name"]
            and namespace == ns
        ]

    assert state_secrets(ns) == []
    wait_for("state Secrets deleted", lambda: state_secrets("default") == [], timeout=60)


def test_local_file_lifecycle_with_tofu(apiserver, testbed, local_provider, tmp_path):
    run_lifecycle(apiserver, testbed, local_provider, tmp_path, "tofu")


def test_local_file_lifecycle_with_terraform_1_5(apiserver, testbed, local_provider, tmp_path):
    run_lifecycle(apiserver, testbed, local_provider, tmp_path, "terraform")
