"""The seed story: an LKE cluster declared as a Kubernetes resource.

Everything is real except the Linode cloud: the committed provider-linode package run as
the controller (``python -m linode_provider``), its committed CRDs, the real linode/linode
3.13.0 binary (from the test bed's mirror, driven by tofu), and the test bed's
kube-apiserver. The Linode API is the stand-in of tests/linode_standin, which hands out
kubeconfigs for that same kube-apiserver, so the connection Secret is checked with a real
``kubectl --kubeconfig``.

Figures (time to Ready, time from a deletion in the stand-in to Ready again at the
default 60 s poll, creates after a SIGKILL) are printed; run with ``-s`` to see them.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator

import pytest

from tests.linode_standin import StandIn
from tests.providers import lke, reference
from tests.providers.lke import (
    CLUSTERS,
    GROUP,
    NODEPOOLS,
    cluster_mr,
    external_id,
    kubectl_with,
    pool_ids,
    provider_config,
    ready,
    standin_cluster,
)
from tests.runtime import harness

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def seed_api(reference_apiserver):
    """The reference control plane with provider-linode's CRDs."""
    api = reference_apiserver
    harness.install_crds(api, reference.LINODE)
    return api


@pytest.fixture
def standin(seed_api) -> Iterator[StandIn]:
    access = lke.admin_access(seed_api)
    api_token = f"lin-{secrets.token_hex(16)}"
    with StandIn(api_token, access, node_ready_seconds=1.0, kubeconfig_seconds=2.0) as stand_in:
        yield stand_in
        assert stand_in.problems() == []


