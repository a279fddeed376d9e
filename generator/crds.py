"""Kinds -> CustomResourceDefinitions (as data; the writer dumps them as YAML).

Each managed kind follows the Crossplane managed-resource shape: ``spec.forProvider``
(arguments), ``spec.initProvider`` (the same, all optional), ``managementPolicies``,
``providerConfigRef``, ``writeConnectionSecretToRef``; ``status.atProvider`` (everything
observable except sensitive and write-only values), ``conditions`` and
``observedGeneration``.  A field is rendered in three *views*:

``for``   forProvider: inputs, nested required fields required, sensitive -> SecretRef
``init``  initProvider: the same without any ``required``
``at``    atProvider: everything Terraform reports except sensitive / write-only values

Top-level required arguments cannot be OpenAPI-required (they may come from
initProvider, or be absent for observe-only resources), so each gets one CEL rule.  CEL
only sees properties it can type and name: an untyped one (``dynamic``, a tuple, a list
or map of them) or one whose name CEL cannot spell (``2x``) is required through
``anyOf`` alternatives in the OpenAPI schema instead, which need no type.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from jetgen.generator import naming
from jetgen.generator.model import find
from jetgen.runtime import names, references
from jetgen.runtime.kinds import Field, Kind, ProviderInfo

# etcd refuses values over 1.5 MiB (its default request limit) and the apiserver bodies
# over 3 MiB; a CRD is stored with its status (accepted names, conditions) and managed
# fields, so this bound on the JSON of the CRD itself leaves room for them.
CRD_SIZE_LIMIT = 1536 * 1024 - 64 * 1024
INT64_MAX = 2**63 - 1
MANAGEMENT_POLICIES = ["Observe", "Create", "Update", "Delete", "LateInitialize", "*"]
SCALARS = ("string", "number", "bool")
PROVIDER_LABEL = "jetgen.dev/provider"

_OPENAPI_TYPE = {"string": "string", "number": "number", "bool": "boolean"}


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
    for_provider = object_schema(kind.fields, View("for", namespaced, init_only), top=True)
    for_provider["default"] = {}
    init_provider = object_schema(kind.fields, View("init", namespaced), top=True)
    props: dict[str, Any] = {
        "forProvider": for_provider,
        "initProvider": init_provider,
        "managementPolicies": management_policies(),
        "providerConfigRef": provider_config_ref(namespaced),
        "writeConnectionSecretToRef": secret_ref_schema(
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


def management_policies() -> dict[str, Any]:
    return {
        "type": "array",
        "description": "What the controller may do with the external resource.",
        "items": {"type": "string", "enum": MANAGEMENT_POLICIES},
        "default": ["*"],
        "maxItems": len(MANAGEMENT_POLICIES),
        "x-kubernetes-list-type": "set",
    }


def _resolve(kind: Kind, tf_path: str) -> Field:
    found = find(kind.fields, tf_path)
    assert found is not None, tf_path  # model.build checked every configured path
    parent, json_name = found
    return parent[json_name]


def provider_config_ref(namespaced: bool) -> dict[str, Any]:
    if not namespaced:
        return {
            "type": "object",
            "description": "The ProviderConfig to use.",
            "default": {"name": "default"},
            "properties": {"name": name_schema(names.OBJECT_NAME)},
            "required": ["name"],
        }
    return {
        "type": "object",
        "description": "The ProviderConfig or ClusterProviderConfig to use.",
        "default": {"kind": "ClusterProviderConfig", "name": "default"},
        "properties": {
            "kind": {"type": "string", "enum": ["ProviderConfig", "ClusterProviderConfig"]},
            "name": name_schema(names.OBJECT_NAME),
        },
        "required": ["kind", "name"],
    }


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
        if not (naming.cel_accessible(name) and cel_typed(shown[name])):
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


def cel_typed(schema: dict[str, Any]) -> bool:
    """Whether the apiserver gives this schema a CEL type (it drops the others from the
    object types CEL sees): untyped values, and arrays and maps of them, have none."""
    if schema.get("x-kubernetes-int-or-string"):
        return True
    if "type" not in schema:
        return False
    if schema["type"] == "array":
        return cel_typed(schema.get("items", {}))
    extra = schema.get("additionalProperties")
    if schema["type"] == "object" and isinstance(extra, dict):
        return cel_typed(extra)
    return True


# --- status --------------------------------------------------------------------------


def status_schema(kind: Kind) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "atProvider": object_schema(kind.fields, View("at"), top=True),
            "conditions": conditions_schema(),
            "observedGeneration": {"type": "integer", "format": "int64"},
            "lastHandledReconcileAt": {
                "type": "string",
                "description": "The last crossplane.io/reconcile-requested-at token handled.",
            },
        },
    }


def conditions_schema() -> dict[str, Any]:
    return {
        "type": "array",
        "description": "Ready and Synced conditions of this object.",
        "items": {
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "status": {"type": "string"},
                "reason": {"type": "string"},
                "message": {"type": "string"},
                "lastTransitionTime": {"type": "string", "format": "date-time"},
                "observedGeneration": {"type": "integer", "format": "int64"},
            },
            "required": ["type", "status"],
        },
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
    }


# --- fields --------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """How fields render: ``name`` is for / init / at (see the module docstring);
    ``namespaced`` decides whether Secret references name a namespace; fields whose
    ``id()`` is in ``skip`` are left out (initProvider-only fields in forProvider)."""

    def items(self) -> View:
        return dataclasses.replace(self, in_list=True)

    name: str
    namespaced: bool = True
    skip: frozenset[int] = frozenset()
    in_list: bool = False  # below a list: Kubernetes allows no transition rules here


def visible(f: Field, view: str) -> bool:
    """Whether a field appears in a view (before looking at its children)."""
    if view == "at":
        return not (f.sensitive or f.write_only)
    return f.is_input


def object_schema(fields: dict[str, Field], view: View, top: bool = False) -> dict[str, Any]:
    """The object holding ``fields``; ``top`` = forProvider/initProvider/atProvider level,
    whose required arguments are enforced by CEL instead."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for json_name, f in fields.items():
        if id(f) in view.skip or not visible(f, view.name):
            continue
        if f.secret_ref and view.name != "at":
            name = f.secret_ref
            props[name] = secret_ref_schema(
                f.description or f"Secret key holding {f.tf_name}.", True, not view.namespaced
            )
        else:
            schema = field_schema(f, view)
            if schema is None:
                continue
            if f.immutable and view.name == "for" and not view.in_list and cel_typed(schema):
                message = f"{naming.message_text(json_name)} is immutable"
                schema["x-kubernetes-validations"] = [
                    {"rule": "self == oldSelf", "message": message}
                ]
            name = json_name
            props[name] = schema
        if f.ref and view.name != "at":
            props[f.ref] = reference_schema(f"Sets {json_name} from another object.")
            props[f.selector] = selector_schema(
                f"Selects the object {json_name} is taken from by labels.",
                key_rule=not view.in_list,
            )
        elif view.name == "for" and f.required and not top:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = sorted(required)
    return schema


