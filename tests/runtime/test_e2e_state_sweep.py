"""End-to-end: the start's sweep of state Secrets whose MR was deleted while no controller ran.

It lists the state Secrets, then each kind's MRs once, and keeps a Secret whose MR's UID is
listed -- or that it cannot judge: never one whose MR exists, whatever its annotation says.
"""

from __future__ import annotations

import json

import pytest
from jetgen.runtime import state

from tests.runtime.harness import get, is_ready, wait_for
from tests.runtime.test_e2e_local_file import GROUP, file_mr, local_controller

pytestmark = pytest.mark.e2e

FILES = "files." + GROUP


def state_secrets(apiserver, namespace: str) -> dict[str, dict]:
    items = json.loads(apiserver.kubectl("get", "secrets", "-n", namespace, "-o", "json").stdout)
    return {s["metadata"]["name"]: s for s in items["items"]}


def uid(apiserver, name: str, ns: str) -> str:
    obj = get(apiserver, FILES, name, ns)
    assert obj is not None
    return obj["metadata"]["uid"]


def planted(name: str, namespace: str, owner: str, label: str | None) -> dict:
    meta: dict = {"name": name, "namespace": namespace, "annotations": {state.STATE_OF: owner}}
    if label is not None:
        meta["labels"] = {state.STATE_LABEL: label}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"x": "y"}}


def test_sweep_removes_only_state_of_deleted_mrs(apiserver, testbed, local_provider, tmp_path):
    ns, state_ns = apiserver.create_namespace("sweep"), apiserver.create_namespace("sweep-state")
    out = tmp_path / "out"
    args = ["--state-namespace", state_ns]
    ctl = local_controller(
        apiserver, testbed, local_provider, tmp_path, namespace=ns, extra_args=args
    )
    names = ("keep", "gone", "again")
    with ctl:
        for name in names:
            apiserver.apply(file_mr(name, ns, out / name, f"{name}\n"))
        for name in names:
            wait_for(f"{name} Ready", lambda n=name: is_ready(get(apiserver, FILES, n, ns)))
    uids = {name: uid(apiserver, name, ns) for name in names}
    for name in names:
        assert state.secret_name(uids[name]) in state_secrets(apiserver, state_ns)

    # While no controller runs: two MRs go (their finalizer taken off by hand), one of
    # them comes back under the same name (a new UID), and Secrets are planted.
    for name in ("gone", "again"):
        apiserver.kubectl(
            "patch", FILES, name, "-n", ns, "--type=merge", "-p", '{"metadata":{"finalizers":null}}'
        )
        apiserver.kubectl("delete", FILES, name, "-n", ns, "--timeout=30s")
    apiserver.apply(file_mr("again", ns, out / "again", "again, new\n"))
    ours = f"{GROUP}/v1alpha1 File"
    plants = {
        # Not in the format the controller writes: not judged.
        "planted-garbage": ("garbage", "u1"),
        # Another provider's kind: not ours to judge.
        "planted-foreign": (f"other.example/v1 File {ns}/keep", "u2"),
        # A namespace no request path can name: not judged.
        "planted-dots": (f"{ours} ../keep", "u3"),
        # Names an MR that is gone, but its UID is a live MR's: the UID decides, kept.
        "planted-liar": (f"{ours} {ns}/gone", uids["keep"]),
        # Ours, and no MR has that UID: an orphan.
        "planted-orphan": (f"{ours} {ns}/ghost", "0a0a0a0a-0000-0000-0000-000000000000"),
    }
    for name, (owner, label) in plants.items():
        apiserver.apply(planted(name, state_ns, owner, label))
    # Without the state label it is not a state Secret at all.
    apiserver.apply(planted("unlabelled", state_ns, f"{ours} {ns}/ghost", None))

    with ctl:
        wait_for(
            "the sweep's log line",
            lambda: "removed 3 state Secrets of deleted managed resources" in ctl.logs(),
        )
        left = state_secrets(apiserver, state_ns)
        assert state.secret_name(uids["gone"]) not in left
        assert state.secret_name(uids["again"]) not in left  # the earlier "again"'s
        assert "planted-orphan" not in left
        kept = {state.secret_name(uids["keep"]), "unlabelled", *plants} - {"planted-orphan"}
        assert kept <= set(left)
        new_again = uid(apiserver, "again", ns)
        wait_for(
            "the new 'again' Ready with its own state Secret",
            lambda: (
                is_ready(get(apiserver, FILES, "again", ns))
                and state.secret_name(new_again) in state_secrets(apiserver, state_ns)
            ),
        )
        assert is_ready(get(apiserver, FILES, "keep", ns))
        for name in ("keep", "again"):
            apiserver.kubectl("delete", FILES, name, "-n", ns, "--timeout=60s")
    assert "sweep failed" not in ctl.logs()
