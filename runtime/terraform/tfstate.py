"""Terraform's JSON state (``terraform.tfstate``) of one managed resource: reading it, and
writing it in the CLI's own format (for the plugin-protocol driver, so that the CLI can
take over any workdir at any time)."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any


def state_instance(data: bytes | None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(resource, instance) of the one managed resource instance in a JSON state (its
    ``attributes`` a dict), or ``None`` if there is none or the state is broken."""
    if not data:
        return None
    try:
        state = json.loads(data)
    except json.JSONDecodeError:
        return None
    for resource in state.get("resources") or []:
        if resource.get("mode", "managed") != "managed":
            continue
        for instance in resource.get("instances") or []:
            if isinstance(instance.get("attributes"), dict):
                return resource, instance
    return None


def state_attributes(data: bytes | None) -> dict[str, Any] | None:
    found = state_instance(data)
    return found[1]["attributes"] if found else None


def state_serial(data: bytes | None) -> tuple[str, int]:
    """(lineage, serial) of a state file; ("", -1) if it is missing or broken."""
    if not data:
        return "", -1
    try:
        state = json.loads(data)
        return str(state.get("lineage", "")), int(state.get("serial", -1))
    except (json.JSONDecodeError, TypeError, ValueError):
        return "", -1


# --- writing -------------------------------------------------------------------------------

STATE_VERSION = 4


@dataclass(frozen=True)
class InstanceState:
    """What a state file records about the one resource instance, as the CLI writes it.

    ``attributes`` is the instance's whole object value (every attribute, nulls included),
    ``sensitive_paths`` the paths of :func:`sensitive_paths`, ``private`` the provider's
    opaque private data (written base64, left out when empty)."""

    type_name: str
    provider: str  # provider["<host>/<namespace>/<name>"]
    schema_version: int
    attributes: dict[str, Any]
    sensitive_paths: list[list[dict[str, Any]]]
    private: bytes = b""


def provider_address(host: str, source: str) -> str:
    """The ``provider`` string of a state's resource, e.g.
    ``provider["registry.opentofu.org/hashicorp/random"]``; ``source`` may name its host."""
    full = source if source.count("/") == 2 else f"{host}/{source}"
    return f'provider["{full.lower()}"]'


def write_state(
    previous: bytes | None,
    instance: InstanceState | None,
    *,
    terraform_version: str,
    resource_name: str,
) -> bytes:
    """A JSON state (format version 4) recording ``instance`` (``None``: no resource), in
    the shape ``tofu``/``terraform`` write, continuing ``previous``: its lineage and
    ``terraform_version`` are kept, its serial is incremented when anything changed (the
    same bytes come back when nothing did), a new lineage is made when there is none."""
    old = _loaded(previous)
    doc: dict[str, Any] = {
        "version": STATE_VERSION,
        "terraform_version": old.get("terraform_version") or terraform_version,
        "serial": old.get("serial", 0),
        "lineage": old.get("lineage") or str(uuid.uuid4()),
        "outputs": old.get("outputs") or {},
        "resources": [] if instance is None else [_resource(instance, resource_name, old)],
        "check_results": old.get("check_results"),
    }
    if previous is not None and _same(doc, old):
        return previous
    doc["serial"] = int(doc["serial"]) + 1 if previous is not None else 1
    return json.dumps(doc, separators=(",", ":")).encode()


def _loaded(previous: bytes | None) -> dict[str, Any]:
    if not previous:
        return {}
    try:
        doc = json.loads(previous)
    except json.JSONDecodeError:
        raise ValueError("the workdir's state is not JSON; not overwriting it") from None
    if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
        raise ValueError("the workdir's state is not a version 4 state; not overwriting it")
    return doc


def _same(doc: dict[str, Any], old: dict[str, Any]) -> bool:
    keys = ("terraform_version", "lineage", "outputs", "resources", "check_results")
    return all(doc.get(k) == old.get(k) for k in keys)


