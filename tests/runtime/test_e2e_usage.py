"""End-to-end: a ProviderConfig in use is not deleted, also across a restart.

The controller keeps who uses which config in memory, from the MR events it sees; until
it has seen them all (right after a start) a config's deletion is decided by a list of
the served kinds from the apiserver.  Both are shown on the real apiserver here; the
simple in-use case is in test_e2e_errors.py."""

from __future__ import annotations

import asyncio
import json

import pytest
from jetgen.runtime import kube, kubeauth, usage
from jetgen.runtime.cli import load
from jetgen.runtime.kinds import Kind

from tests.runtime import harness
from tests.runtime.harness import get, is_ready, wait_for
from tests.runtime.local_mrs import GROUP, file_mr, local_controller

pytestmark = pytest.mark.e2e

FILES = "files." + GROUP


def configs(local_provider, ns: str, shared: str) -> tuple[dict, dict, str]:
    """A namespaced ProviderConfig ``files`` in ``ns`` and a ClusterProviderConfig, and
    the config group."""
    info = json.loads(harness.kinds_file(local_provider).read_text())
    api_version = f"{info['config_group']}/{info['config_version']}"
    spec = {"credentials": {"source": "None"}}
    own = {
        "apiVersion": api_version,
        "kind": "ProviderConfig",
        "metadata": {"name": "files", "namespace": ns},
        "spec": spec,
    }
    cluster = {
        "apiVersion": api_version,
        "kind": "ClusterProviderConfig",
        "metadata": {"name": shared},
        "spec": spec,
    }
    return own, cluster, info["config_group"]


def using(mr: dict, kind: str, name: str) -> dict:
    mr["spec"]["providerConfigRef"] = {"kind": kind, "name": name}
    return mr


def deleting(apiserver, plural: str, name: str, ns: str | None) -> dict:
    return wait_for(
        f"{plural} {name} held with a deletionTimestamp",
        lambda: (
            (c := get(apiserver, plural, name, ns)) and c["metadata"].get("deletionTimestamp") and c
        ),
    )


def test_configs_deleted_while_no_controller_ran_wait_for_their_users(
    apiserver, testbed, local_provider, tmp_path
):
    """Deleted while the controller was away, a namespaced config and a cluster-wide one
    used from two namespaces stay after the restart until their last user is gone."""
    ns_a, ns_b = apiserver.create_namespace("usage-a"), apiserver.create_namespace("usage-b")
    shared = f"shared-{ns_a}"
    own, cluster, group = configs(local_provider, ns_a, shared)
    out = tmp_path / "out"
    mrs = {
        (ns_a, "one"): using(
            file_mr("one", ns_a, out / "one", "1\n"), "ClusterProviderConfig", shared
        ),
        (ns_b, "two"): using(
            file_mr("two", ns_b, out / "two", "2\n"), "ClusterProviderConfig", shared
        ),
        (ns_a, "own"): using(file_mr("own", ns_a, out / "own", "3\n"), "ProviderConfig", "files"),
    }
    apiserver.apply(own)
    apiserver.apply(cluster)
    namespaces = ["--namespace", ns_a, "--namespace", ns_b]
    ctl = local_controller(apiserver, testbed, local_provider, tmp_path, extra_args=namespaces)
    with ctl:
        for mr in mrs.values():
            apiserver.apply(mr)
        for ns, name in mrs:
            wait_for(f"{name} Ready", lambda n=name, s=ns: is_ready(get(apiserver, FILES, n, s)))
        # The finalizers are on while the configs are in use.
        wait_for(
            "finalizers on both configs",
            lambda: all(
                (c := get(apiserver, plural, name, ns)) and c["metadata"].get("finalizers")
                for plural, name, ns in (
                    (f"providerconfigs.{group}", "files", ns_a),
                    (f"clusterproviderconfigs.{group}", shared, None),
                )
            ),
        )

    # Deleted while no controller runs: the finalizers hold them.
    own_plural, cluster_plural = f"providerconfigs.{group}", f"clusterproviderconfigs.{group}"
    apiserver.kubectl("delete", own_plural, "files", "-n", ns_a, "--wait=false")
    apiserver.kubectl("delete", cluster_plural, shared, "--wait=false")
    deleting(apiserver, own_plural, "files", ns_a)
    deleting(apiserver, cluster_plural, shared, None)

    with ctl:
        # The restarted controller refuses both deletions, naming the users.
        wait_for(
            "the cluster config's event names both users",
            lambda: (
                f"File {ns_a}/one, File {ns_b}/two"
                in (t := harness.events_text(apiserver, "default"))
                and "deletion waits" in t
            ),
        )
        wait_for(
            "the namespaced config's event names its user",
            lambda: f"File {ns_a}/own;" in harness.events_text(apiserver, ns_a),
        )
        assert get(apiserver, own_plural, "files", ns_a) is not None
        assert get(apiserver, cluster_plural, shared, None) is not None

        # One user of the cluster config gone: it still waits for the other namespace's.
        apiserver.kubectl("delete", FILES, "one", "-n", ns_a, "--timeout=60s")
        wait_for(
            "the cluster config waits for its one remaining user",
            lambda: (
                f"in use by 1 managed resource(s): File {ns_b}/two;"
                in harness.events_text(apiserver, "default")
            ),
        )
        assert get(apiserver, cluster_plural, shared, None) is not None
        assert get(apiserver, own_plural, "files", ns_a) is not None

        apiserver.kubectl("delete", FILES, "own", "-n", ns_a, "--timeout=60s")
        wait_for(
            "namespaced config gone", lambda: get(apiserver, own_plural, "files", ns_a) is None
        )
        assert get(apiserver, cluster_plural, shared, None) is not None
        apiserver.kubectl("delete", FILES, "two", "-n", ns_b, "--timeout=60s")
        wait_for(
            "cluster config gone", lambda: get(apiserver, cluster_plural, shared, None) is None
        )
    assert not any((out / name).exists() for _, name in mrs)


