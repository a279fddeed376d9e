"""provider-linode's committed LKE examples (values from the Linode docs) become Ready.

The committed package runs as the controller with the real linode/linode 3.13.0 binary,
pointed at the Linode API stand-in (tests/linode_standin) by the ProviderConfig's `url`.
The examples are applied as committed, only into a namespace of their own: the NodePool
names the Cluster by `clusterIdRef`, and the stand-in has the cluster the docs describe.
"""

from __future__ import annotations

import secrets

import pytest
import yaml

from tests.linode_standin import StandIn
from tests.linode_standin.kube import ClusterAccess
from tests.providers import reference
from tests.runtime import harness

pytestmark = pytest.mark.e2e

GROUP = "lke.linode.m.jetgen.dev"
EXAMPLES = ["lke/cluster.yaml", "lke/node_pool.yaml"]
# The provider's own waits between polls of the API, shortened (provider arguments).
FAST_PROVIDER = {"eventPollMs": 300, "lkeEventPollMs": 300, "minRetryDelayMs": 300}


def cluster_access(api) -> ClusterAccess:
    """The stand-in's kubeconfigs point at the test bed's API server, with the token of a
    cluster-admin ServiceAccount (LKE's admin user): the provider's create waits there
    until the nodes are Ready."""
    if harness.get(api, "serviceaccount", "lke-admin", "kube-system") is None:
        api.kubectl("create", "serviceaccount", "lke-admin", "-n", "kube-system")
        api.kubectl(
            "create",
            "clusterrolebinding",
            "lke-admin",
            "--clusterrole=cluster-admin",
            "--serviceaccount=kube-system:lke-admin",
        )
    token = api.kubectl("create", "token", "lke-admin", "-n", "kube-system").stdout.strip()
    return ClusterAccess(api.url, api.ca_file, token, api.token)


def test_lke_examples_from_the_docs_become_ready(testbed, reference_apiserver, tmp_path):
    api = reference_apiserver
    harness.install_crds(api, reference.LINODE)
    ns = api.create_namespace("linode-examples")
    token = secrets.token_hex(16)
    access = cluster_access(api)
    with StandIn(token, access, node_ready_seconds=1, kubeconfig_seconds=1) as standin:
        api.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "linode-token", "namespace": ns},
                "stringData": {"token": token},
            }
        )
        api.apply(
            {
                "apiVersion": "linode.m.jetgen.dev/v1alpha1",
                "kind": "ClusterProviderConfig",
                "metadata": {"name": "default"},
                "spec": {
                    "credentials": {
                        "source": "Secret",
                        "secretRef": {"name": "linode-token", "namespace": ns},
                    },
                    "configuration": {"url": standin.url, **FAST_PROVIDER},
                },
            }
        )
        documents = [
            yaml.safe_load((reference.LINODE / "examples" / p).read_text()) for p in EXAMPLES
        ]
        api.apply([{**d, "metadata": {**d["metadata"], "namespace": ns}} for d in documents])
        ctl = harness.Controller(
            kinds=reference.LINODE / "linode_provider" / "kinds.json",
            apiserver=api,
            testbed=testbed,
            workdir_root=tmp_path / "work",
            log=tmp_path / "controller.log",
            poll=10,
            namespace=ns,
            env={"PYTHONPATH": str(reference.LINODE)},
        )
        ctl.args[1:5] = ["-m", "linode_provider"]
        with ctl:
            ready = {}
            wanted = (("clusters", "example-cluster"), ("nodepools", "example-nodepool"))
            for plural, name in wanted:

                def check(plural=plural, name=name):
                    obj = harness.get(api, f"{plural}.{GROUP}", name, ns)
                    return obj if harness.is_ready(obj) else None

                ready[plural] = harness.wait_for(f"{plural}/{name} Ready", check, 240, 1)
        assert standin.problems() == []
        cluster = standin.cluster_by_label("my-cluster")
        assert cluster is not None, standin.clusters()
        assert (cluster["region"], cluster["k8s_version"]) == ("us-central", "1.32")
        pool_id = int(ready["nodepools"]["metadata"]["annotations"]["crossplane.io/external-name"])
        assert ready["nodepools"]["status"]["atProvider"]["clusterId"] == cluster["id"]
        # The docs' pool of the cluster (3 x g6-standard-2) and the NodePool's own pool.
        pools = {p["id"]: (p["type"], p["count"]) for p in cluster["pools"]}
        assert pools[pool_id] == ("g6-standard-2", 3)
        assert ("g6-standard-2", 3) in [v for k, v in pools.items() if k != pool_id]
