"""cty types and the msgpack encoding of cty values, as the Terraform plugin protocol uses them.

Terraform's value system (cty, from the Go library go-cty) travels over the plugin protocol
as msgpack bytes (`DynamicValue.msgpack`). msgpack itself carries no cty type, so both sides
must know the type: the encoder needs it to write an object with *every* attribute present
(null when unset) and the decoder to tell a list from a set or a map from an object. Types
come from the provider schema (`schema.block_type`).

Python side representation (plain, JSON-like):

    cty type          Python value            msgpack
    string            str                     str
    number            int | float             int / float64 / decimal string when neither fits
    bool              bool                    bool
    list, set, tuple  list                    array
    map, object       dict[str, ...]          map (objects: every attribute, nulls included)
    dynamic           any of the above        [type as JSON bytes, value]
    null              None                    nil
    unknown           UNKNOWN                 extension type 0 (12 = unknown with refinements)

Types are kept in cty's own JSON notation, the one schemas and `providers schema -json` use:
"string" | "number" | "bool" | "dynamic" | ["list", T] | ["set", T] | ["map", T] |
["object", {name: T}] | ["tuple", [T, ...]].
"""

from __future__ import annotations

import json
import math
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships neither types nor stubs

# A primitive's name, or a JSON list such as ["list", "string"] or ["object", {...}].
CtyType = str | list[Any]

# cty writes an unknown as fixext1 of extension type 0 with a zero payload byte; newer
# versions write "refined" unknowns (known not-null, string prefix, ...) as type 12. We keep
# no refinements: for a client both mean "known only after apply".
_EXT_UNKNOWN = 0
_EXT_REFINED_UNKNOWN = 12

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class CtyError(ValueError):
    """A value does not fit the cty type it is encoded or decoded as."""

    def __init__(self, path: list[str | int], message: str):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path) or "(root)"
        super().__init__(f"{where}: {message}")
        self.path = path


