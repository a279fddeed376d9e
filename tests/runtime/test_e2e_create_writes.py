"""What a new MR writes to the apiserver, counted on the wire.

A controller talks to the real apiserver through the fault proxy (nothing armed: it only
records), a dozen random_id MRs are created at once, and every request is looked at once
they are Ready and a few polls have passed.  Each new MR must cost exactly:

* two PATCHes of the MR: the create-pending mark with the finalizer (before anything is
  created; kopf used to put the finalizer on with a PATCH of its own) and the succeeded
  mark with the external name (after the state is saved);
* one status write with the final Ready/Synced (and at most one ``Creating`` notice
  before it, for a create still running two seconds after its run began);
* one POST of its state Secret (never a PUT: nothing changed after the create);
* one event (``CreatedExternalResource``);

and the polls after it write nothing.  Deleted, every MR is destroyed and goes (the
deletion handler runs behind the finalizer the pass put on).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from typing import Any

import pytest

from tests.runtime import harness
from tests.runtime.faultproxy import FaultProxy, Seen
from tests.runtime.harness import Controller, get, is_ready, wait_for
from tests.runtime.random_mrs import GROUP

pytestmark = pytest.mark.e2e

POLL = 2.0
COUNT = 12
PENDING = "crossplane.io/external-create-pending"
SUCCEEDED = "crossplane.io/external-create-succeeded"
EXTERNAL_NAME = "crossplane.io/external-name"
FINALIZER = "jetgen.dev/finalizer"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def mr(name: str, ns: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "Id",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"forProvider": {"byteLength": 4}},
    }


def what(seen: Seen, ns: str) -> str:
    """A write, named by what it does (the MR's name left out)."""
    path = seen.path.split("?")[0]
    body = json.loads(seen.body or b"{}")
    if re.fullmatch(rf"/apis/{GROUP}/v1alpha1/namespaces/{ns}/ids/[^/]+/status", path):
        value = body[0]["value"] if isinstance(body, list) else body.get("status", {})
        reasons = [c["reason"] for c in value.get("conditions", []) if c["type"] == "Ready"]
        return f"{seen.method} status {'/'.join(reasons)}"
    if re.fullmatch(rf"/apis/{GROUP}/v1alpha1/namespaces/{ns}/ids/[^/]+", path):
        return f"{seen.method} mr {'+'.join(changed(body))}"
    if path.endswith("/secrets") or "/secrets/" in path:
        kind = "state" if "tfstate" in path or b"tfstate" in seen.body else "other"
        return f"{seen.method} {kind} secret"
    if path.endswith("/events"):
        return f"{seen.method} event {body.get('reason')}"
    return f"{seen.method} {path}"


def changed(patch: Any) -> list[str]:
    """The annotations a patch of the MR sets or removes, and ``finalizer`` if it adds
    ours: a merge patch (the runtime's) or a JSON patch (kopf's)."""
    if isinstance(patch, dict):
        meta = patch.get("metadata") or {}
        parts = sorted(meta.get("annotations") or {})
        finalizers = meta.get("finalizers") or []
    else:
        ops = [op for op in patch if op["op"] != "test"]
        prefix = "/metadata/annotations/"
        parts = sorted(
            op["path"][len(prefix) :].replace("~1", "/").replace("~0", "~")
            for op in ops
            if op["path"].startswith(prefix)
        )
        finalizers = [
            value
            for op in ops
            if op["path"].startswith("/metadata/finalizers")
            for value in (
                op.get("value") if isinstance(op.get("value"), list) else [op.get("value")]
            )
        ]
    return parts + (["finalizer"] if FINALIZER in finalizers else [])


def writes(proxy: FaultProxy, ns: str, since: int = 0) -> Counter[str]:
    with proxy._lock:
        seen = proxy.seen[since:]
    return Counter(what(s, ns) for s in seen if s.method in WRITES and s.status < 400)


def test_a_new_mr_costs_two_mr_patches_one_status_one_secret_and_one_event(
    apiserver, testbed, random_provider, tmp_path
):
    ns = apiserver.create_namespace("create-writes")
    proxy = FaultProxy(apiserver, victim=lambda: None).start()
    ctl = Controller(
        kinds=harness.kinds_file(random_provider),
        apiserver=apiserver,
        testbed=testbed,
        workdir_root=tmp_path / "work",
        log=tmp_path / "controller.log",
        poll=POLL,
        namespace=ns,
    )
    ctl.args[ctl.args.index("--kubeconfig") + 1] = str(
        proxy.write_kubeconfig(tmp_path / "proxy.kubeconfig")
    )
    names = [f"id-{i:02d}" for i in range(COUNT)]
    try:
        with ctl:
            wait_for("the controller serving", lambda: "serving" in ctl.logs(), timeout=60)
            started = len(proxy.seen)  # its start-up's own requests left out
            apiserver.apply([mr(n, ns) for n in names])
            wait_for(
                "all Ready",
                lambda: all(is_ready(get(apiserver, "ids." + GROUP, n, ns)) for n in names),
                timeout=120,
            )
            time.sleep(2 * POLL)  # a write that follows Ready lands in here
            created = writes(proxy, ns, since=started)
            settled_from = len(proxy.seen)
            time.sleep(3 * POLL)  # every MR polled again, at least twice
            after = writes(proxy, ns, since=settled_from)
            apiserver.kubectl("delete", "ids." + GROUP, "--all", "-n", ns, "--wait=false")
            wait_for(
                "all deleted",
                lambda: not apiserver.get_json("ids." + GROUP, "-n", ns)["items"],
                timeout=120,
            )
            deleted = writes(proxy, ns, since=settled_from)["POST event DeletedExternalResource"]
    finally:
        proxy.stop()

    final = "PATCH status Available"
    expected = {
        f"PATCH mr {PENDING}+finalizer": COUNT,
        f"PATCH mr {SUCCEEDED}+{EXTERNAL_NAME}": COUNT,
        final: COUNT,
        "POST state secret": COUNT,
        "POST event CreatedExternalResource": COUNT,
    }
    notices = created.pop("PATCH status Creating", 0)
    assert dict(created) == expected
    assert notices <= COUNT
    assert after == Counter()
    assert deleted == COUNT
