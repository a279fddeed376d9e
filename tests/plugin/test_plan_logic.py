"""Config completion and Terraform's proposed-new-state rules (pure, fast)."""

from __future__ import annotations

import pytest
from jetgen.runtime.tfplugin import schema
from jetgen.runtime.tfplugin.client import format_path
from jetgen.runtime.tfplugin.cty import UNKNOWN
from jetgen.runtime.tfplugin.plan import (
    complete_config,
    equal,
    plan_action,
    proposed_new_state,
    replacing_paths,
)

# A resource with every kind of attribute the rules treat differently.
BLOCK = {
    "attributes": {
        "id": {"type": "string", "computed": True},
        "name": {"type": "string", "required": True},
        "size": {"type": "number", "optional": True, "computed": True},  # provider default
        "note": {"type": "string", "optional": True},
        "endpoint": {
            "nested_type": {
                "nesting_mode": "single",
                "attributes": {
                    "host": {"type": "string", "optional": True},
                    "port": {"type": "number", "computed": True},
                },
            },
            "optional": True,
            "computed": True,
        },
    },
    "block_types": {
        "rule": {
            "nesting_mode": "list",
            "block": {
                "attributes": {
                    "port": {"type": "number", "required": True},
                    "rule_id": {"type": "string", "computed": True},
                }
            },
        },
        "tag": {
            "nesting_mode": "set",
            "block": {
                "attributes": {
                    "key": {"type": "string", "required": True},
                    "etag": {"type": "string", "computed": True},
                }
            },
        },
        "timeouts": {
            "nesting_mode": "single",
            "block": {"attributes": {"create": {"type": "string", "optional": True}}},
        },
    },
}

PRIOR = {
    "id": "r-1",
    "name": "web",
    "size": 3,
    "note": None,
    "endpoint": {"host": None, "port": 8080},
    "rule": [{"port": 80, "rule_id": "a"}, {"port": 443, "rule_id": "b"}],
    "tag": [{"key": "x", "etag": "ex"}, {"key": "y", "etag": "ey"}],
    "timeouts": None,
}


def test_complete_config_fills_attributes_and_empty_blocks():
    assert complete_config(BLOCK, {"name": "web"}) == {
        "id": None,
        "name": "web",
        "size": None,
        "note": None,
        "endpoint": None,
        "rule": [],
        "tag": [],
        "timeouts": None,
    }
    completed = complete_config(BLOCK, {"name": "w", "rule": [{"port": 1}]})
    assert completed["rule"] == [{"port": 1, "rule_id": None}]


def test_create_keeps_computed_null_for_the_provider_to_mark_unknown():
    config = complete_config(BLOCK, {"name": "web", "rule": [{"port": 80}]})
    proposed = proposed_new_state(BLOCK, None, config)
    assert proposed["id"] is None and proposed["size"] is None
    assert proposed["rule"] == [{"port": 80, "rule_id": None}]


def test_update_keeps_prior_values_of_computed_attributes_left_unset():
    config = complete_config(
        BLOCK,
        {"name": "web", "rule": [{"port": 80}, {"port": 443}], "tag": [{"key": "y"}, {"key": "x"}]},
    )
    proposed = proposed_new_state(BLOCK, PRIOR, config)
    # Unchanged config -> proposal equals the prior: no false diff from defaults.
    assert proposed["size"] == 3 and proposed["id"] == "r-1"
    assert proposed["endpoint"] == {"host": None, "port": 8080}
    assert proposed["rule"] == PRIOR["rule"]
    # Set elements are matched by content, not position.
    assert proposed["tag"] == [{"key": "y", "etag": "ey"}, {"key": "x", "etag": "ex"}]


def test_config_values_win_and_new_elements_have_no_prior():
    config = complete_config(
        BLOCK,
        {
            "name": "api",
            "size": 5,
            "rule": [{"port": 81}, {"port": 443}, {"port": 8443}],
            "tag": [{"key": "z"}],
        },
    )
    proposed = proposed_new_state(BLOCK, PRIOR, config)
    assert proposed["name"] == "api" and proposed["size"] == 5
    # Lists pair by index: element 0 keeps its computed rule_id even though port changed.
    assert proposed["rule"] == [
        {"port": 81, "rule_id": "a"},
        {"port": 443, "rule_id": "b"},
        {"port": 8443, "rule_id": None},
    ]
    assert proposed["tag"] == [{"key": "z", "etag": None}]


def test_removing_a_user_set_optional_computed_nested_attribute_removes_it():
    prior = dict(PRIOR, endpoint={"host": "example.org", "port": 8080})
    config = complete_config(BLOCK, {"name": "web", "rule": PRIOR["rule"]})
    assert proposed_new_state(BLOCK, prior, config)["endpoint"] is None
    # ...whereas one holding only computed values is kept (the provider filled it in).
    assert proposed_new_state(BLOCK, PRIOR, config)["endpoint"] == PRIOR["endpoint"]


