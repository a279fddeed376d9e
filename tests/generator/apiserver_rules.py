"""An offline check of the rules kube-apiserver applies to a CustomResourceDefinition.

Written from the apiextensions validation rules (names, structural schemas, CEL typing,
sizes) as far as the generator relies on them; the property tests run every generated
CRD through it, and a sample of them through the real apiserver, so a rule written down
wrongly here is caught there.  ``problems`` returns one line per violation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?\Z")
DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
CEL_NAME = re.compile(r"[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*\Z")
INT64_MAX = 2**63 - 1
SIZE_LIMIT = 1536 * 1024  # etcd's default request limit
# Characters a YAML reader (kubectl's) refuses raw, or folds as line breaks.
YAML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# Keywords allowed in a structural schema node (what the generator may use).
NODE_KEYS = {
    "type",
    "description",
    "properties",
    "additionalProperties",
    "items",
    "required",
    "default",
    "enum",
    "format",
    "minItems",
    "maxItems",
    "allOf",
    "anyOf",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    # Value validations the generator does not use today but a structural schema allows.
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minProperties",
    "maxProperties",
    "nullable",
    "x-kubernetes-int-or-string",
    "x-kubernetes-map-type",
}
# Inside allOf/anyOf only value validations, on fields specified outside too.
JUNCTOR_KEYS = {
    "properties",
    "items",
    "required",
    "enum",
    "anyOf",
    "allOf",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
}
TYPES = {"object", "array", "string", "number", "integer", "boolean"}


def dns1035(name: Any) -> bool:
    return isinstance(name, str) and len(name) <= 63 and bool(DNS1035.match(name))


def subdomain(name: Any) -> bool:
    return (
        isinstance(name, str)
        and 0 < len(name) <= 253
        and all(len(p) <= 63 and DNS1123.match(p) for p in name.split("."))
    )


def problems(crd: dict[str, Any]) -> list[str]:
    """Everything the apiserver would refuse in one CRD (empty when it is fine)."""
    out: list[str] = []
    out += _names(crd)
    for version in crd["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        out += [f"{crd['metadata']['name']}: {p}" for p in _structural(schema, "", root=True)]
    size = len(json.dumps(crd, separators=(",", ":")))
    if size > SIZE_LIMIT:
        out.append(f"{crd['metadata']['name']}: {size} bytes, over {SIZE_LIMIT}")
    return out


def group_problems(crds: list[dict[str, Any]]) -> list[str]:
    """Names shared between CRDs of one group: kinds and list kinds share one space,
    plurals and singulars another; CRD names are unique."""
    out = []
    kinds: dict[tuple[str, str], str] = {}
    resources: dict[tuple[str, str], str] = {}
    names: set[str] = set()
    for crd in crds:
        spec, me = crd["spec"], crd["metadata"]["name"]
        if me in names:
            out.append(f"{me}: two CRDs of that name")
        names.add(me)
        n = spec["names"]
        for space, values in (
            (kinds, (n["kind"], n["listKind"])),
            (resources, (n["plural"], n["singular"])),
        ):
            for value in set(values):
                other = space.get((spec["group"], value))
                if other is not None and other != me:
                    out.append(f"{me}: {value!r} also used by {other}")
                space[(spec["group"], value)] = me
    return out


def yaml_problems(text: str, data: Any) -> list[str]:
    """The YAML reads back exactly as ``data`` and holds no character kubectl refuses."""
    out = []
    match = YAML_UNSAFE.search(text)
    if match:
        out.append(f"raw character U+{ord(match.group()):04X} in YAML")
    try:
        loaded = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        return [*out, f"YAML does not load: {str(exc).splitlines()[0]}"]
    if loaded != [data]:
        out.append("YAML does not read back as the data it was made from")
    return out


def _names(crd: dict[str, Any]) -> list[str]:
    out = []
    spec, meta = crd["spec"], crd["metadata"]
    names, group = spec["names"], spec["group"]
    if not subdomain(group) or "." not in group:
        out.append(f"group {group!r} is not a DNS subdomain with a dot")
    if meta["name"] != f"{names['plural']}.{group}":
        out.append(f"metadata.name {meta['name']!r} is not <plural>.<group>")
    if not subdomain(meta["name"]):
        out.append(f"CRD name {meta['name']!r} is not a DNS subdomain")
    for key in ("plural", "singular"):
        if not dns1035(names.get(key)):
            out.append(f"names.{key} {names.get(key)!r} is not a DNS-1035 label")
    for key in ("kind", "listKind"):
        value = names.get(key)
        if not isinstance(value, str) or not re.fullmatch(r"[A-Z][A-Za-z0-9]*", value):
            out.append(f"names.{key} {value!r} is not a kind (and Python class name)")
        elif not dns1035(value.lower()):
            out.append(f"names.{key} {value!r} lowercased is not a DNS-1035 label")
    if names.get("kind") == names.get("listKind"):
        out.append("kind and listKind are the same")
    for category in names.get("categories", []):
        if not dns1035(category):
            out.append(f"category {category!r} is not a DNS-1035 label")
    for key, value in meta.get("labels", {}).items():
        prefix, _, name = key.rpartition("/")
        if (prefix and not subdomain(prefix)) or not LABEL_VALUE.match(name) or len(name) > 63:
            out.append(f"label key {key!r} is invalid")
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            out.append(f"label value {value!r} is invalid")
    return out


def _structural(node: Any, path: str, root: bool = False, in_list: bool = False) -> Iterator[str]:
    if not isinstance(node, dict):
        yield f"{path or '.'}: schema is not an object"
        return
    for key in node:
        if key not in NODE_KEYS:
            yield f"{path}: unexpected keyword {key!r}"
    kind = node.get("type")
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if kind is None and not preserve:
        yield f"{path or '.'}: no type (structural schemas need one)"
    if kind is not None and kind not in TYPES:
        yield f"{path}: unknown type {kind!r}"
    if "pattern" in node:
        try:
            re.compile(node["pattern"])  # RE2 is stricter; the generator's patterns are plain
        except (re.error, TypeError):
            yield f"{path}: pattern {node['pattern']!r} is not a regular expression"
    props = node.get("properties")
    extra = node.get("additionalProperties")
    if props is not None and extra is not None:
        yield f"{path}: properties and additionalProperties together"
    if kind == "array" and "items" not in node:
        yield f"{path}: array without items"
    if kind != "array" and "items" in node:
        yield f"{path}: items on a non-array"
    for bound in ("minItems", "maxItems", "minLength", "maxLength"):
        value = node.get(bound)
        if value is not None and not (isinstance(value, int) and 0 <= value <= INT64_MAX):
            yield f"{path}: {bound} {value!r} is not an int64 count"
    low, high = node.get("minItems"), node.get("maxItems")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        yield f"{path}: minItems {low} > maxItems {high}"
    for name in node.get("required", []):
        if props is None or name not in props:
            yield f"{path}: required {name!r} is not a property"
    list_type = node.get("x-kubernetes-list-type")
    if list_type == "set":
        item_type = node.get("items", {}).get("type")
        if item_type not in ("string", "number", "integer", "boolean"):
            yield f"{path}: list-type set of non-scalar items"
    if root:
        meta = (props or {}).get("metadata")
        if meta is not None and set(meta) - {"type"}:
            yield "metadata may only say type: object"
    for i, rule in enumerate(node.get("x-kubernetes-validations", [])):
        yield from _rule(node, rule, f"{path}.x-kubernetes-validations[{i}]", in_list)
    for junctor in ("allOf", "anyOf"):
        for i, part in enumerate(node.get(junctor, [])):
            yield from _junctor(node, part, f"{path}.{junctor}[{i}]")
    for name, child in (props or {}).items():
        yield from _structural(child, f"{path}.properties[{json.dumps(name)}]", in_list=in_list)
    if isinstance(extra, dict):
        yield from _structural(extra, f"{path}.additionalProperties", in_list=in_list)
    if isinstance(node.get("items"), dict):
        yield from _structural(node["items"], f"{path}.items", in_list=True)


def _junctor(outer: dict[str, Any], part: Any, path: str) -> Iterator[str]:
    """allOf/anyOf parts: value validations only, on fields the outer schema specifies."""
    if not isinstance(part, dict):
        yield f"{path}: not an object"
        return
    for key in part:
        if key not in JUNCTOR_KEYS:
            yield f"{path}: {key!r} is not allowed inside a junctor"
    for junctor in ("allOf", "anyOf"):
        for i, sub in enumerate(part.get(junctor, [])):
            yield from _junctor(outer, sub, f"{path}.{junctor}[{i}]")
    for name, sub in part.get("properties", {}).items():
        inner = outer.get("properties", {}).get(name)
        if inner is None:
            yield f"{path}: property {name!r} is not specified outside the junctor"
        else:
            yield from _junctor(inner, sub, f"{path}.properties[{json.dumps(name)}]")
    if "items" in part:
        if "items" not in outer:
            yield f"{path}: items not specified outside the junctor"
        else:
            yield from _junctor(outer["items"], part["items"], f"{path}.items")


# --- CEL ---------------------------------------------------------------------------------


def cel_type(schema: dict[str, Any]) -> bool:
    """Whether the apiserver gives this schema a CEL type (SchemaDeclType != nil)."""
    if schema.get("x-kubernetes-int-or-string"):
        return True
    if "type" not in schema:
        return False
    if schema["type"] == "array":
        return cel_type(schema.get("items", {}))
    extra = schema.get("additionalProperties")
    if schema["type"] == "object" and isinstance(extra, dict):
        return cel_type(extra)
    return True


def cel_fields(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The fields CEL sees on an object: typed properties with CEL-spellable names,
    keyed by their escaped CEL name."""
    out = {}
    for name, prop in schema.get("properties", {}).items():
        if cel_type(prop) and CEL_NAME.match(name):
            out[_escape(name)] = prop
    return out


