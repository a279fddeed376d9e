"""One example manifest per kind: every required argument filled with a placeholder.

The example is built as data from the same field tree as the CRD, so it always passes
the apiserver's validation (the end-to-end tests create each one with a server-side
dry run).
"""

from __future__ import annotations

from typing import Any

from jetgen.generator.model import find
from jetgen.runtime.kinds import Field, Kind


def example(kind: Kind) -> dict[str, Any]:
    namespaced = kind.scope != "Cluster"
    name = f"example-{kind.kind.lower()}"
    init_only = set()
    for path in kind.init_provider_only:
        found = find(kind.fields, path)
        if found:
            init_only.add(found[1])
    for_provider: dict[str, Any] = {}
    init_provider: dict[str, Any] = {}
    for json_name, f in kind.fields.items():
        if not f.required:
            continue
        target = init_provider if json_name in init_only else for_provider
        if f.ref:
            target[f.ref] = {"name": f"example-{f.tf_name.replace('_', '-')}"}
        elif f.secret_ref:
            target[f.secret_ref] = _secret_ref(name, f, namespaced)
        else:
            target[json_name] = value(f, name, namespaced)
    spec: dict[str, Any] = {"forProvider": for_provider}
    if init_provider:
        spec["initProvider"] = init_provider
    if namespaced:
        spec["providerConfigRef"] = {"kind": "ClusterProviderConfig", "name": "default"}
    else:
        spec["providerConfigRef"] = {"name": "default"}
    if has_connection_secret(kind):
        ref: dict[str, str] = {"name": f"{name}-connection"}
        if not namespaced:
            ref["namespace"] = "crossplane-system"
        spec["writeConnectionSecretToRef"] = ref
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "metadata": {"name": name},
        "spec": spec,
    }


def has_connection_secret(kind: Kind) -> bool:
    return bool(kind.connection_details) or any(
        f.sensitive and not f.write_only for f in kind.fields.values()
    )


def value(f: Field, name: str, namespaced: bool, index: int = 0) -> Any:
    """A placeholder of the field's type; ``index`` keeps set members distinct."""
    if f.type == "string":
        return f"example-{index}" if index else "example"
    if f.type == "number":
        return index + 1
    if f.type == "bool":
        return index % 2 == 0
    if f.type == "dynamic":
        return "example"
    if f.type == "tuple":
        return [value(item, name, namespaced, i) for i, item in enumerate(f.items or [])]
    if f.type in ("list", "set"):
        assert f.item is not None
        return [value(f.item, name, namespaced, i) for i in range(max(1, f.min_items))]
    if f.type == "map":
        assert f.item is not None
        return {"key": value(f.item, name, namespaced)}
    return _object(f.fields or {}, name, namespaced)


def _object(fields: dict[str, Field], name: str, namespaced: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for json_name, f in fields.items():
        if not f.required or f.ref:
            continue
        if f.secret_ref:
            out[f.secret_ref] = _secret_ref(name, f, namespaced)
        else:
            out[json_name] = value(f, name, namespaced)
    return out


def _secret_ref(name: str, f: Field, namespaced: bool) -> dict[str, str]:
    ref = {"name": f"{name}-secret", "key": f.tf_name}
    if not namespaced:
        ref["namespace"] = "crossplane-system"
    return ref