class _Unknown:
    """The one "unknown value" marker: a value that is known only after apply."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    # Copies of a plan must keep the same marker so `value is UNKNOWN` stays true.
    def __copy__(self) -> _Unknown:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Unknown:
        return self

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN


def contains_unknown(value: Any) -> bool:
    """True when the value is unknown or has an unknown anywhere inside."""
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(contains_unknown(v) for v in value)
    return False


# --- types -----------------------------------------------------------------------------


def parse_type(raw: bytes | str | CtyType) -> CtyType:
    """A cty type from its JSON text (as in schemas), or as already-parsed JSON."""
    if isinstance(raw, bytes | bytearray):
        raw = raw.decode()
    if isinstance(raw, str) and raw not in ("string", "number", "bool", "dynamic"):
        raw = json.loads(raw)
    return _check_type(raw)


def _check_type(ty: Any) -> CtyType:
    if isinstance(ty, str) and ty in ("string", "number", "bool", "dynamic"):
        return ty
    if isinstance(ty, list) and ty:
        kind = ty[0]
        if kind in ("list", "set", "map") and len(ty) == 2:
            return [kind, _check_type(ty[1])]
        if kind == "object" and len(ty) in (2, 3) and isinstance(ty[1], dict):
            # A third element lists optional attributes (only in type constraints such as
            # function parameters); it does not change the encoding, so it is dropped.
            return ["object", {name: _check_type(t) for name, t in ty[1].items()}]
        if kind == "tuple" and len(ty) == 2 and isinstance(ty[1], list):
            return ["tuple", [_check_type(t) for t in ty[1]]]
    raise ValueError(f"not a cty type: {ty!r}")


def type_of(value: Any) -> CtyType:
    """The most specific cty type for a plain value; used for `dynamic` attributes.

    Lists become tuples and dicts objects, as Terraform does for a literal expression.
    """
    if value is None or value is UNKNOWN:
        return "dynamic"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return ["tuple", [type_of(v) for v in value]]
    if isinstance(value, dict):
        return ["object", {str(k): type_of(v) for k, v in value.items()}]
    raise CtyError([], f"no cty type for Python {type(value).__name__}")


def has_dynamic(ty: CtyType) -> bool:
    """True when the type is or contains `dynamic` (its values carry their own type)."""
    if ty == "dynamic":
        return True
    if isinstance(ty, list):
        if ty[0] == "object":
            return any(has_dynamic(t) for t in ty[1].values())
        if ty[0] == "tuple":
            return any(has_dynamic(t) for t in ty[1])
        return has_dynamic(ty[1])
    return False


# --- encoding --------------------------------------------------------------------------


def encode(value: Any, ty: CtyType) -> bytes:
    """msgpack bytes of `value` as a cty value of type `ty`."""
    packed: bytes = msgpack.packb(_to_wire(value, ty, []), use_bin_type=True)
    return packed


def _to_wire(value: Any, ty: CtyType, path: list[str | int]) -> Any:
    if value is UNKNOWN:
        return msgpack.ExtType(_EXT_UNKNOWN, b"\x00")
    if value is None:
        return None
    if ty == "dynamic":
        actual = type_of(value)
        return [json.dumps(actual, separators=(",", ":")).encode(), _to_wire(value, actual, path)]
    if ty == "string":
        return _as_string(value, path)
    if ty == "number":
        return _as_number(value, path)
    if ty == "bool":
        return _as_bool(value, path)
    if isinstance(ty, str):
        raise CtyError(path, f"unsupported cty type {ty!r}")
    kind = ty[0]
    if kind in ("list", "set"):
        if not isinstance(value, list | tuple | set | frozenset):
            raise CtyError(path, f"expected a list for {kind}, got {type(value).__name__}")
        return [_to_wire(v, ty[1], [*path, i]) for i, v in enumerate(value)]
    if kind == "tuple":
        if not isinstance(value, list | tuple) or len(value) != len(ty[1]):
            raise CtyError(path, f"expected a list of {len(ty[1])} elements for a tuple")
        return [
            _to_wire(v, t, [*path, i]) for i, (v, t) in enumerate(zip(value, ty[1], strict=True))
        ]
    if kind == "map":
        if not isinstance(value, dict):
            raise CtyError(path, f"expected a dict for a map, got {type(value).__name__}")
        return {str(k): _to_wire(v, ty[1], [*path, str(k)]) for k, v in value.items()}
    if kind == "object":
        if not isinstance(value, dict):
            raise CtyError(path, f"expected a dict for an object, got {type(value).__name__}")
        extra = set(value) - set(ty[1])
        if extra:
            raise CtyError(path, f"unsupported attribute(s): {', '.join(sorted(extra))}")
        # Every attribute must be present on the wire, null when the caller left it out.
        return {name: _to_wire(value.get(name), t, [*path, name]) for name, t in ty[1].items()}
    raise CtyError(path, f"unsupported cty type {ty!r}")


def _as_string(value: Any, path: list[str | int]) -> str:
    # The conversions Terraform applies to a configuration value given for a string.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    raise CtyError(path, f"expected a string, got {type(value).__name__}")


def _as_number(value: Any, path: list[str | int]) -> int | float | str:
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                raise CtyError(path, f"expected a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CtyError(path, f"expected a number, got {type(value).__name__}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CtyError(path, "a number must be finite")
        if not value.is_integer():
            return value
        value = int(value)
    # Like cty: an integer goes as a msgpack int when it fits in 64 bits, else as its
    # decimal text (the msgpack decoders on the Go side accept both).
    return value if _INT64_MIN <= value <= _INT64_MAX else str(value)


def _as_bool(value: Any, path: list[str | int]) -> bool:
    if isinstance(value, bool):
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    raise CtyError(path, f"expected a bool, got {value!r}")


# --- decoding --------------------------------------------------------------------------


def decode(data: bytes, ty: CtyType) -> Any:
    """The plain Python value of msgpack bytes holding a cty value of type `ty`."""
    wire = msgpack.unpackb(data, raw=False, ext_hook=_ext_hook, strict_map_key=False)
    return _from_wire(wire, ty, [])


def _ext_hook(code: int, payload: bytes) -> Any:
    if code in (_EXT_UNKNOWN, _EXT_REFINED_UNKNOWN):
        return UNKNOWN
    raise CtyError([], f"unexpected msgpack extension type {code}")


def _from_wire(wire: Any, ty: CtyType, path: list[str | int]) -> Any:
    if wire is None or wire is UNKNOWN:
        return wire
    if ty == "dynamic":
        if not (isinstance(wire, list) and len(wire) == 2):
            raise CtyError(path, "a dynamic value must be [type, value]")
        return _from_wire(wire[1], parse_type(wire[0]), path)
    if ty == "string":
        if not isinstance(wire, str):
            raise CtyError(path, f"expected a string, got {type(wire).__name__}")
        return wire
    if ty == "number":
        return _number_from_wire(wire, path)
    if ty == "bool":
        if not isinstance(wire, bool):
            raise CtyError(path, f"expected a bool, got {type(wire).__name__}")
        return wire
    if isinstance(ty, str):
        raise CtyError(path, f"unsupported cty type {ty!r}")
    kind = ty[0]
    if kind in ("list", "set"):
        return [_from_wire(v, ty[1], [*path, i]) for i, v in enumerate(_array(wire, path))]
    if kind == "tuple":
        items = _array(wire, path)
        if len(items) != len(ty[1]):
            raise CtyError(path, f"expected {len(ty[1])} tuple elements, got {len(items)}")
        return [
            _from_wire(v, t, [*path, i]) for i, (v, t) in enumerate(zip(items, ty[1], strict=True))
        ]
    if kind == "map":
        return {k: _from_wire(v, ty[1], [*path, k]) for k, v in _mapping(wire, path).items()}
    if kind == "object":
        fields = _mapping(wire, path)
        return {name: _from_wire(fields.get(name), t, [*path, name]) for name, t in ty[1].items()}
    raise CtyError(path, f"unsupported cty type {ty!r}")


def _number_from_wire(wire: Any, path: list[str | int]) -> int | float:
    if isinstance(wire, bool):
        raise CtyError(path, "expected a number, got bool")
    if isinstance(wire, int):
        return wire
    if isinstance(wire, float):
        return int(wire) if wire.is_integer() and abs(wire) < 2**53 else wire
    if isinstance(wire, str):  # numbers too big or too precise for int64/float64
        try:
            return int(wire)
        except ValueError:
            return float(wire)
    raise CtyError(path, f"expected a number, got {type(wire).__name__}")


def _array(wire: Any, path: list[str | int]) -> list[Any]:
    if not isinstance(wire, list):
        raise CtyError(path, f"expected an array, got {type(wire).__name__}")
    return wire


def _mapping(wire: Any, path: list[str | int]) -> dict[Any, Any]:
    if not isinstance(wire, dict):
        raise CtyError(path, f"expected a map, got {type(wire).__name__}")
    return wire