def test_cluster_ready_kubeconfig_update_recreate_node_pool_and_delete(
    testbed, seed_api, standin, tmp_path
):
    """Wrong token refused and recovered; Ready with every pool and node ID; kubectl with
    the Secret; a pool resized in place; deleted in the console -> recreated; a NodePool
    by clusterIdRef; all MRs deleted -> nothing left in the stand-in."""
    api = seed_api
    namespace = api.create_namespace("seed")
    label = f"seed-{namespace[-8:]}"
    wrong = f"lin-wrong-{secrets.token_hex(8)}"
    provider_config(api, namespace, standin, wrong)
    standin.configure(page_size=1)  # every list of two or more takes the provider two pages
    # External pools (the NodePool kind below) carry this tag; the cluster leaves them be.
    api.apply(cluster_mr("seed", namespace, label, [2, 1], externalPoolTags=["external"]))

    with lke.package_controller(testbed, api, tmp_path, namespace, poll=5) as ctl:
        # --- a wrong token: refused in words, never shown --------------------------------
        def refused():
            obj = harness.get(api, CLUSTERS, "seed", namespace)
            synced = harness.condition(obj, "Synced")
            return synced if synced.get("status") == "False" else None

        synced = harness.wait_for("Synced=False for the wrong token", refused, 120)
        assert "Invalid Token" in synced["message"], synced
        assert standin.creates()["clusters"] == {}
        refusals = [c for c in standin.calls() if c["status"] == 401]
        assert refusals, "the provider never reached the stand-in"

        fixed_at = time.monotonic()
        api.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "linode-token", "namespace": namespace},
                "stringData": {"token": standin.token},
            }
        )
        cluster = harness.wait_for(
            "Cluster Ready after the token was fixed",
            lambda: ready(api, CLUSTERS, "seed", namespace),
            180,
        )
        to_ready = time.monotonic() - fixed_at
        for secret in (wrong, standin.token):
            assert secret not in json.dumps(cluster), "a token in the MR"
            assert secret not in harness.events_text(api, namespace), "a token in an event"
            assert secret not in ctl.logs(), "a token in the controller log"

        # --- Ready: every pool ID and node ID in status.atProvider ---------------------
        cluster_id = external_id(cluster)
        remote = lke.same_as_standin(standin, cluster, label)
        at_provider = cluster["status"]["atProvider"]
        assert sorted(pool_ids(at_provider)) == sorted(p["id"] for p in remote["pools"])
        assert at_provider["status"] == "ready"
        assert standin.creates()["clusters"] == {label: 1}

        # --- the connection Secret's kubeconfig works with kubectl as it is ------------
        kubeconfig, user, nodes = lke.kubeconfig_works(
            testbed, api, namespace, "seed-kubeconfig", cluster_id, tmp_path
        )
        namespaces = kubectl_with(testbed, kubeconfig, tmp_path, "get", "namespaces", "-o", "name")
        assert f"namespace/{namespace}" in namespaces.split()
        print(
            f"\nseed story: Cluster Ready {to_ready:.1f} s after the token was fixed; "
            f"kubectl --kubeconfig <Secret>: get namespaces lists {len(namespaces.split())}, "
            f"auth whoami = {user}, get nodes = {len(nodes)} nodes of lke{cluster_id}"
        )

        # --- the API failing for a while: reported in its words, then healed ------------
        standin.fail_next(2, status=500, reason="Internal Server Error (stand-in)",
                          method="GET", path=f"/v4/lke/clusters/{cluster_id}")  # fmt: skip
        failing = harness.wait_for(
            "Synced=False while the API fails",
            lambda: "Internal Server Error (stand-in)" in harness.condition(
                harness.get(api, CLUSTERS, "seed", namespace), "Synced").get("message", ""),
            60,
        )  # fmt: skip
        assert failing
        healed = harness.wait_for(
            "Ready again after the failures",
            lambda: ready(api, CLUSTERS, "seed", namespace),
            90,
        )
        assert external_id(healed) == cluster_id
        assert standin.creates()["clusters"] == {label: 1}

        # --- a pool's count changed in the spec: updated in place ----------------------
        first_pools = pool_ids(at_provider)
        api.kubectl(
            "patch", CLUSTERS, "seed", "-n", namespace, "--type=json", "-p",
            json.dumps([{"op": "replace", "path": "/spec/forProvider/pool/0/count",
                         "value": 3}]),
        )  # fmt: skip

        def resized():
            obj = ready(api, CLUSTERS, "seed", namespace)
            if obj and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]:
                pools = obj["status"]["atProvider"]["pool"]
                return obj if [p["count"] for p in pools] == [3, 1] else None
            return None

        resized_cluster = harness.wait_for("pool 0 resized to 3", resized, 120)
        assert external_id(resized_cluster) == cluster_id
        assert pool_ids(resized_cluster["status"]["atProvider"]) == first_pools
        remote = standin_cluster(standin, cluster_id)
        assert sorted(len(p["nodes"]) for p in remote["pools"]) == [1, 3]
        assert standin.creates()["clusters"] == {label: 1}
        assert standin.creates()["pools"] == {str(cluster_id): 2}
        assert any(c["method"] == "PUT" and "/pools/" in c["path"] for c in standin.calls())

        # --- the pool resized out of band (web console): set back to the spec, in place --
        standin.resize_pool(first_pools[0], 1)

        def corrected():
            pools = {p["id"]: p for p in standin_cluster(standin, cluster_id)["pools"]}
            return len(pools[first_pools[0]]["nodes"]) == 3 and ready(
                api, CLUSTERS, "seed", namespace
            )

        harness.wait_for("the out-of-band resize undone", corrected, 60)
        assert sorted(p["id"] for p in standin_cluster(standin, cluster_id)["pools"]) == sorted(
            first_pools
        )
        assert standin.creates()["pools"] == {str(cluster_id): 2}

        # --- deleted in the web console: recreated, Ready again ------------------------
        again, back = lke.recreated_after_console_delete(
            api, standin, "seed", namespace, label, 120
        )
        new_id = external_id(again)
        assert standin.creates()["clusters"] == {label: 2}
        assert sorted(len(p["nodes"]) for p in standin_cluster(standin, new_id)["pools"]) == [
            1,
            3,
        ]
        print(f"seed story: deleted in the stand-in -> Ready again in {back:.1f} s (poll 5 s)")

        # --- a NodePool that names the Cluster by clusterIdRef --------------------------
        api.apply(
            {
                "apiVersion": f"{GROUP}/v1alpha1",
                "kind": "NodePool",
                "metadata": {"name": "extra", "namespace": namespace},
                "spec": {
                    "forProvider": {
                        "clusterIdRef": {"name": "seed"},
                        "type": "g6-standard-4",
                        "nodeCount": 2,
                        "tags": ["external"],
                    },
                    "providerConfigRef": {"kind": "ProviderConfig", "name": "linode"},
                },
            }
        )
        pool = harness.wait_for(
            "NodePool Ready", lambda: ready(api, NODEPOOLS, "extra", namespace), 120
        )
        assert int(pool["status"]["atProvider"]["clusterId"]) == new_id
        remote_pools = standin_cluster(standin, new_id)["pools"]
        assert len(remote_pools) == 3
        (extra,) = [p for p in remote_pools if p["tags"] == ["external"]]
        assert extra["count"] == 2 and extra["type"] == "g6-standard-4"
        # The cluster leaves the external pool alone on its next polls.
        time.sleep(12)
        assert len(standin_cluster(standin, new_id)["pools"]) == 3
        assert harness.is_ready(harness.get(api, CLUSTERS, "seed", namespace))

        # --- the MRs deleted: nothing left in the stand-in -----------------------------
        calls = standin.calls()
        assert any(c["path"].endswith("/pools") and c["query"].get("page") == "2" for c in calls)
        # After deleting a cluster the provider reads only page 1 of the node-deletion
        # events (safe with the API's 100 per page, not with 1): back to the default.
        standin.configure(page_size=100)
        api.kubectl("delete", NODEPOOLS, "extra", "-n", namespace, "--wait=false")
        harness.wait_for(
            "NodePool gone", lambda: harness.get(api, NODEPOOLS, "extra", namespace) is None, 120
        )
        assert len(standin_cluster(standin, new_id)["pools"]) == 2
        lke.delete_cluster_mr(api, standin, "seed", namespace, 180)
        calls = standin.calls()
        # After a delete the provider waits for the nodes' deletion events, filtered.
        filtered = [json.loads(c["filter"]) for c in calls if c["path"] == "/v4/account/events"]
        assert {"action": "linode_delete", "entity.type": "linode"}.items() <= filtered[-1].items()
        deleted_nodes = {e["entity"]["id"] for e in standin.events()}
        assert len(deleted_nodes) >= 3 + 4 + 2  # first cluster, second cluster, NodePool
        assert "DeletedExternalResource" in harness.events_text(api, namespace)
        for secret in (wrong, standin.token):
            assert secret not in ctl.logs()
            assert secret not in harness.events_text(api, namespace)


