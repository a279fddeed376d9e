"""What provider-linode's tests against the Linode API stand-in share."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

from tests.linode_standin import StandIn
from tests.linode_standin.kube import ClusterAccess
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
