"""Convert values between a managed resource's JSON shape and Terraform's.

The generator recorded every naming and shape decision in the kind's field tree
(:mod:`jetgen.runtime.kinds`); this module only follows it:

* CR ``spec.forProvider`` (lowerCamelCase names, single-item blocks as objects,
  ``<field>SecretRef`` for sensitive inputs) -> Terraform resource arguments;
* Terraform state attributes -> ``status.atProvider`` plus the sensitive values, which
  go only to the connection Secret, keyed ``attribute.<terraform path>``.

Pure functions over plain data; no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from jetgen.runtime.kinds import Field

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class SecretRefUse:
    """A ``<field>SecretRef`` found in a spec: where it is and which Secret key it names.

    ``path`` is the JSON path of the *field* it stands for (ending with that field's JSON
    name); :func:`to_terraform` looks the resolved value up by this path.
    """

    path: Path
    name: str
    key: str
    namespace: str | None = None
    ref_field: str = ""  # the JSON name of the SecretRef field itself (for messages)


# --- CR -> Terraform -------------------------------------------------------------------


def collect_secret_refs(fields: dict[str, Field], value: dict[str, Any]) -> list[SecretRefUse]:
    """Every SecretRef set anywhere in ``value`` (a forProvider-shaped dict)."""
    found: list[SecretRefUse] = []
    _collect_in_object(fields, value or {}, (), found)
    return found


def _collect_in_object(
    fields: dict[str, Field], value: dict[str, Any], path: Path, found: list[SecretRefUse]
) -> None:
    for json_name, field in fields.items():
        if field.secret_ref:
            ref = value.get(field.secret_ref)
            if isinstance(ref, dict):
                found.append(
                    SecretRefUse(
                        path=(*path, json_name),
                        name=str(ref.get("name", "")),
                        key=str(ref.get("key", "")),
                        namespace=ref.get("namespace"),
                        ref_field=field.secret_ref,
                    )
                )
            continue
        if json_name in value:
            _collect_in_value(field, value[json_name], (*path, json_name), found)


def _collect_in_value(field: Field, value: Any, path: Path, found: list[SecretRefUse]) -> None:
    if value is None:
        return
    if field.type == "object" and isinstance(value, dict):
        _collect_in_object(field.fields or {}, value, path, found)
    elif field.type in ("list", "set") and isinstance(value, list) and field.item:
        for index, item in enumerate(value):
            _collect_in_value(field.item, item, (*path, index), found)
    elif field.type == "map" and isinstance(value, dict) and field.item:
        for key, item in value.items():
            _collect_in_value(field.item, item, (*path, key), found)


def to_terraform(
    fields: dict[str, Field],
    value: dict[str, Any],
    secret_values: dict[Path, str] | None = None,
) -> dict[str, Any]:
    """Terraform arguments for a forProvider-shaped ``value``.

    Unset fields are left out (Terraform treats them as null). ``...Ref`` / ``...Selector``
    fields are not in the field tree, so they never reach Terraform; the reconciler has
    already copied the resolved value into the field they stand for.
    """
    return _object_to_tf(fields, value or {}, (), secret_values or {})


def _object_to_tf(
    fields: dict[str, Field], value: dict[str, Any], path: Path, secrets: dict[Path, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for json_name, field in fields.items():
        here = (*path, json_name)
        if field.secret_ref and here in secrets:
            out[field.tf_name] = secrets[here]
        elif json_name in value:
            out[field.tf_name] = _value_to_tf(field, value[json_name], here, secrets)
    return out


def _item(field: Field) -> Field:
    """The element of a list, set or map field; kinds.json always gives one (kinds.py)."""
    assert field.item is not None, field.tf_name
    return field.item


def _value_to_tf(field: Field, value: Any, path: Path, secrets: dict[Path, str]) -> Any:
    if value is None:
        return None
    kind = field.type
    if kind == "object":
        converted = _object_to_tf(field.fields or {}, value, path, secrets)
        return [converted] if field.single else converted
    if kind in ("list", "set"):
        return [_value_to_tf(_item(field), v, (*path, i), secrets) for i, v in enumerate(value)]
    if kind == "map":
        return {k: _value_to_tf(_item(field), v, (*path, k), secrets) for k, v in value.items()}
    if kind == "tuple":
        return [
            _value_to_tf(item_field, v, (*path, i), secrets)
            for i, (item_field, v) in enumerate(zip(field.items or [], value, strict=False))
        ]
    return value  # string, number, bool, dynamic: JSON already is Terraform's JSON


def merge_init_provider(
    for_provider: dict[str, Any] | None, init_provider: dict[str, Any] | None
) -> dict[str, Any]:
    """The create-time spec: ``initProvider`` fills what ``forProvider`` leaves unset."""
    merged = dict(init_provider or {})
    for key, value in (for_provider or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_init_provider(value, merged[key])
        else:
            merged[key] = value
    return merged


def ignore_changes(
    fields: dict[str, Field],
    init_provider: dict[str, Any] | None,
    for_provider: dict[str, Any] | None = None,
) -> list[str]:
    """Terraform attribute paths set only through initProvider, nested ones included
    (``settings[0].owner_id``, ``tags["team"]``): Terraform must not fight later drift on
    them (they are create-time values, as in Crossplane)."""
    return sorted(_init_only(fields, init_provider or {}, for_provider or {}, ""))


# Map keys written into an ignore_changes expression; anything else ignores nothing
# finer than the whole map (the key would have to be escaped into an HCL string).
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_.:/@+-]{1,253}$")


def _init_only(
    fields: dict[str, Field], init: dict[str, Any], given: dict[str, Any], prefix: str
) -> list[str]:
    paths = []
    for json_name, field in fields.items():
        keys = {json_name, field.secret_ref} - {None}
        in_init = [k for k in keys if k in init]
        in_for = [k for k in keys if k in given]
        if not in_init:
            continue
        here = prefix + field.tf_name
        if not in_for:
            paths.append(here)
            continue
        # Both set: merge_init_provider merges objects and maps key by key; anything else
        # is forProvider's alone.
        mine, theirs = init.get(json_name), given.get(json_name)
        if not (isinstance(mine, dict) and isinstance(theirs, dict)):
            continue
        if field.type == "object" and field.fields:
            if field.single and field.mode == "set":
                continue  # set elements cannot be addressed: forProvider's wins
            step = "[0]." if field.single else "."
            paths += _init_only(field.fields, mine, theirs, here + step)
        elif field.type == "map":
            for key in mine.keys() - theirs.keys():
                if _PLAIN_KEY.match(key):
                    paths.append(f'{here}["{key}"]')
    return paths


# --- Terraform -> CR -------------------------------------------------------------------


def from_terraform(
    fields: dict[str, Field], attributes: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Split Terraform state attributes into ``(atProvider, sensitive)``.

    ``sensitive`` maps ``attribute.<terraform path>`` (list indices included, e.g.
    ``attribute.password.0.value``) to the value as text; nothing sensitive or write-only
    ever lands in ``atProvider``.
    """
    sensitive: dict[str, str] = {}
    at_provider = _object_from_tf(fields, attributes or {}, (), sensitive)
    return at_provider, sensitive


