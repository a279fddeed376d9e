"""The seed story in a Pod: provider-linode's own image on the test bed's node.

provider-linode's image is built daemonless by its own `make image image-tar` (as
provider-random's is in test_e2e_node_provider.py) and imported into the node's
containerd; its committed install manifests are applied through a kustomize overlay that
only sets a 5 s poll (JETGEN_POLL_INTERVAL, as a user would). The controller then runs in
its Pod with its own ServiceAccount and the generated RBAC, driving the real linode/linode
3.13.0 binary from the image's mirror against the Linode API stand-in.

The stand-in listens on the node's bridge address (one of this machine's own: pod traffic
never leaves the machine); its clusters' kubeconfigs point at the node's apiserver, on the
same bridge, so the provider inside the Pod waits there for the clusters' nodes, and the
connection Secret's kubeconfig works with kubectl from the host.

Figures (Pod to Ready, cluster to Ready, drift back, what a killed Pod left) are printed;
run with ``-s`` to see them.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.linode_standin import StandIn
from tests.providers import lke, reference
from tests.providers.lke import (
    CLUSTERS,
    cluster_mr,
    external_id,
    provider_config,
    ready,
)
from tests.runtime import harness

pytestmark = pytest.mark.e2e

SYSTEM = "provider-linode-system"
DEPLOYMENT = "provider-linode"
LEASE = "jetgen-linode"  # the Deployment's leader-election Lease (JETGEN_LEADER_ELECT)
PROVIDER_CONFIGS = "providerconfigs.linode.m.jetgen.dev"
POLL = "5"  # seconds between drift checks (the default, 60, would make the test slow)


@dataclass
class LinodePod:
    node: object  # tests.testbed.node.Node
    standin: StandIn

    @property
    def api(self):
        return self.node.api


def overlay(folder: Path) -> Path:
    """A kustomization over the committed install/ that only sets the poll interval."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {"name": "JETGEN_POLL_INTERVAL", "value": POLL}
    patch = [{"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": env}]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(reference.LINODE / "install", folder)],
        "patches": [
            {"target": {"kind": "Deployment", "name": DEPLOYMENT}, "patch": json.dumps(patch)}
        ],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return folder


@pytest.fixture(scope="module")
def linode_pod(node_slot, linode_image, tmp_path_factory) -> Iterator[LinodePod]:
    """provider-linode installed on the node and Available, the stand-in listening on the
    bridge; everything installed is deleted afterwards (the node itself stays for the
    other node tests)."""
    node = node_slot.get()
    api = node.api
    node.import_image(linode_image.tarball)
    install = overlay(tmp_path_factory.mktemp("linode-install"))
    applied = time.monotonic()
    api.kubectl("apply", "--server-side", "-k", str(install))
    harness.wait_for("the Deployment Available", lambda: available(api), 180, every=0.5)
    to_available = time.monotonic() - applied
    (pod,) = pods(api)
    print(
        f"\nprovider-linode on the node: image {linode_image.tarball.stat().st_size / 2**20:.0f}"
        f" MiB (tarball), built in {linode_image.seconds:.0f} s; Deployment Available "
        f"{to_available:.1f} s after apply; Pod created -> Ready {pod_to_ready(pod):.0f} s"
    )
    access = lke.admin_access(api)
    token = f"lin-{secrets.token_hex(16)}"
    standin = StandIn(
        token, access, host=node.network.address, node_ready_seconds=1.0, kubeconfig_seconds=2.0
    )
    standin.start()
    try:
        yield LinodePod(node, standin)
        assert standin.problems() == []
    finally:
        try:
            uninstall(api, install)
        finally:
            standin.stop()


