"""Provider schemas: protobuf -> the JSON shape of `tofu providers schema -json`, -> cty types.

The rest of jetgen (generator, runtime) already reads schemas in the CLI's JSON shape, so
the plugin client hands out exactly that shape and works from it internally too. A block
looks like:

    {"attributes": {name: {"type": <cty type JSON> | "nested_type": {...}, "required": true,
                           "optional": true, "computed": true, "sensitive": true, ...}},
     "block_types": {name: {"nesting_mode": "list", "block": {...}, "min_items": 1}},
     "description": "...", "description_kind": "plain"}

Like the CLI, flags that are false and texts that are empty are left out.
"""

from __future__ import annotations

from typing import Any

from jetgen.runtime.tfplugin import cty

_BLOCK_NESTING = {1: "single", 2: "list", 3: "set", 4: "map", 5: "group"}
_OBJECT_NESTING = {1: "single", 2: "list", 3: "set", 4: "map"}
_STRING_KIND = {0: "plain", 1: "markdown"}


def provider_schema_to_dict(response: Any) -> dict[str, Any]:
    """A GetProviderSchema response (protocol 5 or 6) as `providers schema -json` shows one
    provider (the value under `provider_schemas[<address>]`)."""
    out: dict[str, Any] = {"provider": schema_to_dict(response.provider)}
    if response.HasField("provider_meta") and response.provider_meta.HasField("block"):
        out["provider_meta"] = schema_to_dict(response.provider_meta)
    for key in ("resource_schemas", "data_source_schemas"):
        schemas = getattr(response, key)
        if schemas:
            out[key] = {name: schema_to_dict(schemas[name]) for name in sorted(schemas)}
    return out


def schema_to_dict(schema: Any) -> dict[str, Any]:
    return {"version": schema.version, "block": _block(schema.block)}


def _block(block: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if block.attributes:
        out["attributes"] = {a.name: _attribute(a) for a in block.attributes}
    if block.block_types:
        out["block_types"] = {b.type_name: _nested_block(b) for b in block.block_types}
    _describe(out, block)
    if block.deprecated:
        out["deprecated"] = True
    return out


def _attribute(attr: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # Protocol 5 messages have no nested_type field at all.
    if "nested_type" in attr.DESCRIPTOR.fields_by_name and attr.HasField("nested_type"):
        out["nested_type"] = _nested_type(attr.nested_type)
    else:
        out["type"] = cty.parse_type(attr.type)
    _describe(out, attr)
    for flag in ("required", "optional", "computed", "sensitive", "deprecated", "write_only"):
        if getattr(attr, flag):
            out[flag] = True
    return out


def _nested_type(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attributes": {a.name: _attribute(a) for a in obj.attributes},
        "nesting_mode": _OBJECT_NESTING.get(obj.nesting, "invalid"),
    }
    return out


def _nested_block(nested: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "nesting_mode": _BLOCK_NESTING.get(nested.nesting, "invalid"),
        "block": _block(nested.block),
    }
    if nested.min_items:
        out["min_items"] = nested.min_items
    if nested.max_items:
        out["max_items"] = nested.max_items
    return out


def _describe(out: dict[str, Any], message: Any) -> None:
    if message.description:
        out["description"] = message.description
    out["description_kind"] = _STRING_KIND.get(message.description_kind, "plain")


# --- cty types implied by a schema ------------------------------------------------------


def block_type(block: dict[str, Any]) -> cty.CtyType:
    """The object type of a block's value (what Terraform calls its implied type)."""
    attrs = {name: attribute_type(a) for name, a in block.get("attributes", {}).items()}
    for name, nested in block.get("block_types", {}).items():
        attrs[name] = nested_block_type(nested)
    return ["object", attrs]


def attribute_type(attr: dict[str, Any]) -> cty.CtyType:
    if "nested_type" in attr:
        nested = attr["nested_type"]
        obj = ["object", {n: attribute_type(a) for n, a in nested["attributes"].items()}]
        return _nest(nested["nesting_mode"], obj)
    return cty.parse_type(attr["type"])


def nested_block_type(nested: dict[str, Any]) -> cty.CtyType:
    obj = block_type(nested["block"])
    mode = nested["nesting_mode"]
    # A list or map of blocks whose content has a `dynamic` attribute cannot be a cty
    # list/map (their elements could differ in type), so Terraform types it `dynamic`
    # and the value travels with its own type (a tuple / an object).
    if mode in ("list", "map") and cty.has_dynamic(obj):
        return "dynamic"
    return _nest(mode, obj)


def _nest(mode: str, obj: cty.CtyType) -> cty.CtyType:
    if mode in ("single", "group"):
        return obj
    if mode in ("list", "set", "map"):
        return [mode, obj]
    raise ValueError(f"unknown nesting mode {mode!r}")