def test_unknown_config_values_pass_through():
    config = complete_config(BLOCK, {"name": UNKNOWN, "rule": UNKNOWN})
    proposed = proposed_new_state(BLOCK, PRIOR, config)
    assert proposed["name"] is UNKNOWN and proposed["rule"] is UNKNOWN


def test_null_config_and_null_prior():
    assert proposed_new_state(BLOCK, None, None) is None


def test_block_type_covers_nested_attributes_blocks_and_dynamic_lists():
    ty = schema.block_type(BLOCK)
    assert ty[1]["endpoint"] == ["object", {"host": "string", "port": "number"}]
    assert ty[1]["rule"] == ["list", ["object", {"port": "number", "rule_id": "string"}]]
    assert ty[1]["timeouts"] == ["object", {"create": "string"}]
    dyn = {"nesting_mode": "list", "block": {"attributes": {"v": {"type": "dynamic"}}}}
    assert schema.nested_block_type(dyn) == "dynamic"


def test_plan_action_and_path_formatting():
    ty = ["object", {"a": "number"}]
    assert plan_action(ty, None, {"a": 1}, []) == "create"
    assert plan_action(ty, {"a": 1}, {"a": 1}, []) == "noop"
    assert plan_action(ty, {"a": 1}, {"a": 2}, []) == "update"
    assert plan_action(ty, {"a": 1}, {"a": 2}, [("a",)]) == "replace"
    assert plan_action(ty, {"a": 1}, {"a": UNKNOWN}, []) == "update"
    assert plan_action(ty, {"a": 1}, None, []) == "delete"
    assert format_path(("rule", 0, "port")) == "rule[0].port"


def test_equality_ignores_set_order_but_not_list_order():
    tags = ["set", ["object", {"key": "string"}]]
    assert equal(tags, [{"key": "a"}, {"key": "b"}], [{"key": "b"}, {"key": "a"}])
    assert not equal(tags, [{"key": "a"}, {"key": "a"}], [{"key": "a"}, {"key": "b"}])
    assert not equal(["list", "string"], ["a", "b"], ["b", "a"])
    ty = ["object", {"tags": tags, "n": "number"}]
    assert equal(
        ty,
        {"tags": [{"key": "a"}, {"key": "b"}], "n": 1},
        {"tags": [{"key": "b"}, {"key": "a"}], "n": 1},
    )
    assert not equal(ty, {"tags": [], "n": UNKNOWN}, {"tags": [], "n": UNKNOWN})


def test_null_equals_an_empty_collection_only_when_asked():
    """What a legacy-SDK provider cannot tell apart (linode's domain master_ips, an LKE
    pool's labels and tags: null after the create's apply, empty after a read)."""
    pool = ["object", {"labels": ["map", "string"], "tags": ["set", "string"], "n": "number"}]
    ty = ["object", {"master_ips": ["set", "string"], "pool": ["list", pool], "s": "string"}]
    created = {"master_ips": None, "pool": [{"labels": None, "tags": None, "n": 1}], "s": None}
    read = {"master_ips": [], "pool": [{"labels": {}, "tags": [], "n": 1}], "s": None}
    assert not equal(ty, created, read)
    assert equal(ty, created, read, null_is_empty=True)
    assert equal(ty, read, created, null_is_empty=True)
    # Only collections: a null string is not an empty one, and nothing else is loosened.
    assert not equal(ty, {**created, "s": None}, {**created, "s": ""}, null_is_empty=True)
    assert not equal(ty, created, {**read, "master_ips": ["10.0.0.1"]}, null_is_empty=True)
    changed = {**read, "pool": [{"labels": {}, "tags": [], "n": 2}]}
    assert not equal(ty, created, changed, null_is_empty=True)
    assert not equal(ty, created, {**read, "pool": []}, null_is_empty=True)
    assert not equal(["set", "string"], None, [UNKNOWN], null_is_empty=True)


def test_only_changed_requires_replace_paths_count():
    prior = {"a": "1", "b": "x", "tags": {"k": "v"}, "rules": [{"port": 80}]}
    planned = {"a": "1", "b": "y", "tags": {"k": "v"}, "rules": [{"port": UNKNOWN}]}
    paths = [("a",), ("b",), ("tags", "k"), ("rules", 0, "port")]
    ty = [
        "object",
        {
            "a": "string",
            "b": "string",
            "tags": ["map", "string"],
            "rules": ["list", ["object", {"port": "number"}]],
            "set": ["set", "string"],
        },
    ]
    assert replacing_paths(ty, prior, planned, paths) == [("b",), ("rules", 0, "port")]
    # a path that appears or disappears counts as changed
    assert replacing_paths(ty, {"tags": {}}, {"tags": {"k": "v"}}, [("tags", "k")]) == [
        ("tags", "k")
    ]
    # a reordered set is not a change
    assert replacing_paths(ty, {"set": ["x", "y"]}, {"set": ["y", "x"]}, [("set",)]) == []
    # creates replace nothing
    assert replacing_paths(ty, None, planned, paths) == []
    with pytest.raises(ValueError, match="neither"):
        replacing_paths(ty, prior, planned, [("nope",)])
