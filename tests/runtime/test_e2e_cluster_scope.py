"""End-to-end: the Crossplane v1 shape -- cluster-scoped MRs with deletionPolicy."""

from __future__ import annotations

import json

import pytest

from tests.runtime import harness
from tests.runtime.harness import Controller, get, is_ready, wait_for

pytestmark = pytest.mark.e2e

GROUP = "local.jetgen.dev"


@pytest.fixture(scope="module")
def cluster_local_provider(testbed, apiserver, schema_file, tmp_path_factory):
    out = harness.generate(
        schema_file,
        tmp_path_factory.mktemp("local-cluster"),
        "local",
        testbed.providers["local"],
        {"scope": "Cluster"},
    )
    harness.install_crds(apiserver, out)
    return out


def cluster_file(name, path, secret_ns, **spec):
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "File",
        "metadata": {"name": name},
        "spec": {
            "forProvider": {
                "filename": str(path),
                "sensitiveContentSecretRef": {
                    "name": "content",
                    "namespace": secret_ns,
                    "key": "text",
                },
            },
            "writeConnectionSecretToRef": {"name": f"{name}-conn", "namespace": secret_ns},
            **spec,
        },
    }


def test_cluster_scoped_files_with_delete_and_orphan(
    apiserver, testbed, cluster_local_provider, tmp_path
):
    ns = apiserver.create_namespace("cluster-scope")
    state_ns = apiserver.create_namespace("provider-system")
    apiserver.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "content", "namespace": ns},
            "stringData": {"text": "cluster scoped content\n"},
        }
    )
    deleted, orphaned = tmp_path / "out" / "deleted.txt", tmp_path / "out" / "orphaned.txt"
    ctl = Controller(
        kinds=harness.kinds_file(cluster_local_provider),
        apiserver=apiserver,
        testbed=testbed,
        workdir_root=tmp_path / "work",
        log=tmp_path / "controller.log",
        poll=3,
        extra_args=["--state-namespace", state_ns, "--serve", f"File.{GROUP}"],
    )
    suffix = ns.rsplit("-", 1)[-1]  # cluster-scoped names are global: keep them unique
    d_name, o_name = f"deleted-{suffix}", f"orphaned-{suffix}"
    with ctl:
        apiserver.apply(cluster_file(d_name, deleted, ns))
        apiserver.apply(cluster_file(o_name, orphaned, ns, deletionPolicy="Orphan"))
        for name in (d_name, o_name):
            wait_for(name, lambda n=name: is_ready(get(apiserver, "files." + GROUP, n, None)))
        assert deleted.read_text() == "cluster scoped content\n"
        conn = wait_for(
            "connection Secret", lambda: harness.secret_data(apiserver, f"{d_name}-conn", ns)
        )
        assert conn["attribute.sensitive_content"] == b"cluster scoped content\n"
        secrets = json.loads(
            apiserver.kubectl("get", "secrets", "-n", state_ns, "-o", "json").stdout
        )["items"]
        assert len([s for s in secrets if s["metadata"]["name"].startswith("jetgen-tfstate-")]) == 2

        # A new value in the referenced Secret reaches the file and the connection Secret.
        apiserver.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "content", "namespace": ns},
                "stringData": {"text": "rotated\n"},
            }
        )
        wait_for("file rewritten", lambda: deleted.read_text() == "rotated\n", timeout=30)
        wait_for(
            "connection Secret updated",
            lambda: (
                harness.secret_data(apiserver, f"{d_name}-conn", ns)["attribute.sensitive_content"]
                == b"rotated\n"
            ),
        )

        apiserver.kubectl("delete", "files." + GROUP, d_name, "--timeout=60s")
        apiserver.kubectl("delete", "files." + GROUP, o_name, "--timeout=60s")
    assert not deleted.exists()
    assert orphaned.read_text() == "rotated\n"