def field_schema(f: Field, view: View) -> dict[str, Any] | None:
    """OpenAPI schema of one field, or None when nothing of it shows in this view."""
    if f.type == "object":
        schema = object_schema(f.fields or {}, view)
        if not schema["properties"] and f.fields:
            return None  # an object none of whose children show here
        if not schema["properties"]:
            del schema["properties"]  # an empty marker block: {} is its whole meaning
    elif f.type in ("list", "set", "map"):
        assert f.item is not None
        item = field_schema(f.item, view if f.type == "map" else view.items())
        if item is None:
            return None
        if f.type == "map":
            schema = {"type": "object", "additionalProperties": item}
        else:
            schema = {"type": "array", "items": item}
            if f.type == "set" and f.item.type in SCALARS:
                schema["x-kubernetes-list-type"] = "set"
            # The apiserver holds bounds as int64; a larger one bounds nothing anyway.
            if f.min_items:
                schema["minItems"] = min(f.min_items, INT64_MAX)
            if f.max_items:
                schema["maxItems"] = min(f.max_items, INT64_MAX)
    elif f.type == "tuple":
        count = len(f.items or [])
        schema = {
            "type": "array",
            "items": {"x-kubernetes-preserve-unknown-fields": True},
            "minItems": count,
            "maxItems": count,
        }
    elif f.type == "dynamic":
        schema = {"x-kubernetes-preserve-unknown-fields": True}
    else:
        schema = {"type": _OPENAPI_TYPE[f.type]}
    if f.description:
        schema["description"] = f.description
    return schema