def test_before_any_mr_is_seen_the_apiserver_decides(apiserver, local_provider):
    """Right after a start the index is empty: the answer is the apiserver's list of the
    served kinds -- across namespaces for a cluster-wide config, only its own namespace
    for a namespaced one; a kind without a CRD has no users; a name that only looks
    alike (the CRD refuses names that are not DNS subdomains) matches nothing."""
    ns_a, ns_b = apiserver.create_namespace("seen-a"), apiserver.create_namespace("seen-b")
    shared = f"shared-{ns_a}"
    for i in range(5):  # more than one page below
        apiserver.apply(
            using(file_mr(f"c{i}", ns_b, f"/nowhere/{i}", ""), "ClusterProviderConfig", shared)
        )
    apiserver.apply(using(file_mr("own", ns_a, "/nowhere/own", ""), "ProviderConfig", "files"))
    apiserver.apply(using(file_mr("other", ns_b, "/nowhere/x", ""), "ProviderConfig", "files"))
    apiserver.apply(
        using(file_mr("alike", ns_a, "/nowhere/h", ""), "ProviderConfig", "files.files")
    )
    info = load(harness.kinds_file(local_provider))
    no_crd = Kind("Ghost", "ghost.m.jetgen.dev", "v1alpha1", "ghosts", "Namespaced", "x", {})
    kinds = [*info.kinds, no_crd]

    async def main() -> None:
        client = kube.KubeClient(kubeauth.load(str(apiserver.kubeconfig)))
        index = usage.ConfigUsers(info)  # nothing seen yet

        async def watched() -> list[str] | None:
            return [ns_a, ns_b]

        async def confirm(key: usage.ConfigKey) -> list[usage.UserId]:
            return await usage.list_users(client, info, kinds, key, watched)

        async def users(key: usage.ConfigKey) -> list[str]:
            return [usage.shown(u) for u in await usage.in_use(key, index, confirm)]

        try:
            cluster_users = await users(("clusterproviderconfigs", None, shared))
            assert cluster_users == [f"File {ns_b}/c{i}" for i in range(5)]
            assert await users(("providerconfigs", ns_a, "files")) == [f"File {ns_a}/own"]
            assert await users(("providerconfigs", ns_b, "files")) == [f"File {ns_b}/other"]
            assert await users(("providerconfigs", ns_a, "default")) == []
            assert await users(("clusterproviderconfigs", None, "files")) == []

            # The paginated list behind it: every object across pages, one snapshot.
            path = kube.object_path(f"{GROUP}/v1alpha1", "files", ns_b)
            items = await client.list_all(path, page=2)
            assert sorted(o["metadata"]["name"] for o in items) == [
                *(f"c{i}" for i in range(5)),
                "other",
            ]
            slim = await client.list_all(path, page=2, metadata_only=True)
            assert len(slim) == 6 and all("spec" not in o and o["metadata"]["uid"] for o in slim)
        finally:
            await client.close()

    asyncio.run(main())
    for ns in (ns_a, ns_b):  # no controller: nothing holds them
        apiserver.kubectl("delete", FILES, "--all", "-n", ns, "--timeout=60s")
