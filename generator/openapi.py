"""The model's fields, and the Crossplane shapes every kind shares, as OpenAPI v3 schemas.

Both the CRDs (:mod:`jetgen.generator.crds`) and the pydantic models
(:mod:`jetgen.generator.pymodels`) are built from these schemas, and the reference pages
(:mod:`jetgen.generator.docs`) list the fields a view shows; so they live below those
emitters, which never import each other.  A field is rendered in three *views*:

``for``   forProvider: inputs, nested required fields required, sensitive -> SecretRef
``init``  initProvider: the same without any ``required``
``at``    atProvider: everything Terraform reports except sensitive / write-only values
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from jetgen.generator import naming
from jetgen.runtime import names, references
from jetgen.runtime.kinds import Field

INT64_MAX = 2**63 - 1
MANAGEMENT_POLICIES = ["Observe", "Create", "Update", "Delete", "LateInitialize", "*"]
SCALARS = ("string", "number", "bool")

_OPENAPI_TYPE = {"string": "string", "number": "number", "bool": "boolean"}


# --- shapes every kind shares --------------------------------------------------------


def management_policies() -> dict[str, Any]:
    return {
        "type": "array",
        "description": "What the controller may do with the external resource.",
        "items": {"type": "string", "enum": MANAGEMENT_POLICIES},
        "default": ["*"],
        "maxItems": len(MANAGEMENT_POLICIES),
        "x-kubernetes-list-type": "set",
    }


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
            shown = field_schema(f, view)
            if shown is None:
                continue
            if f.immutable and view.name == "for" and not view.in_list and cel_typed(shown):
                message = f"{naming.message_text(json_name)} is immutable"
                shown["x-kubernetes-validations"] = [
                    {"rule": "self == oldSelf", "message": message}
                ]
            name = json_name
            props[name] = shown
        if f.ref and view.name != "at":
            assert f.selector is not None, f.tf_name  # model.py names both or neither
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