RESERVED = set(
    "true false null in as break const continue else for function if import let loop "
    "package namespace return var void while".split()
)


def _escape(name: str) -> str:
    if name in RESERVED:
        return f"__{name}__"
    return (
        name.replace("__", "__underscores__")
        .replace(".", "__dot__")
        .replace("-", "__dash__")
        .replace("/", "__slash__")
    )


_SELECT = re.compile(r"self((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def _rule(node: dict[str, Any], rule: Any, path: str, in_list: bool) -> Iterator[str]:
    if not isinstance(rule, dict) or not isinstance(rule.get("rule"), str):
        yield f"{path}: rule is not a string"
        return
    if not cel_type(node):
        yield f"{path}: a rule on a schema CEL cannot type"
    message = rule.get("message", "")
    if not isinstance(message, str) or "\n" in message or "\r" in message:
        yield f"{path}: message must be one line"
    text = rule["rule"]
    if "oldSelf" in text and in_list:
        yield f"{path}: transition rule below a list"
    if "matches(" in text and in_list:
        # The cost estimate multiplies by the unbounded item count: the CRD is refused.
        yield f"{path}: regex rule below a list"
    # Every self.a.b selection must name declared, typed fields.
    for match in _SELECT.finditer(text):
        current = node
        for part in match.group(1).split(".")[1:]:
            fields = cel_fields(current)
            if part not in fields:
                yield f"{path}: {match.group()} selects {part!r}, which CEL does not see"
                break
            current = fields[part]
