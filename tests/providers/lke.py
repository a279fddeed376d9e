"""What provider-linode's tests against the Linode API stand-in share."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from pathlib import Path

from tests.linode_standin import StandIn
from tests.linode_standin.kube import ClusterAccess
from tests.providers.reference import LINODE
from tests.runtime import harness

GROUP = "lke.linode.m.jetgen.dev"
CLUSTERS = f"clusters.{GROUP}"
NODEPOOLS = f"nodepools.{GROUP}"
# What the provider polls with: short, so waits inside one Terraform run stay short.
FAST_PROVIDER = {"eventPollMs": 300, "lkeEventPollMs": 300, "minRetryDelayMs": 300,
                 "maxRetryDelayMs": 1000}  # fmt: skip


def admin_access(api, duration: str = "2h") -> ClusterAccess:
    """The stand-in's kubeconfigs point at the test bed's API server, with the token of a
    cluster-admin ServiceAccount (LKE's admin user): the provider's create waits there
    until the nodes are Ready, and kubectl with a connection Secret works as that user."""
    if harness.get(api, "serviceaccount", "lke-admin", "kube-system") is None:
        api.kubectl("create", "serviceaccount", "lke-admin", "-n", "kube-system")
        api.kubectl(
            "create", "clusterrolebinding", "lke-admin", "--clusterrole=cluster-admin",
            "--serviceaccount=kube-system:lke-admin",
        )  # fmt: skip
    token = api.kubectl(
        "create", "token", "lke-admin", "-n", "kube-system", f"--duration={duration}"
    ).stdout.strip()
    return ClusterAccess(api.url, api.ca_file, token, api.token)


def provider_config(api, namespace: str, stand_in: StandIn, token: str, **settings) -> None:
    api.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "linode-token", "namespace": namespace},
                "stringData": {"token": token},
            },
            {
                "apiVersion": "linode.m.jetgen.dev/v1alpha1",
                "kind": "ProviderConfig",
                "metadata": {"name": "linode", "namespace": namespace},
                "spec": {
                    "credentials": {"source": "Secret", "secretRef": {"name": "linode-token"}},
                    "configuration": {"url": stand_in.url, **FAST_PROVIDER, **settings},
                },
            },
        ]
    )


def cluster_mr(name: str, namespace: str, label: str, counts: list[int], **extra) -> dict:
    pools = [{"type": "g6-standard-2", "count": count} for count in counts]
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "forProvider": {
                "label": label,
                "region": "us-east",
                "k8sVersion": "1.33",
                "pool": pools,
                **extra,
            },
            "providerConfigRef": {"kind": "ProviderConfig", "name": "linode"},
            "writeConnectionSecretToRef": {"name": f"{name}-kubeconfig"},
        },
    }


def ready(api, resource: str, name: str, namespace: str) -> dict | None:
    obj = harness.get(api, resource, name, namespace)
    return obj if harness.is_ready(obj) else None


def external_id(obj: dict) -> int:
    return int(obj["metadata"]["annotations"]["crossplane.io/external-name"])


def pool_ids(at_provider: dict) -> list[int]:
    return [int(p["id"]) for p in at_provider["pool"]]


def node_ids(at_provider: dict) -> list[str]:
    return [n["id"] for p in at_provider["pool"] for n in p["nodes"]]


def standin_cluster(stand_in: StandIn, cluster_id: int) -> dict:
    (found,) = [c for c in stand_in.clusters() if c["id"] == cluster_id]
    return found


def kubectl_with(testbed, kubeconfig: bytes, folder: Path, *args: str) -> str:
    """Run the test bed's kubectl with the kubeconfig from a connection Secret, as is."""
    path = folder / f"kubeconfig-{secrets.token_hex(3)}"
    path.write_bytes(kubeconfig)
    path.chmod(0o600)
    done = subprocess.run(
        [str(testbed.kubectl), "--kubeconfig", str(path), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


# --- steps the seed story and its Pod twin (test_e2e_node_linode.py) both take ----------


def kubeconfig_works(
    testbed, api, namespace: str, secret: str, cluster_id: int, folder: Path
) -> tuple[bytes, str, list[str]]:
    """The connection Secret's kubeconfig, as it is, works with kubectl: it is the
    stand-in's cluster-admin user and sees the cluster's three nodes. Returns
    (kubeconfig, user, nodes)."""
    data = harness.wait_for(
        "the connection Secret", lambda: harness.secret_data(api, secret, namespace)
    )
    kubeconfig = data["kubeconfig"]
    assert kubeconfig.startswith(b"apiVersion: v1")
    whoami = kubectl_with(testbed, kubeconfig, folder, "auth", "whoami", "-o", "json")
    user = json.loads(whoami)["status"]["userInfo"]["username"]
    assert user == "system:serviceaccount:kube-system:lke-admin"
    nodes = kubectl_with(
        testbed, kubeconfig, folder, "get", "nodes", "-o", "name",
        "-l", f"lke.linode.com/cluster-id={cluster_id}",
    ).split()  # fmt: skip
    assert len(nodes) == 3, nodes
    return kubeconfig, user, nodes


def recreated_after_console_delete(
    api, stand_in: StandIn, name: str, namespace: str, label: str, timeout: float, every=0.3
) -> tuple[dict, float]:
    """Delete the MR's cluster in the stand-in (as in the web console) and wait until the
    MR is Ready on a new one: exactly one cluster left, the label created twice. Returns
    the MR and the seconds it took."""
    cluster_id = external_id(harness.get(api, CLUSTERS, name, namespace))
    deleted_at = time.monotonic()
    stand_in.delete_cluster(cluster_id)

    def recreated():
        obj = ready(api, CLUSTERS, name, namespace)
        return obj if obj and external_id(obj) != cluster_id else None

    again = harness.wait_for("a new cluster, Ready", recreated, timeout, every=every)
    back = time.monotonic() - deleted_at
    assert stand_in.creates()["clusters"][label] == 2
    assert [c["id"] for c in stand_in.clusters()] == [external_id(again)]
    return again, back


def verdict(api, name: str, namespace: str) -> dict | None:
    """The MR once a (new) controller has judged it: Ready, or stopped (Synced=False)."""
    obj = harness.get(api, CLUSTERS, name, namespace)
    if harness.is_ready(obj) or harness.condition(obj, "Synced").get("status") == "False":
        return obj
    return None


def adopt_if_refused(api, obj: dict, name: str, namespace: str, remote_id: int) -> str:
    """After a create cut short: the controller either found the create recorded (Ready),
    or refused to guess -- the create's result never reached a saved state, so it stops
    and asks for the ID rather than create again. Then a person tells it the ID (from the
    web console), as the message says. Returns what the controller said."""
    if harness.is_ready(obj):
        return "Ready"
    message = harness.condition(obj, "Synced")["message"]
    assert "external-name" in message or "create" in message.lower(), message
    api.kubectl(
        "annotate", CLUSTERS, name, "-n", namespace, "--overwrite",
        f"crossplane.io/external-name={remote_id}",
    )  # fmt: skip
    return message


def delete_cluster_mr(api, stand_in: StandIn, name: str, namespace: str, timeout: float) -> None:
    """Delete the MR; once it is gone, nothing is left in the stand-in."""
    api.kubectl("delete", CLUSTERS, name, "-n", namespace, "--wait=false")
    harness.wait_for(
        "Cluster gone", lambda: harness.get(api, CLUSTERS, name, namespace) is None, timeout
    )
    assert stand_in.clusters() == []


def same_as_standin(stand_in: StandIn, cluster: dict, label: str) -> dict:
    """The Ready MR reports the one cluster of its label in the stand-in, with every one
    of its three nodes. Returns that cluster as the stand-in has it."""
    remote = standin_cluster(stand_in, external_id(cluster))
    assert remote["label"] == label
    remote_nodes = [n["id"] for p in remote["pools"] for n in p["nodes"]]
    assert sorted(node_ids(cluster["status"]["atProvider"])) == sorted(remote_nodes)
    assert len(remote_nodes) == 3
    return remote


def package_controller(
    testbed, api, tmp_path: Path, namespace: str, poll: float | None
) -> harness.Controller:
    """The committed package (``python -m linode_provider``) as the controller; `poll=None`
    keeps the default (60 s)."""
    ctl = harness.Controller(
        kinds=LINODE / "linode_provider" / "kinds.json",
        apiserver=api,
        testbed=testbed,
        workdir_root=tmp_path / "work",
        log=tmp_path / "controller.log",
        poll=poll or 60,
        namespace=namespace,
        env={"PYTHONPATH": str(LINODE)},
    )
    assert ctl.args[1:4] == ["-m", "jetgen.runtime.cli", "--kinds"]
    ctl.args[1:5] = ["-m", "linode_provider"]
    if poll is None:
        at = ctl.args.index("--poll-interval")
        del ctl.args[at : at + 2]
    return ctl
