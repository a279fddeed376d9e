"""What provider-linode's tests against the Linode API stand-in share."""

from __future__ import annotations

from tests.linode_standin.kube import ClusterAccess
from tests.runtime import harness


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