def uninstall(api, install: Path) -> None:
    """Managed resources, then ProviderConfigs, first, while the controller can still
    destroy them and drop its finalizers (else those would hold the CRDs forever; one it
    cannot release in time loses its finalizer), then everything the overlay installed,
    waited for until gone."""
    for resource in (CLUSTERS, PROVIDER_CONFIGS):
        delete_all(api, resource)
    api.kubectl("delete", "-k", str(install), "--ignore-not-found", "--wait=false")
    api.kubectl("delete", "clusterrolebinding", "lke-admin", "--ignore-not-found")
    api.kubectl("delete", "serviceaccount", "lke-admin", "-n", "kube-system",
                "--ignore-not-found")  # fmt: skip

    def gone() -> bool:
        crds = api.get_json("crds")["items"]
        linode = [c for c in crds if c["spec"]["group"].endswith("linode.m.jetgen.dev")]
        return not linode and harness.get(api, "namespace", SYSTEM, None) is None

    harness.wait_for("provider-linode's namespace and CRDs gone", gone, 240)


def delete_all(api, resource: str) -> None:
    api.kubectl("delete", resource, "--all", "-A", "--wait=false", "--ignore-not-found")
    try:
        harness.wait_for(
            f"every {resource} gone", lambda: not api.get_json(resource, "-A")["items"], 120
        )
    except AssertionError:
        for obj in api.get_json(resource, "-A")["items"]:
            meta = obj["metadata"]
            api.kubectl("patch", resource, meta["name"], "-n", meta["namespace"],
                        "--type=merge", "-p", '{"metadata":{"finalizers":null}}')  # fmt: skip


def available(api) -> bool:
    status = api.get_json("deployment", DEPLOYMENT, "-n", SYSTEM).get("status", {})
    return status.get("availableReplicas", 0) >= 1 and status.get("updatedReplicas", 0) >= 1


def pods(api) -> list[dict]:
    selector = f"app.kubernetes.io/name={DEPLOYMENT}"
    return api.get_json("pods", "-n", SYSTEM, "-l", selector)["items"]


def pod_to_ready(pod: dict) -> float:
    """Seconds from the Pod's creation to its Ready condition (the apiserver's clock, in
    whole seconds)."""
    (ready_condition,) = [c for c in pod["status"]["conditions"] if c["type"] == "Ready"]
    assert ready_condition["status"] == "True"
    created = datetime.fromisoformat(pod["metadata"]["creationTimestamp"])
    return (datetime.fromisoformat(ready_condition["lastTransitionTime"]) - created).seconds


def holder(api) -> str:
    lease = api.get_json("lease", LEASE, "-n", SYSTEM)
    return lease["spec"].get("holderIdentity") or ""


def pod_logs(api) -> str:
    return "".join(
        api.kubectl("logs", "-n", SYSTEM, p["metadata"]["name"]).stdout for p in pods(api)
    )


