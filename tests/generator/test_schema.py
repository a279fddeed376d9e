"""Parsing provider schemas: every shape, and errors that name the file and JSON path."""

from __future__ import annotations

import json

import pytest
from jetgen.generator import schema
from jetgen.generator.schema import SchemaError, TypeExpr

from tests.generator.paths import EVERY_SHAPE, SHARED_SCHEMAS

SOURCE = "registry.terraform.io/example/shapes"


def document(attributes: dict, block_types: dict | None = None, **extra) -> dict:
    block = {"attributes": attributes, "block_types": block_types or {}}
    return {
        "format_version": "1.0",
        "provider_schemas": {
            SOURCE: {"provider": {"block": {}}, "resource_schemas": {"shapes_x": {"block": block}}}
        },
        **extra,
    }


def parse_type(type_json) -> TypeExpr:
    doc = document({"a": {"type": type_json, "optional": True}})
    return schema.parse(doc, "s.json").resources["shapes_x"].block.attributes["a"].type


def test_every_real_schema_parses():
    for path in sorted(SHARED_SCHEMAS.glob("*.json")):
        parsed = schema.load(path)
        assert parsed.resources, path
        assert parsed.name == path.name.split("-")[0]


def test_every_shape_schema_parses_all_constructs():
    widget = schema.load(EVERY_SHAPE).resources["shapes_widget"].block
    assert widget.attributes["point"].type.kind == "tuple"
    assert widget.attributes["anything"].type.kind == "dynamic"
    assert widget.attributes["secret_json"].write_only
    assert widget.attributes["config_obj"].type.optional == frozenset({"b", "c"})
    assert {b.nesting for b in widget.blocks.values()} == {"list", "set", "group", "map", "single"}
    assert widget.attributes["deep"].nested.nesting == "single"


def test_primitive_and_collection_types():
    assert parse_type("string") == TypeExpr("string")
    assert parse_type(["set", ["map", "number"]]) == TypeExpr(
        "set", element=TypeExpr("map", element=TypeExpr("number"))
    )
    t = parse_type(["tuple", ["string", ["list", "bool"]]])
    assert t.elements == (TypeExpr("string"), TypeExpr("list", element=TypeExpr("bool")))


def test_object_with_optional_attributes():
    t = parse_type(["object", {"b": "string", "a": "number"}, ["a"]])
    assert [name for name, _ in t.attributes] == ["a", "b"]
    assert t.optional == frozenset({"a"})


@pytest.mark.parametrize(
    ("type_json", "path", "message"),
    [
        ("foo", ".type", 'unknown type "foo"'),
        (["list", "foo"], ".type[1]", 'unknown type "foo"'),
        (["map"], ".type", "exactly one element type"),
        (["object", {"x": ["bogus", "string"]}], ".type[1].x", 'unknown type "bogus"'),
        (["object", {"x": "string"}, ["y"]], ".type[2][0]", "no attribute named 'y'"),
        (["tuple", "string"], ".type", "list of element types"),
        (42, ".type", "unknown type 42"),
    ],
)
def test_unknown_type_names_file_and_path(type_json, path, message):
    doc = document({"y": {"type": type_json, "optional": True}})
    with pytest.raises(SchemaError) as err:
        schema.parse(doc, "schema.json")
    prefix = (
        'schema.json: $.provider_schemas["registry.terraform.io/example/shapes"]'
        ".resource_schemas.shapes_x.block.attributes.y"
    )
    assert str(err.value).startswith(f"{prefix}{path}: ")
    assert message in str(err.value)


def test_bad_nesting_mode_named():
    doc = document({}, {"b": {"nesting_mode": "tree", "block": {}}})
    with pytest.raises(SchemaError, match=r"block_types\.b\.nesting_mode: unknown nesting mode"):
        schema.parse(doc, "s.json")


def test_attribute_needs_type_or_nested_type():
    with pytest.raises(SchemaError, match=r"attributes\.a: an attribute needs exactly one"):
        schema.parse(document({"a": {"optional": True}}), "s.json")


def test_attribute_flags_are_checked():
    with pytest.raises(SchemaError, match=r"attributes\.a\.optional: expected true/false"):
        schema.parse(document({"a": {"type": "string", "optional": "yes"}}), "s.json")
    with pytest.raises(SchemaError, match="neither required, optional nor computed"):
        schema.parse(document({"a": {"type": "string"}}), "s.json")


@pytest.mark.parametrize("version", ["0.2", "2.0", None, 1])
def test_unknown_format_version(version):
    doc = document({})
    doc["format_version"] = version
    with pytest.raises(SchemaError, match=r"s.json: \$.format_version: unsupported"):
        schema.parse(doc, "s.json")


def test_format_version_1x_accepted():
    doc = document({})
    doc["format_version"] = "1.7"
    assert schema.parse(doc, "s.json").source == SOURCE


def test_provider_choice():
    doc = document({})
    doc["provider_schemas"]["registry.terraform.io/other/two"] = {"resource_schemas": {}}
    with pytest.raises(SchemaError, match="expected exactly one provider, found 2.*--provider"):
        schema.parse(doc, "s.json")
    assert schema.parse(doc, "s.json", provider="two").source == "registry.terraform.io/other/two"
    assert schema.parse(doc, "s.json", provider=SOURCE).name == "shapes"
    with pytest.raises(SchemaError, match="no single provider 'nope'"):
        schema.parse(doc, "s.json", provider="nope")
    doc["provider_schemas"] = {}
    with pytest.raises(SchemaError, match="found 0"):
        schema.parse(doc, "s.json")


def test_malformed_json_names_file(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"format_version": "1.0", ')
    with pytest.raises(SchemaError, match=r"broken.json: not valid JSON"):
        schema.load(bad)


def test_not_an_object_names_path():
    with pytest.raises(SchemaError, match=r"s.json: \$.provider_schemas: expected an object"):
        schema.parse({"format_version": "1.0", "provider_schemas": []}, "s.json")


def test_json_path_quoting():
    assert schema.child("$", "a_b") == "$.a_b"
    assert schema.child("$", "x/y") == '$["x/y"]'
    assert schema.child("$.t", 3) == "$.t[3]"


def test_key_order_does_not_matter():
    attrs = {"b": {"type": "string", "optional": True}, "a": {"type": "number", "required": True}}
    one = schema.parse(document(attrs), "s.json")
    two = schema.parse(document(dict(reversed(list(attrs.items())))), "s.json")
    assert one == two
    assert json.dumps(list(one.resources["shapes_x"].block.attributes)) == '["a", "b"]'
