"""cty msgpack codec: byte-level expectations and round trips (pure, fast)."""

from __future__ import annotations

import copy

import msgpack
import pytest
from jetgen.runtime.tfplugin import cty
from jetgen.runtime.tfplugin.cty import UNKNOWN, CtyError

OBJ = ["object", {"name": "string", "size": "number", "tags": ["map", "string"]}]


def test_primitives_encode_as_plain_msgpack():
    assert cty.encode("x", "string") == b"\xa1x"
    assert cty.encode(True, "bool") == b"\xc3"
    assert cty.encode(5, "number") == b"\x05"
    assert cty.encode(None, "string") == b"\xc0"


def test_unknown_is_extension_zero_and_decodes_back():
    assert cty.encode(UNKNOWN, "string") == b"\xd4\x00\x00"
    assert cty.decode(b"\xd4\x00\x00", "number") is UNKNOWN


def test_refined_unknown_decodes_as_unknown():
    refined = msgpack.packb(msgpack.ExtType(12, msgpack.packb({1: False})))
    assert cty.decode(refined, "string") is UNKNOWN


def test_object_carries_every_attribute_with_nulls():
    wire = msgpack.unpackb(cty.encode({"name": "a"}, OBJ))
    assert wire == {"name": "a", "size": None, "tags": None}


def test_object_rejects_attributes_the_type_lacks():
    with pytest.raises(CtyError, match=r"\(root\): unsupported attribute\(s\): nope"):
        cty.encode({"name": "a", "nope": 1}, OBJ)


def test_round_trip_nested_collections():
    ty = [
        "object",
        {
            "rules": ["list", ["object", {"port": "number", "cidrs": ["set", "string"]}]],
            "labels": ["map", "string"],
            "pair": ["tuple", ["string", "bool"]],
        },
    ]
    value = {
        "rules": [{"port": 443, "cidrs": ["10.0.0.0/8"]}, {"port": 80, "cidrs": []}],
        "labels": {"a": "1"},
        "pair": ["x", False],
    }
    assert cty.decode(cty.encode(value, ty), ty) == value


def test_numbers_follow_cty_int_float_and_big_text():
    assert cty.decode(cty.encode(2.5, "number"), "number") == 2.5
    assert msgpack.unpackb(cty.encode(3.0, "number")) == 3  # integral floats go as ints
    big = 2**70
    assert msgpack.unpackb(cty.encode(big, "number")) == str(big)
    assert cty.decode(msgpack.packb(str(big)), "number") == big
    assert cty.decode(msgpack.packb("0.1"), "number") == 0.1


def test_config_conversions_like_terraform():
    assert msgpack.unpackb(cty.encode("42", "number")) == 42
    assert msgpack.unpackb(cty.encode(42, "string")) == "42"
    assert msgpack.unpackb(cty.encode(False, "string")) == "false"
    assert msgpack.unpackb(cty.encode("true", "bool")) is True
    with pytest.raises(CtyError, match=r"\.size: expected a number"):
        cty.encode({"size": "big"}, OBJ)
    with pytest.raises(CtyError, match=r"\.tags\.a: expected a string"):
        cty.encode({"tags": {"a": [1]}}, OBJ)


def test_dynamic_values_carry_their_type():
    wire = msgpack.unpackb(cty.encode({"a": [1, "x"]}, "dynamic"))
    assert wire[0] == b'["object",{"a":["tuple",["number","string"]]}]'
    assert wire[1] == {"a": [1, "x"]}
    assert cty.decode(cty.encode({"a": [1, "x"]}, "dynamic"), "dynamic") == {"a": [1, "x"]}
    # null and unknown in a dynamic slot carry no type
    assert cty.encode(None, "dynamic") == b"\xc0"
    assert cty.decode(cty.encode(UNKNOWN, "dynamic"), "dynamic") is UNKNOWN


def test_decoding_a_wrong_shape_names_the_path():
    with pytest.raises(CtyError, match=r"\.tags: expected a map"):
        cty.decode(msgpack.packb({"tags": [1]}), OBJ)


def test_parse_type_accepts_schema_json_bytes():
    assert cty.parse_type(b'"string"') == "string"
    assert cty.parse_type(b'["map","number"]') == ["map", "number"]
    # optional-attribute markers (type constraints) do not change the encoding
    assert cty.parse_type('["object",{"a":"string"},["a"]]') == ["object", {"a": "string"}]
    with pytest.raises(ValueError):
        cty.parse_type('["list"]')


def test_unknown_survives_copies_and_is_found_inside_values():
    plan = {"id": UNKNOWN, "tags": {"a": "b"}}
    assert copy.deepcopy(plan)["id"] is UNKNOWN
    assert cty.contains_unknown(plan)
    assert not cty.contains_unknown({"tags": {"a": "b"}})
