"""Parse `terraform providers schema -json` output into typed objects.

Every value is checked as it is read, and every error names the file and the JSON path
of the offending value, e.g.::

    schema.json: $.provider_schemas["registry.terraform.io/x/y"].resource_schemas.x_a
    .block.attributes.b.type: unknown type "foo"

Nothing here knows about Kubernetes; :mod:`jetgen.generator.model` turns these objects
into kinds.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeGuard, TypeVar

# The parser admits only these (each a Field type of the model, see jetgen.runtime.kinds).
TypeKind = Literal["string", "number", "bool", "dynamic", "list", "set", "map", "object", "tuple"]
Nesting = Literal["single", "group", "list", "set", "map"]
PRIMITIVES: tuple[TypeKind, ...] = ("string", "number", "bool", "dynamic")
COLLECTIONS: tuple[TypeKind, ...] = ("list", "set", "map")
BLOCK_NESTING = ("single", "group", "list", "set", "map")
NESTED_TYPE_NESTING = ("single", "list", "set", "map")
# Levels of blocks, nested types and type constructors one attribute may sit under.
# Real providers use about a dozen (AWS: 12); the bound keeps every later tree walk, the
# apiserver's and the model generator's far from their recursion limits.
MAX_DEPTH = 32
# Items an object needs at least, multiplied over nested min_items: examples (and any
# real object) hold that many; real providers ask for a handful.
MAX_MIN_ITEMS = 1000


class SchemaError(ValueError):
    """The provider schema is malformed; the message names the file and JSON path."""


# --- typed view of the format --------------------------------------------------------


@dataclass(frozen=True)
class TypeExpr:
    """A Terraform type expression such as ``"string"`` or ``["map", ["list", "number"]]``.

    ``kind`` is a primitive (string, number, bool, dynamic) or a constructor (list, set,
    map, object, tuple).  Collections keep their ``element``; objects their
    ``attributes`` and the names listed as optional; tuples their ``elements``.
    """

    kind: TypeKind
    element: TypeExpr | None = None
    attributes: tuple[tuple[str, TypeExpr], ...] = ()
    optional: frozenset[str] = frozenset()
    elements: tuple[TypeExpr, ...] = ()


@dataclass
class Attribute:
    name: str
    type: TypeExpr | None  # exactly one of type / nested is set
    nested: NestedType | None
    description: str = ""
    required: bool = False
    optional: bool = False
    computed: bool = False
    sensitive: bool = False
    write_only: bool = False
    deprecated: bool = False


@dataclass
class NestedType:
    """A plugin-framework ``nested_type``: attributes nested with a collection mode."""

    nesting: Nesting
    attributes: dict[str, Attribute]
    min_items: int = 0
    max_items: int = 0


@dataclass
class Block:
    attributes: dict[str, Attribute] = field(default_factory=dict)
    blocks: dict[str, BlockType] = field(default_factory=dict)
    description: str = ""
    deprecated: bool = False


@dataclass
class BlockType:
    name: str
    nesting: Nesting
    block: Block
    min_items: int = 0
    max_items: int = 0


@dataclass
class Resource:
    type_name: str
    block: Block
    version: int = 0


@dataclass
class ProviderSchema:
    """One provider of the file: its source address, provider block and resources."""

    source: str
    provider: Block
    resources: dict[str, Resource]

    @property
    def name(self) -> str:
        """Short name: last part of the source address (``registry.../linode/linode``)."""
        return self.source.rstrip("/").rsplit("/", 1)[-1]


# --- reading -------------------------------------------------------------------------

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_SURROGATE = re.compile("[\ud800-\udfff]")


_Word = TypeVar("_Word", bound=str)


def _one_of(value: str, allowed: tuple[_Word, ...]) -> TypeGuard[_Word]:
    """``value in allowed``, which also tells the type checker which literal it is."""
    return value in allowed


def child(path: str, key: str | int) -> str:
    """JSON path of ``key`` under ``path``: ``.name`` or ``["odd/name"]`` or ``[3]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENT.match(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


class _Reader:
    """Walks the JSON document; ``fail`` raises a SchemaError naming file and path."""

    def __init__(self, filename: str):
        self.filename = filename
        self.need = 1  # product of min_items of the collections being read

    @contextlib.contextmanager
    def collection(self, low: int, path: str) -> Iterator[None]:
        """Reading the children of a collection that needs ``low`` items."""
        outer = self.need
        self.need = outer * max(1, low)
        if self.need > MAX_MIN_ITEMS:
            raise self.fail(
                path,
                f"min_items {low}: a value would need at least {self.need} nested items"
                f" (jetgen supports {MAX_MIN_ITEMS})",
            )
        try:
            yield
        finally:
            self.need = outer

    def fail(self, path: str, message: str) -> SchemaError:
        return SchemaError(f"{self.filename}: {path}: {message}")

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected an object, got {_json_kind(value)}")
        return value

    def flag(self, data: dict[str, Any], key: str, path: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(child(path, key), f"expected true/false, got {_json_kind(value)}")
        return value

    def count(self, data: dict[str, Any], key: str, path: str) -> int:
        value = data.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(child(path, key), f"expected a count, got {_show(value)}")
        return value

    def text(self, data: dict[str, Any], key: str, path: str) -> str:
        value = data.get(key, "")
        if not isinstance(value, str):
            raise self.fail(child(path, key), f"expected a string, got {_json_kind(value)}")
        # A lone surrogate (JSON "\\ud800") is no character: it cannot be written as UTF-8.
        return _SURROGATE.sub("\ufffd", value)

    def names(self, data: dict[str, Any], path: str) -> dict[str, Any]:
        """``data`` (a mapping of names) after checking every name can become one."""
        for name in data:
            if not name:
                raise self.fail(child(path, name), "empty name")
            if _SURROGATE.search(name):
                raise self.fail(child(path, name), "name holds a lone surrogate (no character)")
        return data

    def deeper(self, depth: int, path: str) -> int:
        if depth >= MAX_DEPTH:
            raise self.fail(path, f"nested more than {MAX_DEPTH} levels deep")
        return depth + 1

    def bounds(self, data: dict[str, Any], path: str) -> tuple[int, int]:
        low, high = self.count(data, "min_items", path), self.count(data, "max_items", path)
        if high and low > high:
            raise self.fail(path, f"min_items {low} is greater than max_items {high}")
        return low, high

    # -- type expressions --

    def type_expr(self, value: Any, path: str, depth: int = 0) -> TypeExpr:
        if isinstance(value, str):
            if _one_of(value, PRIMITIVES):
                return TypeExpr(value)
            raise self.fail(path, f"unknown type {_show(value)}")
        if not isinstance(value, list) or not value or not isinstance(value[0], str):
            raise self.fail(path, f"unknown type {_show(value)}")
        kind = value[0]
        depth = self.deeper(depth, path)
        if _one_of(kind, COLLECTIONS):
            if len(value) != 2:
                raise self.fail(path, f"{kind} type needs exactly one element type")
            return TypeExpr(kind, element=self.type_expr(value[1], child(path, 1), depth))
        if kind == "object":
            return self.object_type(value, path, depth)
        if kind == "tuple":
            if len(value) != 2 or not isinstance(value[1], list):
                raise self.fail(path, "tuple type needs a list of element types")
            elements = tuple(
                self.type_expr(e, child(child(path, 1), i), depth) for i, e in enumerate(value[1])
            )
            return TypeExpr("tuple", elements=elements)
        raise self.fail(path, f"unknown type {_show(kind)}")

    def object_type(self, value: list[Any], path: str, depth: int) -> TypeExpr:
        if len(value) not in (2, 3):
            raise self.fail(path, "object type needs attribute types (and optional names)")
        attrs = self.names(self.mapping(value[1], child(path, 1)), child(path, 1))
        parsed = tuple(
            (name, self.type_expr(t, child(child(path, 1), name), depth))
            for name, t in sorted(attrs.items())
        )
        optional: list[str] = []
        if len(value) == 3:
            if not isinstance(value[2], list) or not all(isinstance(n, str) for n in value[2]):
                raise self.fail(child(path, 2), "expected a list of optional attribute names")
            for i, name in enumerate(value[2]):
                if name not in attrs:
                    raise self.fail(child(child(path, 2), i), f"no attribute named {name!r}")
            optional = value[2]
        return TypeExpr("object", attributes=parsed, optional=frozenset(optional))

    # -- attributes and blocks --

    def attribute(self, name: str, value: Any, path: str, depth: int) -> Attribute:
        data = self.mapping(value, path)
        has_type, has_nested = "type" in data, "nested_type" in data
        if has_type == has_nested:
            raise self.fail(path, "an attribute needs exactly one of 'type' or 'nested_type'")
        attr = Attribute(
            name=name,
            type=self.type_expr(data["type"], child(path, "type"), depth) if has_type else None,
            nested=self.nested_type(data["nested_type"], child(path, "nested_type"), depth)
            if has_nested
            else None,
            description=self.text(data, "description", path),
            required=self.flag(data, "required", path),
            optional=self.flag(data, "optional", path),
            computed=self.flag(data, "computed", path),
            sensitive=self.flag(data, "sensitive", path),
            write_only=self.flag(data, "write_only", path),
            deprecated=self.flag(data, "deprecated", path),
        )
        if not (attr.required or attr.optional or attr.computed):
            raise self.fail(path, "attribute is neither required, optional nor computed")
        if attr.required and (attr.optional or attr.computed):
            raise self.fail(path, "a required attribute cannot also be optional or computed")
        return attr

    def nested_type(self, value: Any, path: str, depth: int) -> NestedType:
        data = self.mapping(value, path)
        depth = self.deeper(depth, path)
        nesting = data.get("nesting_mode")
        if nesting not in NESTED_TYPE_NESTING:
            raise self.fail(child(path, "nesting_mode"), f"unknown nesting mode {_show(nesting)}")
        attrs_path = child(path, "attributes")
        attrs = self.names(self.mapping(data.get("attributes", {}), attrs_path), attrs_path)
        low, high = self.bounds(data, path)
        with self.collection(low, path):
            attributes = {
                n: self.attribute(n, a, child(attrs_path, n), depth)
                for n, a in sorted(attrs.items())
            }
        return NestedType(nesting=nesting, attributes=attributes, min_items=low, max_items=high)

    def block(self, value: Any, path: str, depth: int = 0) -> Block:
        data = self.mapping(value, path)
        attrs_path, blocks_path = child(path, "attributes"), child(path, "block_types")
        attrs = self.names(self.mapping(data.get("attributes", {}), attrs_path), attrs_path)
        blocks = self.names(self.mapping(data.get("block_types", {}), blocks_path), blocks_path)
        parsed = Block(
            attributes={
                n: self.attribute(n, a, child(attrs_path, n), depth)
                for n, a in sorted(attrs.items())
            },
            blocks={
                n: self.block_type(n, b, child(blocks_path, n), depth)
                for n, b in sorted(blocks.items())
            },
            description=self.text(data, "description", path),
            deprecated=self.flag(data, "deprecated", path),
        )
        for name in parsed.blocks:
            if name in parsed.attributes:
                raise self.fail(child(blocks_path, name), "same name as an attribute")
        return parsed

    def block_type(self, name: str, value: Any, path: str, depth: int) -> BlockType:
        data = self.mapping(value, path)
        depth = self.deeper(depth, path)
        nesting = data.get("nesting_mode")
        if nesting not in BLOCK_NESTING:
            raise self.fail(child(path, "nesting_mode"), f"unknown nesting mode {_show(nesting)}")
        low, high = self.bounds(data, path)
        with self.collection(low, path):
            block = self.block(data.get("block", {}), child(path, "block"), depth)
        return BlockType(name=name, nesting=nesting, block=block, min_items=low, max_items=high)

    def resource(self, name: str, value: Any, path: str) -> Resource:
        data = self.mapping(value, path)
        if "block" not in data:
            raise self.fail(path, "missing 'block'")
        return Resource(
            type_name=name,
            block=self.block(data["block"], child(path, "block")),
            version=self.count(data, "version", path),
        )

    def provider(self, source: str, value: Any, path: str) -> ProviderSchema:
        data = self.mapping(value, path)
        provider = data.get("provider", {"block": {}})
        provider_path = child(path, "provider")
        provider_data = self.mapping(provider, provider_path)
        res_path = child(path, "resource_schemas")
        resources = self.mapping(data.get("resource_schemas", {}), res_path)
        for name in resources:
            if _SURROGATE.search(name):
                raise self.fail(child(res_path, name), "name holds a lone surrogate (no character)")
        return ProviderSchema(
            source=source,
            provider=self.block(provider_data.get("block", {}), child(provider_path, "block")),
            resources={
                n: self.resource(n, r, child(res_path, n)) for n, r in sorted(resources.items())
            },
        )


def _show(value: Any, limit: int = 80) -> str:
    """A short JSON rendering of ``value`` for a message (deep values are cut, not
    recursed into)."""
    try:
        text = json.dumps(value)
    except (RecursionError, ValueError):
        return _json_kind(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )


# --- entry points --------------------------------------------------------------------


def parse(document: Any, filename: str, provider: str | None = None) -> ProviderSchema:
    """Validate a decoded schema document and return the one provider asked for.

    ``provider`` selects by source address or short name when the file holds several.
    """
    reader = _Reader(filename)
    root = reader.mapping(document, "$")
    version = root.get("format_version")
    if not isinstance(version, str) or not re.fullmatch(r"1(\.\d+)*", version):
        raise reader.fail(
            "$.format_version",
            f"unsupported format_version {json.dumps(version)} (jetgen reads 1.x)",
        )
    schemas = reader.mapping(root.get("provider_schemas"), "$.provider_schemas")
    source = _choose_provider(reader, sorted(schemas), provider)
    if _SURROGATE.search(source) or not source.strip("/"):
        raise reader.fail(child("$.provider_schemas", source), "not a provider source address")
    return reader.provider(source, schemas[source], child("$.provider_schemas", source))


def _choose_provider(reader: _Reader, sources: list[str], wanted: str | None) -> str:
    path = "$.provider_schemas"
    if wanted is not None:
        matches = [s for s in sources if s == wanted or s.rsplit("/", 1)[-1] == wanted]
        if len(matches) != 1:
            raise reader.fail(path, f"no single provider {wanted!r} among {sources}")
        return matches[0]
    if len(sources) != 1:
        hint = "; choose one with --provider" if sources else ""
        raise reader.fail(
            path, f"expected exactly one provider, found {len(sources)} {sources}{hint}"
        )
    return sources[0]


def load(path: str | Path, provider: str | None = None) -> ProviderSchema:
    """Read and parse a schema file; every error names ``path``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SchemaError(f"{path}: {exc.strerror}") from None
    return parse(decode(raw, str(path)), str(path), provider)


def decode(raw: bytes, filename: str) -> Any:
    """The JSON document in ``raw``; every failure (pathological nesting too) is a
    SchemaError naming the file."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise SchemaError(f"{filename}: $: JSON nested too deeply to read") from None
    except ValueError as exc:
        raise SchemaError(f"{filename}: not valid JSON: {exc}") from None