def test_lke_cluster_from_the_pod_ready_kubeconfig_recreated_after_drift_and_deleted(
    testbed, linode_pod, tmp_path
):
    api, standin = linode_pod.api, linode_pod.standin
    (pod,) = pods(api)
    assert pod["spec"]["serviceAccountName"] == DEPLOYMENT
    assert pod["spec"]["nodeName"] == linode_pod.node.name
    namespace = api.create_namespace("pod-lke")
    label = f"pod-{namespace[-8:]}"
    provider_config(api, namespace, standin, standin.token)
    applied = time.monotonic()
    api.apply(cluster_mr("seed", namespace, label, [2, 1]))

    # --- Ready: the pools and nodes of the one cluster in the stand-in ------------------
    cluster = harness.wait_for(
        "Cluster Ready", lambda: ready(api, CLUSTERS, "seed", namespace), 240
    )
    to_ready = time.monotonic() - applied
    cluster_id = external_id(cluster)
    lke.same_as_standin(standin, cluster, label)
    assert standin.creates()["clusters"][label] == 1
    assert standin.calls(), "the provider never reached the stand-in"

    # --- the connection Secret: the decoded kubeconfig, working with kubectl -------------
    _, user, nodes = lke.kubeconfig_works(
        testbed, api, namespace, "seed-kubeconfig", cluster_id, tmp_path
    )

    # --- deleted by hand in the stand-in: recreated, Ready again -------------------------
    again, back = lke.recreated_after_console_delete(api, standin, "seed", namespace, label, 180)

    # --- all of it done by the controller in the Pod, which never restarted ---------------
    (after,) = pods(api)
    assert after["metadata"]["uid"] == pod["metadata"]["uid"]
    assert after["status"]["containerStatuses"][0]["restartCount"] == 0
    logs = pod_logs(api)
    assert "provider linode (linode/linode 3.13.0)" in logs
    assert "is the leader" in logs
    for secret in (standin.token,):
        assert secret not in logs, "the token in the Pod's log"
        assert secret not in harness.events_text(api, namespace), "the token in an event"
        assert secret not in json.dumps(again), "the token in the MR"

    # --- deleted: nothing left in the stand-in -------------------------------------------
    lke.delete_cluster_mr(api, standin, "seed", namespace, 180)
    assert "DeletedExternalResource" in harness.events_text(api, namespace)
    print(
        f"seed story in a Pod: Cluster Ready {to_ready:.1f} s after apply; deleted in the "
        f"stand-in -> Ready again {back:.1f} s (poll {POLL} s); kubectl --kubeconfig "
        f"<Secret>: {user}, {len(nodes)} nodes"
    )


def test_provider_pod_deleted_mid_create_leaves_exactly_one_cluster(linode_pod):
    """`kubectl delete pod` while the stand-in has taken the create and the provider still
    waits inside it for the kubeconfig: after the Deployment brings a new Pod, there is
    exactly one cluster in the stand-in; the new Pod either finds the create recorded or
    refuses to guess (then a person tells it the ID, and it adopts that cluster)."""
    api, standin = linode_pod.api, linode_pod.standin
    namespace = api.create_namespace("pod-kill")
    label = f"kill-{namespace[-8:]}"
    provider_config(api, namespace, standin, standin.token)
    standin.configure(kubeconfig_seconds=8.0)  # the provider waits inside the create
    api.apply(cluster_mr("cut", namespace, label, [1]))
    harness.wait_for(
        "the create request at the stand-in",
        lambda: standin.creates()["cluster_requests"].get(label),
        180,
        every=0.05,
    )
    (old,) = pods(api)
    name = old["metadata"]["name"]
    api.kubectl("delete", "pod", name, "-n", SYSTEM, "--grace-period=0", "--force")
    standin.configure(kubeconfig_seconds=2.0)
    killed = time.monotonic()
    harness.wait_for(
        "a new Pod leading", lambda: holder(api) and not holder(api).startswith(name + "_"), 180
    )
    new_leader = time.monotonic() - killed

    obj = harness.wait_for("the new Pod's verdict", lambda: lke.verdict(api, "cut", namespace), 180)
    time.sleep(15)  # three polls: still no second create
    assert standin.creates()["cluster_requests"][label] == 1
    assert standin.creates()["clusters"][label] == 1
    (remote,) = standin.clusters()  # counted: exactly one external cluster
    outcome = lke.adopt_if_refused(api, obj, "cut", namespace, remote["id"])
    adopted = harness.wait_for(
        "Cluster Ready on the one cluster", lambda: ready(api, CLUSTERS, "cut", namespace), 180
    )
    assert external_id(adopted) == remote["id"]
    assert standin.creates()["cluster_requests"][label] == 1
    assert len(standin.clusters()) == 1
    print(
        f"\nprovider Pod deleted mid-create: a new Pod leading after {new_leader:.1f} s; "
        f"{len(standin.clusters())} cluster in the stand-in; the new Pod's verdict: "
        f"{outcome[:200]!r}"
    )
    lke.delete_cluster_mr(api, standin, "cut", namespace, 180)
