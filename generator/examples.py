"""One example manifest per kind.

Where the provider's documentation has an example of the resource
(:mod:`docexamples`), its arguments are the example's; every required argument it leaves
out, and every kind without one, gets a placeholder. The example is built as data from
the same field tree as the CRD, so it passes the apiserver's validation (the end-to-end
tests create each one with a server-side dry run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jetgen.generator import docexamples
from jetgen.runtime.contract.tree import find, kind_named
from jetgen.runtime.kinds import Field, Kind, ProviderInfo


@dataclass
class Example:
    """One kind's example and what the docs contributed to it."""

    manifest: dict[str, Any]
    doc: docexamples.DocResource | None = None
    resolved: int = 0  # references the docs show that became <field>Ref
    proposals: list[docexamples.Proposal] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # doc arguments the schema lacks


def name_of(kind: Kind) -> str:
    return f"example-{kind.kind.lower()}"


def all_examples(
    info: ProviderInfo, docs: docexamples.Docs | None, type_prefix: str
) -> dict[str, Example]:
    """Every kind's example by Terraform type; ``type_prefix`` starts every resource type
    (it finds a resource's own documentation page)."""
    kinds = {k.terraform_type: k for k in info.kinds}
    out = {}
    for kind in info.kinds:
        doc = docs.example_of(kind.terraform_type, type_prefix) if docs else None
        out[kind.terraform_type] = build(kind, _ref_targets(kind, info), kinds, doc)
    return out


def _ref_targets(kind: Kind, info: ProviderInfo) -> dict[int, tuple[str, str]]:
    """``id`` of each referencing field -> (Terraform type, example name) of its target."""
    targets = {}
    for ref in kind.references:
        found = find(kind.fields, ref.field)
        target = kind_named(info.kinds, ref.kind, ref.group)
        if found and target:
            parent, json_name = found
            targets[id(parent[json_name])] = (target.terraform_type, name_of(target))
    return targets


def example(kind: Kind) -> dict[str, Any]:
    """The placeholder example of one kind on its own (references name no real target)."""
    return build(kind, {}, {}, None).manifest


def build(
    kind: Kind,
    ref_targets: dict[int, tuple[str, str]],
    kinds: dict[str, Kind],
    doc: docexamples.DocResource | None,
) -> Example:
    namespaced = kind.scope != "Cluster"
    name = name_of(kind)
    init_only = set()
    for path in kind.init_provider_only:
        found = find(kind.fields, path)
        if found:
            init_only.add(found[1])
    arguments: dict[str, Any] = {}
    mapper = None
    if doc is not None:
        mapper = docexamples.Mapper(
            kind,
            kinds,
            ref_targets,
            placeholder=lambda f: value(f, name, namespaced),
            secret_ref=lambda f: _secret_ref(name, f, namespaced),
            where=f"{doc.page}:{doc.line}",
        )
        arguments = mapper.arguments(doc.body)
    for json_name, f in kind.fields.items():
        if not f.required or not settable(f) or {json_name, f.ref, f.secret_ref} & set(arguments):
            continue
        if f.ref:
            target = ref_targets.get(id(f))
            ref_name = target[1] if target else f"example-{f.tf_name.replace('_', '-')}"
            arguments[f.ref] = {"name": ref_name}
        elif f.secret_ref:
            arguments[f.secret_ref] = _secret_ref(name, f, namespaced)
        else:
            arguments[json_name] = value(f, name, namespaced)
    for_provider: dict[str, Any] = {}
    init_provider: dict[str, Any] = {}
    for key, argument in docexamples.in_field_order(kind.fields, arguments).items():
        json_name = next(j for j, f in kind.fields.items() if key in (j, f.ref, f.secret_ref))
        (init_provider if json_name in init_only else for_provider)[key] = argument
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
    manifest = {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "metadata": {"name": name},
        "spec": spec,
    }
    if mapper is None:
        return Example(manifest)
    return Example(manifest, doc, mapper.resolved, mapper.proposals, mapper.unknown)


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
        if not f.required or f.ref or not settable(f):
            continue
        if f.secret_ref:
            out[f.secret_ref] = _secret_ref(name, f, namespaced)
        else:
            out[json_name] = value(f, name, namespaced)
    return out


def settable(f: Field) -> bool:
    """Whether the CRD's spec shows the field: a block all of whose fields are computed
    is left out of it, even when the schema calls the block required."""
    fields = f.object_fields()
    return not fields or any(g.is_input and settable(g) for g in fields.values())


def _secret_ref(name: str, f: Field, namespaced: bool) -> dict[str, str]:
    ref = {"name": f"{name}-secret", "key": f.tf_name}
    if not namespaced:
        ref["namespace"] = "crossplane-system"
    return ref
