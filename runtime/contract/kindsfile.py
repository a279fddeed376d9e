"""kinds.json: the one writer (:func:`dumps`) and the one reader (:func:`load`).

The file is the model of :mod:`jetgen.runtime.kinds` as JSON: dataclass attributes by
their Python names, unset ones left out of fields.  Descriptions are dropped by
*attribute* (the CRDs and docs carry them; the runtime never needs them), never by key
name, so a Terraform argument called ``description``, ``name`` or ``fields`` keeps its
place in the field tree.

The reader takes nothing on trust: every key and type is checked while decoding, then
:func:`jetgen.runtime.contract.rules.check` checks what the runtime relies on; any
fault is a :class:`ContractError` naming the key.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from jetgen.runtime.config import ConnectionDetail, Credential, ExternalName, Reference, Timeouts
from jetgen.runtime.contract import rules
from jetgen.runtime.contract.errors import ContractError, join, shown
from jetgen.runtime.kinds import DEFAULT_DRIVER, Field, Kind, ProviderInfo

# --- writing ---------------------------------------------------------------------------


def dumps(info: ProviderInfo, descriptions: bool = False) -> str:
    """kinds.json: deterministic JSON (sorted keys), so regenerating gives identical
    bytes; compact, since the C encoder only handles unindented output (seconds saved on
    a big provider)."""
    data = provider_dict(info, descriptions)
    return json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"


def provider_dict(info: ProviderInfo, descriptions: bool) -> dict[str, Any]:
    out = dataclasses.asdict(dataclasses.replace(info, kinds=[], provider_fields={}))
    out["provider_fields"] = fields_dict(info.provider_fields, descriptions)
    out["kinds"] = [kind_dict(k, descriptions) for k in info.kinds]
    return out


def kind_dict(kind: Kind, descriptions: bool) -> dict[str, Any]:
    # asdict() of the shell only: a deep asdict of every field tree costs seconds on a
    # big provider, and field_dict converts the trees anyway.
    out = dataclasses.asdict(dataclasses.replace(kind, fields={}))
    out["fields"] = fields_dict(kind.fields, descriptions)
    if not descriptions:
        del out["description"]
    if kind.driver == DEFAULT_DRIVER:
        del out["driver"]  # as before drivers existed: unchanged files for the default
    if not kind.pure_plan:
        del out["pure_plan"]  # likewise
    return out


def fields_dict(fields: dict[str, Field], descriptions: bool) -> dict[str, Any]:
    return {name: field_dict(f, descriptions) for name, f in fields.items()}


_FIELD_ATTRIBUTES = [f.name for f in dataclasses.fields(Field)]


def field_dict(f: Field, descriptions: bool) -> dict[str, Any]:
    """Unset attributes are omitted; without ``descriptions`` the field's and its
    children's ``description`` *attribute* is (never a child named description)."""
    out: dict[str, Any] = {"tf_name": f.tf_name, "type": f.type}
    for name in _FIELD_ATTRIBUTES:
        value = getattr(f, name)
        if name in ("tf_name", "type") or value in (None, False, ""):
            continue
        if name == "description" and not descriptions:
            continue
        if name == "fields":
            value = fields_dict(value, descriptions)
        elif name == "item":
            value = field_dict(value, descriptions)
        elif name == "items":
            value = [field_dict(v, descriptions) for v in value]
        out[name] = value
    return out


# --- reading ---------------------------------------------------------------------------


def load(path: str | Path) -> ProviderInfo:
    """Read and check kinds.json; every fault is a :class:`ContractError` naming the key
    (the caller names the file)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError("", exc.strerror or str(exc)) from None
    except UnicodeDecodeError:
        raise ContractError("", "not UTF-8 text") from None
    return loads(text)


def loads(text: str) -> ProviderInfo:
    try:
        data = json.loads(text)
        info = decode(data)
        rules.check(info)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise ContractError("", f"not valid JSON: {exc.msg} ({where})") from None
    except RecursionError:  # a generator never nests fields this deep (schema.py bounds it)
        raise ContractError("", "nested too deeply to be a generated kinds.json") from None
    return info


def decode(data: Any) -> ProviderInfo:
    """The model from parsed JSON, every key and type checked (no rules yet)."""
    info: ProviderInfo = _object(ProviderInfo, data, None)
    return info


_CLASSES: dict[str, type] = {
    c.__name__: c
    for c in (
        Field, Kind, ProviderInfo, ExternalName, Reference, ConnectionDetail, Timeouts, Credential
    )
}  # fmt: skip
# FieldType is a Literal of strings: read as a string here, its values are the
# validator's to check (rules.TYPES), so the message names them.
_PLAIN = {"str": str, "bool": bool, "int": int, "FieldType": str}
_PLAIN_NAMES = {"str": "string", "bool": "boolean", "int": "integer", "FieldType": "string"}

# Per class: attribute -> (None allowed, base type, element type of list/dict), and the
# attributes without a default.
_Spec = tuple[bool, str, str | None]
_SPECS: dict[type, dict[str, _Spec]] = {}
_REQUIRED: dict[type, list[str]] = {}

# Where a value is, as a chain (parent, step): built for every value, turned into text
# (``kinds[3].fields.pool``) only for an error, which keeps decoding fast.
_Key = tuple[Any, str | int] | None


def _text(key: _Key) -> str:
    steps: list[str | int] = []
    while key is not None:
        key, step = key
        steps.append(step)
    text = ""
    for step in reversed(steps):
        text = join(text, step)
    return text


def _fail(key: _Key, message: str) -> ContractError:
    return ContractError(_text(key), message)


def _specs(cls: type) -> dict[str, _Spec]:
    if cls not in _SPECS:
        specs: dict[str, _Spec] = {}
        for f in dataclasses.fields(cls):
            text = str(f.type)
            optional = text.endswith(" | None")
            base = text.removesuffix(" | None")
            if base.startswith("list["):
                specs[f.name] = (optional, "list", base[5:-1])
            elif base.startswith("dict[str, "):
                specs[f.name] = (optional, "dict", base[10:-1])
            else:
                specs[f.name] = (optional, base, None)
        _SPECS[cls] = specs
        _REQUIRED[cls] = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
    return _SPECS[cls]


def _object(cls: type, data: Any, key: _Key) -> Any:
    if not isinstance(data, dict):
        raise _fail(key, f"expected an object, got {shown(data)}")
    specs = _specs(cls)
    values: dict[str, Any] = {}
    for name, value in data.items():
        spec = specs.get(name)
        if spec is None:
            raise _fail((key, name), "unknown key")
        values[name] = _value(spec, value, (key, name))
    for name in _REQUIRED[cls]:
        if name not in values:
            raise _fail((key, name), "missing")
    return cls(**values)


def _value(spec: _Spec, value: Any, key: _Key) -> Any:
    optional, base, element = spec
    if value is None and optional:
        return None
    plain = _PLAIN.get(base)
    if plain is not None:
        if not isinstance(value, plain) or (plain is int and isinstance(value, bool)):
            raise _fail(key, f"expected a {_PLAIN_NAMES[base]}, got {shown(value)}")
        return value
    if element is None:
        return _object(_CLASSES[base], value, key)
    inner: _Spec = (False, element, None)  # a list or a dict of ``element``
    if base == "list":
        if not isinstance(value, list):
            raise _fail(key, f"expected a list, got {shown(value)}")
        return [_value(inner, v, (key, i)) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        raise _fail(key, f"expected an object, got {shown(value)}")
    return {k: _value(inner, v, (key, k)) for k, v in value.items()}
