"""Kinds -> CustomResourceDefinitions (as data; the writer dumps them as YAML).

Each managed kind follows the Crossplane managed-resource shape: ``spec.forProvider``
(arguments), ``spec.initProvider`` (the same, all optional), ``managementPolicies``,
``providerConfigRef``, ``writeConnectionSecretToRef``; ``status.atProvider`` (everything
observable except sensitive and write-only values), ``conditions`` and
``observedGeneration``.  The schemas of fields (in the for / init / at views) and of the
shapes every kind shares come from :mod:`jetgen.generator.openapi`; this module puts them
together into whole CRDs.

Top-level required arguments cannot be OpenAPI-required (they may come from
initProvider, or be absent for observe-only resources), so each gets one CEL rule.  CEL
only sees properties it can type and name: an untyped one (``dynamic``, a tuple, a list
or map of them) or one whose name CEL cannot spell (``2x``) is required through
``anyOf`` alternatives in the OpenAPI schema instead, which need no type.
"""

from __future__ import annotations

import json
from typing import Any

from jetgen.generator import naming, openapi
from jetgen.generator.openapi import MANAGEMENT_POLICIES, View
from jetgen.runtime.contract import tree
from jetgen.runtime.kinds import Field, Kind, ProviderInfo

# etcd refuses values over 1.5 MiB (its default request limit) and the apiserver bodies
# over 3 MiB; a CRD is stored with its status (accepted names, conditions) and managed
# fields, so this bound on the JSON of the CRD itself leaves room for them.
CRD_SIZE_LIMIT = 1536 * 1024 - 64 * 1024
PROVIDER_LABEL = "jetgen.dev/provider"


# --- whole CRDs ----------------------------------------------------------------------