# --- names ---------------------------------------------------------------------------
# Every name a user writes becomes a request path, a selector or a Secret key: the CRD
# holds it to Kubernetes' rule (jetgen.runtime.names, which the runtime checks again), so
# the apiserver refuses a bad one with a message naming the field.

SELECTOR_MAX_LABELS = 32


def name_schema(rule: names.Rule, description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": rule.max_length}
    if rule is not names.LABEL_VALUE:
        schema["minLength"] = 1
    schema["pattern"] = rule.pattern
    if description:
        schema["description"] = description
    return schema


def reference_policy_schema() -> dict[str, Any]:
    """Crossplane's reference policy (crossplane-runtime ``xpv1.Policy``); the runtime
    applies it (jetgen.runtime.references) and checks the values again."""
    # Short descriptions: a kind can hold hundreds of references (the CRD's size).
    return {
        "type": "object",
        "description": "resolve: IfNotPresent (default, only while the field is unset) or"
        " Always; resolution: Required (default, else an error) or Optional.",
        "properties": {
            "resolve": {"type": "string", "enum": list(references.RESOLVE)},
            "resolution": {"type": "string", "enum": list(references.RESOLUTION)},
        },
    }


# No ``namespace`` on references or selectors: no kind opts in to cross-namespace
# references, so a namespaced MR resolves only in its own namespace.
def reference_schema(description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": {
            "name": name_schema(names.OBJECT_NAME),
            "policy": reference_policy_schema(),
        },
        "required": ["name"],
    }


def selector_schema(description: str, key_rule: bool = True) -> dict[str, Any]:
    """``matchLabels`` with the label-value rule on values and, unless ``key_rule`` is
    off, a CEL rule on keys (OpenAPI has no rule for map keys that Kubernetes accepts).
    Below a list the apiserver multiplies the rule's estimated cost by the unbounded
    item count and refuses the CRD, so there only the runtime checks keys."""
    labels: dict[str, Any] = {
        "type": "object",
        "maxProperties": SELECTOR_MAX_LABELS,
        "additionalProperties": name_schema(names.LABEL_VALUE),
    }
    if key_rule:
        key = names.LABEL_KEY
        pattern = key.pattern.replace("\\", "\\\\")  # CEL string literals escape backslashes
        labels["x-kubernetes-validations"] = [
            {
                "rule": f"self.all(k, size(k) <= {key.max_length} && k.matches('{pattern}'))",
                "message": "keys must be label keys (an optional DNS subdomain prefix and '/',"
                " then at most 63 letters, digits, '-', '_' and '.')",
            }
        ]
    return {
        "type": "object",
        "description": description,
        "properties": {
            "matchLabels": labels,
            "matchControllerRef": {
                "type": "boolean",
                "description": "Only objects with the same controller as this one.",
            },
            "policy": reference_policy_schema(),
        },
    }


def secret_ref_schema(description: str, with_key: bool, with_namespace: bool) -> dict[str, Any]:
    """A reference to a Secret (and key); cluster-scoped objects must name its namespace."""
    props = {"name": name_schema(names.OBJECT_NAME, "Name of the Secret.")}
    required = ["name"]
    if with_key:
        props["key"] = name_schema(names.SECRET_KEY, "Key in the Secret.")
        required.append("key")
    if with_namespace:
        props["namespace"] = name_schema(names.NAMESPACE, "Namespace of the Secret.")
        required.append("namespace")
    return {
        "type": "object",
        "description": description,
        "properties": props,
        "required": required,
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
    secret_ref = secret_ref_schema("The Secret holding the credentials.", True, needs_ns)
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
    configuration = object_schema(info.provider_fields, View("for", not needs_ns), top=True)
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
                    "conditions": conditions_schema(),
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