def _resource(instance: InstanceState, name: str, old: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schema_version": instance.schema_version,
        "attributes": instance.attributes,
        "sensitive_attributes": instance.sensitive_paths,
    }
    if instance.private:
        record["private"] = base64.b64encode(instance.private).decode()
    found = state_instance(json.dumps(old).encode()) if old else None
    if found is not None and found[0].get("type") == instance.type_name:
        # What the CLI recorded and a single-resource driver has no say in is kept.
        for key in ("dependencies", "create_before_destroy"):
            if key in found[1]:
                record[key] = found[1][key]
    return {
        "mode": "managed",
        "type": instance.type_name,
        "name": name,
        "provider": instance.provider,
        "instances": [record],
    }


def sensitive_paths(block: dict[str, Any], value: Any) -> list[list[dict[str, Any]]]:
    """The paths Terraform records as ``sensitive_attributes`` for an instance: every
    attribute the schema (``providers schema -json`` shape) marks sensitive, null or not,
    and those inside the nested blocks and nested attributes ``value`` holds, one path per
    element (sorted, as the CLI writes them)."""
    found: list[list[dict[str, Any]]] = []
    _block_paths(block, value, [], found)
    return sorted(found, key=lambda p: json.dumps(p, sort_keys=True))


def _get_attr(name: str) -> dict[str, Any]:
    return {"type": "get_attr", "value": name}


def _index(key: Any) -> dict[str, Any]:
    kind = "number" if isinstance(key, int) else "string"
    return {"type": "index", "value": {"value": key, "type": kind}}


def _elements(mode: str, value: Any) -> list[tuple[Any, Any]]:
    if mode == "map" and isinstance(value, dict):
        return sorted(value.items())
    if mode in ("list", "set") and isinstance(value, list):
        return list(enumerate(value))
    return []


def _block_paths(block: dict[str, Any], value: Any, path: list[Any], out: list[Any]) -> None:
    attributes = block.get("attributes") or {}
    for name, attr in attributes.items():
        if attr.get("sensitive"):
            out.append([*path, _get_attr(name)])
    if not isinstance(value, dict):
        return
    for name, attr in attributes.items():
        nested = attr.get("nested_type")
        if nested and not attr.get("sensitive"):
            _object_paths(nested, value.get(name), [*path, _get_attr(name)], out)
    for name, nested in (block.get("block_types") or {}).items():
        inner, child = nested["block"], value.get(name)
        here = [*path, _get_attr(name)]
        if nested["nesting_mode"] in ("single", "group"):
            if isinstance(child, dict):
                _block_paths(inner, child, here, out)
            continue
        if nested["nesting_mode"] == "set" and _has_sensitive(inner):
            # cty cannot mark one element of a set: the whole set carries the mark.
            if child:
                out.append(here)
            continue
        for key, element in _elements(nested["nesting_mode"], child):
            _block_paths(inner, element, [*here, _index(key)], out)


def _object_paths(nested: dict[str, Any], value: Any, path: list[Any], out: list[Any]) -> None:
    if not isinstance(value, dict | list):
        return
    mode, attributes = nested["nesting_mode"], nested["attributes"]
    if mode == "set":
        if value and _has_sensitive({"attributes": attributes}):
            out.append(path)
        return
    objects = (
        [([], value)] if mode == "single" else [([_index(k)], v) for k, v in _elements(mode, value)]
    )
    for prefix, obj in objects:
        if not isinstance(obj, dict):
            continue
        for name, attr in attributes.items():
            here = [*path, *prefix, _get_attr(name)]
            if attr.get("sensitive"):
                out.append(here)
            elif attr.get("nested_type"):
                _object_paths(attr["nested_type"], obj.get(name), here, out)


def _has_sensitive(block: dict[str, Any]) -> bool:
    for attr in (block.get("attributes") or {}).values():
        if attr.get("sensitive"):
            return True
        nested = attr.get("nested_type")
        if nested and _has_sensitive({"attributes": nested["attributes"]}):
            return True
    return any(_has_sensitive(b["block"]) for b in (block.get("block_types") or {}).values())
