"""A ProviderConfig in use is not deleted from under its managed resources.

Crossplane tracks this with ProviderConfigUsage objects and a finalizer on the config;
here the same guarantee comes from kopf: every served kind is indexed by the config its
objects name (``spec.providerConfigRef``), and a deletion handler -- so a finalizer --
on ProviderConfig and ClusterProviderConfig refuses (retries) while any managed resource,
being deleted or not, still names it.  An MR deleting itself then still finds its config;
once the last one is gone the config goes too.  This is what lets a namespace holding
MRs, their ProviderConfig and Secrets be deleted: the config outlives the MRs.
"""

from __future__ import annotations

from typing import Any

import kopf
from jetgen.runtime.kinds import Kind, ProviderInfo

RETRY_SECONDS = 5.0
MEMO_KEY = "jetgen-config-in-use"


def config_key(info: ProviderInfo, body: Any) -> tuple[str, str | None, str]:
    """(plural, namespace or None, name) of the config an MR uses -- the lookup rule of
    render.Renderer._provider, which this must match."""
    meta = body.get("metadata") or {}
    ref = (body.get("spec") or {}).get("providerConfigRef") or {}
    name = ref.get("name") or "default"
    if ref.get("kind") == "ClusterProviderConfig":
        return "clusterproviderconfigs", None, name
    namespace = meta.get("namespace")
    if info.scope == "Cluster" or not namespace:
        return "providerconfigs", None, name
    return "providerconfigs", namespace, name


def config_plurals(info: ProviderInfo) -> list[str]:
    """The config kinds whose deletion is guarded (no ClusterProviderConfig in the
    cluster-scoped shape)."""
    if info.scope == "Cluster":
        return ["providerconfigs"]
    return ["providerconfigs", "clusterproviderconfigs"]


def _index_id(kind: Kind) -> str:
    return f"config-users.{kind.plural}.{kind.group}"


def register(registry: kopf.OperatorRegistry, info: ProviderInfo, kinds: list[Kind]) -> None:
    """Index the served kinds by config, and guard the config kinds' deletion."""
    ids = [_index_id(kind) for kind in kinds]
    for kind in kinds:
        _register_index(registry, info, kind)

    async def protect(body: Any, memo: Any, **kwargs: Any) -> None:
        meta = body.get("metadata") or {}
        plural = "clusterproviderconfigs" if body.get("kind") == "ClusterProviderConfig" else ""
        plural = plural or "providerconfigs"
        key = (plural, meta.get("namespace"), meta.get("name"))
        users = sorted(user for id_ in ids for user in kwargs[id_].get(key, []))
        if users:
            shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
            message = (
                f"in use by {len(users)} managed resource(s): {shown}; deletion waits "
                "until they are gone"
            )
            if memo.get(MEMO_KEY) != message:  # one event per change, not per retry
                memo[MEMO_KEY] = message
                kopf.event(body, type="Warning", reason="ProviderConfigInUse", message=message)
            raise kopf.TemporaryError(message, delay=RETRY_SECONDS)

    for plural in config_plurals(info):
        kopf.on.delete(
            info.config_group,
            info.config_version,
            plural,
            id="in-use",
            registry=registry,
        )(protect)


def _register_index(registry: kopf.OperatorRegistry, info: ProviderInfo, kind: Kind) -> None:
    def users(body: Any, **_: Any) -> dict[tuple[str, str | None, str], str]:
        meta = body.get("metadata") or {}
        namespace = meta.get("namespace")
        who = f"{kind.kind} {namespace}/{meta.get('name')}" if namespace else kind.kind
        if not namespace:
            who = f"{kind.kind} {meta.get('name')}"
        return {config_key(info, body): who}

    kopf.index(kind.group, kind.version, kind.plural, id=_index_id(kind), registry=registry)(users)