def _object_from_tf(
    fields: dict[str, Field], attributes: dict[str, Any], tf_path: Path, sensitive: dict[str, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for json_name, field in fields.items():
        value = attributes.get(field.tf_name)
        if value is None or field.write_only:
            continue
        here = (*tf_path, field.tf_name)
        if field.sensitive:
            sensitive["attribute." + ".".join(map(str, here))] = _as_text(value)
            continue
        converted = _value_from_tf(field, value, here, sensitive)
        if converted is not None:
            out[json_name] = converted
    return out


def _value_from_tf(field: Field, value: Any, tf_path: Path, sensitive: dict[str, str]) -> Any:
    if value is None:
        return None
    kind = field.type
    if kind == "object":
        if field.single:
            if not value:
                return None
            value, tf_path = value[0], (*tf_path, 0)
        return _object_from_tf(field.fields or {}, value, tf_path, sensitive)
    if kind in ("list", "set"):
        return [
            _value_from_tf(_item(field), v, (*tf_path, i), sensitive) for i, v in enumerate(value)
        ]
    if kind == "map":
        return {
            k: _value_from_tf(_item(field), v, (*tf_path, k), sensitive) for k, v in value.items()
        }
    if kind == "tuple":
        return [
            _value_from_tf(item_field, v, (*tf_path, i), sensitive)
            for i, (item_field, v) in enumerate(zip(field.items or [], value, strict=False))
        ]
    return value


def _as_text(value: Any) -> str:
    """Secret data is text: strings stay as they are, anything else becomes JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
