"""End-to-end: the start's sweep of state Secrets whose MR was deleted while no controller ran.

It lists the state Secrets, then each kind's MRs once, and keeps a Secret whose MR's UID is
listed -- or that it cannot judge: never one whose MR exists, whatever its annotation says.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from jetgen.runtime import kube, kubeauth, state

from tests.runtime.harness import get, is_ready, wait_for
from tests.runtime.local_mrs import GROUP, file_mr, local_controller

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


def test_a_start_reads_the_states_in_one_list_and_never_an_older_copy(apiserver):
    """StateStore.prime on the real apiserver: after one list, an MR's first load makes
    no request; a second load, or the load of a Secret the store wrote or read before
    the list, asks the apiserver (the listed copy may be older); a write drops the
    listed copy; a copy whose label names another UID is refused as a GET's would be;
    ``keep_for`` after the list or the last load it answered, every load asks again."""
    state_ns = apiserver.create_namespace("prime-state")

    def mr(name: str) -> dict:
        meta = {"name": name, "namespace": "tenant", "uid": str(uuid.uuid4())}
        return {"apiVersion": f"{GROUP}/v1alpha1", "kind": "File", "metadata": meta}

    mrs = {name: mr(name) for name in ("a", "b", "c", "d", "e")}

    async def main() -> None:
        client = kube.KubeClient(kubeauth.load(str(apiserver.kubeconfig)))
        requests: list[int] = []
        client.observer = lambda status, waited: requests.append(status)
        try:
            first = state.StateStore(client, state_ns)  # the controller before the restart
            for name, body in mrs.items():
                await first.save(body, f"{name} v1".encode(), settled=f"mark-{name}", new=True)
            # A Secret of d's name that names another UID: not d's state.
            path = kube.secret_path(state_ns, state.secret_name(mrs["d"]["metadata"]["uid"]))
            secret = await client.get(path)
            secret["metadata"]["labels"][state.STATE_LABEL] = "someone-else"
            await client.replace(path, secret)

            store = state.StateStore(client, state_ns)  # the restarted controller
            await store.save(mrs["a"], b"a v2", settled="mark-a2")  # before the list
            assert await store.load(mrs["b"]) == state.Stored(b"b v1", "mark-b")
            await first.save(mrs["b"], b"b v2")  # behind this store's back, before the list
            listed = await store.prime(keep_for=300)
            assert {s["metadata"]["name"] for s in listed} == {
                state.secret_name(b["metadata"]["uid"]) for b in mrs.values()
            }
            assert all("data" not in s for s in listed)  # the sweep gets metadata only

            del requests[:]
            assert await store.load(mrs["c"]) == state.Stored(b"c v1", "mark-c")
            assert requests == []  # from the list
            with pytest.raises(state.UntrustedState):
                await store.load(mrs["d"])
            assert requests == []
            # Written or read before the list: asked again, so the newest is found.
            assert await store.load(mrs["a"]) == state.Stored(b"a v2", "mark-a2")
            assert await store.load(mrs["b"]) == state.Stored(b"b v2", None)
            assert len(requests) == 2
            # Loaded once: the next load asks.
            assert await store.load(mrs["c"]) == state.Stored(b"c v1", "mark-c")
            assert len(requests) == 3
            # Written after the list: the listed copy is gone, the load asks.
            await store.save(mrs["e"], b"e v2", settled="mark-e2")
            del requests[:]
            assert await store.load(mrs["e"]) == state.Stored(b"e v2", "mark-e2")
            assert len(requests) == 1

            # Kept for no time: every load asks.
            late = state.StateStore(client, state_ns)
            await late.prime(keep_for=0)
            del requests[:]
            assert await late.load(mrs["c"]) == state.Stored(b"c v1", "mark-c")
            assert len(requests) == 1

            # Kept for keep_for after the list or after the last load it answered: a
            # start whose first passes keep coming (its MRs handed over slowly) keeps
            # the rest for them; once none came for keep_for, every load asks.
            slow = state.StateStore(client, state_ns)
            await slow.prime(keep_for=5.0)
            del requests[:]
            await asyncio.sleep(3.0)
            assert await slow.load(mrs["c"]) == state.Stored(b"c v1", "mark-c")
            await asyncio.sleep(3.0)  # 6 s after the list, 3 s after the last load
            assert await slow.load(mrs["e"]) == state.Stored(b"e v2", "mark-e2")
            assert requests == []
            await asyncio.sleep(6.0)  # 6 s after the last load
            assert await slow.load(mrs["a"]) == state.Stored(b"a v2", "mark-a2")
            assert len(requests) == 1
        finally:
            await client.close()

    asyncio.run(main())