def test_deleted_in_the_console_is_back_within_the_default_poll_interval(
    testbed, seed_api, standin, tmp_path
):
    """The controller's default poll interval (60 s): a cluster deleted by hand is noticed at
    the next poll, within one interval of the deletion, created again and Ready."""
    api = seed_api
    namespace = api.create_namespace("seed-poll")
    label = f"poll-{namespace[-8:]}"
    provider_config(api, namespace, standin, standin.token)
    with lke.package_controller(testbed, api, tmp_path, namespace, poll=None) as ctl:
        assert "--poll-interval" not in ctl.args
        applied = time.monotonic()
        api.apply(cluster_mr("seed", namespace, label, [1, 1]))
        cluster = harness.wait_for(
            "Cluster Ready", lambda: ready(api, CLUSTERS, "seed", namespace), 180
        )
        to_ready = time.monotonic() - applied
        assert harness.is_ready(cluster)

        deleted_wall = time.time()
        _, back = lke.recreated_after_console_delete(
            api, standin, "seed", namespace, label, 60 + to_ready + 30, every=0.5
        )
        create = next(
            c for c in reversed(standin.calls())
            if c["method"] == "POST" and c["path"] == "/v4/lke/clusters"
        )  # fmt: skip
        noticed = create["at"] - deleted_wall
        # Deleted right after a pass (the worst case): the next poll, one interval later,
        # finds it gone; the create follows within that pass (plugin read, tofu plan).
        assert noticed <= 60 + 10, f"the new create came {noticed:.1f} s after the deletion"
        assert back <= 60 + to_ready + 15
        assert standin.creates()["clusters"] == {label: 2}
        print(
            f"\nseed story, default poll (60 s): Cluster Ready {to_ready:.1f} s after apply; "
            f"deleted in the stand-in -> new create after {noticed:.1f} s, Ready again "
            f"after {back:.1f} s"
        )
        lke.delete_cluster_mr(api, standin, "seed", namespace, 120)


def test_sigkill_right_after_the_create_request_creates_exactly_one_cluster(
    testbed, seed_api, standin, tmp_path
):
    """The controller (and its tofu and provider) killed while the stand-in has taken the
    create but the provider still waits for the kubeconfig: after a restart there is still
    exactly one cluster; the controller does not guess, and adopts it once told its ID."""
    api = seed_api
    namespace = api.create_namespace("seed-kill")
    label = f"kill-{namespace[-8:]}"
    provider_config(api, namespace, standin, standin.token)
    standin.configure(kubeconfig_seconds=8.0)  # the provider waits inside the create
    api.apply(cluster_mr("seed", namespace, label, [1]))

    ctl = lke.package_controller(testbed, api, tmp_path, namespace, poll=3).start()
    try:
        harness.wait_for(
            "the create request at the stand-in",
            lambda: standin.creates()["cluster_requests"].get(label),
            120,
            every=0.05,
        )
        ctl.kill()
    finally:
        ctl.stop()
    assert standin.creates()["clusters"] == {label: 1}
    (remote,) = standin.clusters()
    standin.configure(kubeconfig_seconds=2.0)

    with lke.package_controller(testbed, api, tmp_path, namespace, poll=3) as restarted:
        obj = harness.wait_for(
            "the restarted controller's verdict", lambda: lke.verdict(api, "seed", namespace), 120
        )
        time.sleep(10)  # several polls: still no second create
        assert standin.creates()["cluster_requests"] == {label: 1}
        assert standin.creates()["clusters"] == {label: 1}
        said = lke.adopt_if_refused(api, obj, "seed", namespace, remote["id"])
        adopted = harness.wait_for(
            "Cluster Ready on the one cluster",
            lambda: ready(api, CLUSTERS, "seed", namespace),
            120,
        )
        assert external_id(adopted) == remote["id"]
        assert standin.creates()["cluster_requests"] == {label: 1}
        print(
            f"\nseed story, SIGKILL after the create request: {standin.creates()['clusters']} "
            f"created; the restarted controller reported: "
            f"{said[:200]!r}"
        )
        lke.delete_cluster_mr(api, standin, "seed", namespace, 120)
        assert restarted.proc is not None
