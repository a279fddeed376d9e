"""Which managed resources use which ProviderConfig: the in-memory index (pure logic).

What the apiserver answers when the index names nobody is tested on the real apiserver in
test_e2e_usage.py."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import kopf
import pytest
from jetgen.runtime import kube, usage
from jetgen.runtime.kinds import Kind, ProviderInfo

GROUP = "local.m.jetgen.dev"


def info(scope: str = "Namespaced") -> ProviderInfo:
    return ProviderInfo(
        name="local",
        source="hashicorp/local",
        version="2.5.0",
        config_group="local.m.jetgen.dev",
        config_version="v1beta1",
        scope=scope,
    )


def kind(name: str = "File", group: str = GROUP) -> Kind:
    return Kind(name, group, "v1alpha1", name.lower() + "s", "Namespaced", "local_file", {})


def mr(name: str, namespace: str | None = "a", ref: dict[str, Any] | None = None) -> dict:
    body: dict[str, Any] = {"metadata": {"name": name}, "spec": {}}
    if namespace:
        body["metadata"]["namespace"] = namespace
    if ref is not None:
        body["spec"]["providerConfigRef"] = ref
    return body


CLUSTER = {"kind": "ClusterProviderConfig", "name": "shared"}


def test_config_key_follows_the_renderers_lookup():
    assert usage.config_key(info(), mr("f")) == ("providerconfigs", "a", "default")
    assert usage.config_key(info(), mr("f", ref={"name": "x"})) == ("providerconfigs", "a", "x")
    assert usage.config_key(info(), mr("f", ref=CLUSTER)) == (
        "clusterproviderconfigs",
        None,
        "shared",
    )
    # Cluster-scoped MRs name the cluster-scoped ProviderConfig.
    cluster = info("Cluster")
    assert usage.config_key(cluster, mr("f", None, {"name": "x"})) == ("providerconfigs", None, "x")
    assert usage.key_of_config(
        {"kind": "ClusterProviderConfig", "metadata": {"name": "shared"}}
    ) == ("clusterproviderconfigs", None, "shared")


def test_index_follows_each_mr_across_namespaces_kinds_and_edits():
    users = usage.ConfigUsers(info())
    file, other = kind(), kind("File", "other.m.jetgen.dev")
    users.seen(file, mr("f", "a", CLUSTER))
    users.seen(file, mr("f", "b", CLUSTER))
    users.seen(other, mr("f", "a", CLUSTER))  # same name and Kind, another group
    shared = ("clusterproviderconfigs", None, "shared")
    assert [usage.shown(u) for u in users.of(shared)] == ["File a/f", "File a/f", "File b/f"]
    assert len(users) == 3

    # Pointed elsewhere: no longer a user of the old config.
    users.seen(file, mr("f", "a", {"name": "own"}))
    assert len(users.of(shared)) == 2
    assert [usage.shown(u) for u in users.of(("providerconfigs", "a", "own"))] == ["File a/f"]
    users.seen(file, mr("f", "a", {"name": "own"}))  # the same again changes nothing
    assert len(users) == 3

    users.gone(file, mr("f", "b"))
    users.gone(other, mr("f", "a"))
    users.gone(other, mr("never-seen", "a"))
    assert users.of(shared) == []
    assert len(users) == 1


def test_the_apiserver_is_asked_only_when_the_index_names_nobody():
    users = usage.ConfigUsers(info())
    users.seen(kind(), mr("f", "a"))
    asked: list[usage.ConfigKey] = []

    async def confirm(key: usage.ConfigKey) -> list[usage.UserId]:
        asked.append(key)
        return [(GROUP, "File", "a", "z"), (GROUP, "File", "a", "b")]

    default = ("providerconfigs", "a", "default")
    found = asyncio.run(usage.in_use(default, users, confirm))
    assert [usage.shown(u) for u in found] == ["File a/f"] and asked == []
    other = ("providerconfigs", "a", "other")
    found = asyncio.run(usage.in_use(other, users, confirm))
    assert [usage.shown(u) for u in found] == ["File a/b", "File a/z"] and asked == [other]


def test_the_message_names_five_and_counts_the_rest():
    many = [(GROUP, "File", "a", f"f{i}") for i in range(7)]
    message = usage.in_use_message(many)
    assert message.startswith("in use by 7 managed resource(s): File a/f0, ")
    assert "File a/f4 and 2 more; deletion waits" in message
    assert "f5" not in message


def test_a_config_is_let_go_only_on_the_apiservers_word():
    """No user anywhere: the deletion goes on.  A list that fails (refused, unreachable,
    timed out): it waits, as it does for a user the index names."""
    config = {"kind": "ProviderConfig", "metadata": {"name": "x", "namespace": "a"}}

    async def nobody(key: usage.ConfigKey) -> list[usage.UserId]:
        return []

    asyncio.run(usage.guard(config, {}, usage.ConfigUsers(info()), nobody))

    failures = (kube.KubeError(403, "forbidden"), aiohttp.ClientError("reset"), TimeoutError())
    for failure in failures:

        async def failing(key: usage.ConfigKey, exc: Exception = failure) -> list[usage.UserId]:
            raise exc

        with pytest.raises(kopf.TemporaryError, match="cannot tell whether"):
            asyncio.run(usage.guard(config, {}, usage.ConfigUsers(info()), failing))