def managed_crd(kind: Kind, info: ProviderInfo) -> dict[str, Any]:
    namespaced = kind.scope != "Cluster"
    schema = {
        "type": "object",
        "description": kind.description or f"{kind.kind} manages a {kind.terraform_type}.",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema(kind, namespaced),
            "status": status_schema(kind),
        },
        "required": ["spec"],
    }
    return _crd(
        group=kind.group,
        kind=kind.kind,
        provider=info.name,
        plural=kind.plural,
        singular=kind.singular or kind.kind.lower(),
        version=kind.version,
        namespaced=namespaced,
        schema=schema,
        categories=["crossplane", "managed", info.name],
        columns=[
            _condition_column("READY", "Ready"),
            _condition_column("SYNCED", "Synced"),
            {
                "name": "EXTERNAL-NAME",
                "type": "string",
                "jsonPath": ".metadata.annotations.crossplane\\.io/external-name",
            },
            {"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


def _crd(
    *,
    group: str,
    kind: str,
    provider: str,
    plural: str,
    singular: str,
    version: str,
    namespaced: bool,
    schema: dict[str, Any],
    categories: list[str],
    columns: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        # The label lets `kubectl delete crd -l jetgen.dev/provider=NAME` remove a provider.
        "metadata": {"name": f"{plural}.{group}", "labels": {PROVIDER_LABEL: provider}},
        "spec": {
            "group": group,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
                "categories": categories,
            },
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def _condition_column(name: str, condition: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "string",
        "jsonPath": f".status.conditions[?(@.type=='{condition}')].status",
    }


def stored_size(crd: dict[str, Any]) -> int:
    """Bytes of the CRD as compact JSON (what the apiserver stores, give or take)."""
    return len(json.dumps(crd, separators=(",", ":")))


def drop_descriptions(crd: dict[str, Any]) -> None:
    """Remove every description from the CRD's schemas (the largest part of big ones)."""
    todo = [version["schema"]["openAPIV3Schema"] for version in crd["spec"]["versions"]]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(node.get("description"), str):
                del node["description"]
            todo.extend(v for k, v in node.items() if k != "properties")
            if isinstance(properties, dict):
                todo.extend(properties.values())  # property *names* may be "description"
        elif isinstance(node, list):
            todo.extend(node)


# --- spec ----------------------------------------------------------------------------


def spec_schema(kind: Kind, namespaced: bool) -> dict[str, Any]:
    init_only = frozenset(id(_resolve(kind, p)) for p in kind.init_provider_only)
    for_provider = openapi.object_schema(kind.fields, View("for", namespaced, init_only), top=True)
    for_provider["default"] = {}
    init_provider = openapi.object_schema(kind.fields, View("init", namespaced), top=True)
    props: dict[str, Any] = {
        "forProvider": for_provider,
        "initProvider": init_provider,
        "managementPolicies": openapi.management_policies(),
        "providerConfigRef": openapi.provider_config_ref(namespaced),
        "writeConnectionSecretToRef": openapi.secret_ref_schema(
            "Where to write the connection Secret.", with_key=False, with_namespace=not namespaced
        ),
    }
    if not namespaced:
        props["deletionPolicy"] = {
            "type": "string",
            "enum": ["Delete", "Orphan"],
            "default": "Delete",
            "description": "Whether deleting this object deletes the external resource.",
        }
    schema: dict[str, Any] = {"type": "object", "properties": props, "required": ["forProvider"]}
    rules, alternatives = required_rules(kind, init_only, init_provider["properties"])
    if rules:
        schema["x-kubernetes-validations"] = rules
    if alternatives:
        schema["allOf"] = alternatives
    return schema


def _resolve(kind: Kind, tf_path: str) -> Field:
    found = tree.field_at(kind.fields, tf_path)
    assert found is not None, tf_path  # model.build checked every configured path
    return found


CREATES = (
    "!('*' in self.managementPolicies || 'Create' in self.managementPolicies"
    " || 'Update' in self.managementPolicies)"
)
# managementPolicies values under which no argument is needed (observe-only objects).
NOT_CREATING = [p for p in MANAGEMENT_POLICIES if p not in ("*", "Create", "Update")]


def required_rules(
    kind: Kind, init_only: frozenset[int], shown: dict[str, Any]
) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Per required top-level argument: a CEL rule, or (for properties CEL cannot see,
    see the module docstring) an ``anyOf`` of the ways it may be given.

    ``shown`` are the properties the init view renders (the for view is the same less
    initProvider-only fields): an argument none of whose parts shows is not asked for.
    The policy test is shared text; CEL cost stays tiny because managementPolicies is a
    set of at most six strings.
    """
    rules, alternatives = [], []
    for json_name, f in kind.fields.items():
        if not f.required or f.ref:
            continue
        name = f.secret_ref or json_name
        if name not in shown:
            continue  # nothing of it can be set (a block whose fields are all computed)
        message = f"spec.forProvider.{naming.message_text(name)} is a required parameter"
        in_for = id(f) not in init_only
        if not (naming.cel_accessible(name) and openapi.cel_typed(shown[name])):
            alternatives.append({"anyOf": _required_alternatives(name, in_for)})
            continue
        prop = naming.cel_property(name)
        sources = [f"has(self.forProvider.{prop})"] if in_for else []
        sources.append(f"(has(self.initProvider) && has(self.initProvider.{prop}))")
        rules.append({"rule": " || ".join([CREATES, *sources]), "message": message})
    return rules, alternatives


def _required_alternatives(name: str, in_for: bool) -> list[dict[str, Any]]:
    observe_only = {"properties": {"managementPolicies": {"items": {"enum": NOT_CREATING}}}}
    given = [{"properties": {"initProvider": {"required": [name]}}, "required": ["initProvider"]}]
    if in_for:
        given.insert(0, {"properties": {"forProvider": {"required": [name]}}})
    return [observe_only, *given]


# --- status --------------------------------------------------------------------------


def status_schema(kind: Kind) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "atProvider": openapi.object_schema(kind.fields, View("at"), top=True),
            "conditions": openapi.conditions_schema(),
            "observedGeneration": {"type": "integer", "format": "int64"},
            "lastHandledReconcileAt": {
                "type": "string",
                "description": "The last crossplane.io/reconcile-requested-at token handled.",
            },
        },
    }


# --- ProviderConfig ------------------------------------------------------------------


def provider_config_crds(info: ProviderInfo) -> list[dict[str, Any]]:
    """Namespaced ProviderConfig + ClusterProviderConfig (v2), or one cluster-scoped
    ProviderConfig in the Crossplane v1 shape (``scope: Cluster``)."""
    if info.scope == "Cluster":
        return [_provider_config_crd(info, "ProviderConfig", namespaced=False)]
    return [
        _provider_config_crd(info, "ProviderConfig", namespaced=True),
        _provider_config_crd(info, "ClusterProviderConfig", namespaced=False),
    ]


def _provider_config_crd(info: ProviderInfo, kind: str, namespaced: bool) -> dict[str, Any]:
    # A cluster-scoped config has no namespace of its own, so its Secrets name one.
    needs_ns = not namespaced
    secret_ref = openapi.secret_ref_schema("The Secret holding the credentials.", True, needs_ns)
    secret_ref["required"] = [r for r in secret_ref["required"] if r != "key"]
    credentials = {
        "type": "object",
        "description": "Where the provider's credentials come from.",
        "properties": {
            "source": {
                "type": "string",
                # InjectedIdentity (the controller's own environment) is the admin's to give:
                # only cluster-scoped configs offer it.
                "enum": ["Secret", "None", *(["InjectedIdentity"] if not namespaced else [])],
                "default": "Secret",
            },
            "secretRef": secret_ref,
        },
        "required": ["source"],
    }
    # top=True: provider arguments are never required here, they may come from credentials.
    configuration = openapi.object_schema(info.provider_fields, View("for", not needs_ns), top=True)
    configuration["description"] = "Arguments of the Terraform provider block."
    schema = {
        "type": "object",
        "description": f"{kind} configures the {info.name} provider.",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "properties": {"credentials": credentials, "configuration": configuration},
            },
            "status": {
                "type": "object",
                "properties": {
                    "users": {"type": "integer", "description": "Objects using this config."},
                    "conditions": openapi.conditions_schema(),
                },
            },
        },
    }
    return _crd(
        group=info.config_group,
        kind=kind,
        provider=info.name,
        plural=naming.plural(kind),
        singular=kind.lower(),
        version=info.config_version,
        namespaced=namespaced,
        schema=schema,
        categories=["crossplane", "provider", info.name],
        columns=[
            {
                "name": "SECRET-NAME",
                "type": "string",
                "jsonPath": ".spec.credentials.secretRef.name",
            },
            {"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )
