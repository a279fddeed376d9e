"""Writing Terraform's state format (terraform/tfstate.py): the document, serial and
lineage rules, and the sensitive paths the CLI derives from a schema."""

from __future__ import annotations

import base64
import json

import pytest
from jetgen.runtime.terraform.tfstate import (
    InstanceState,
    provider_address,
    sensitive_paths,
    state_instance,
    write_state,
)

PROVIDER = 'provider["registry.opentofu.org/hashicorp/random"]'


def instance(**attributes) -> InstanceState:
    return InstanceState(
        type_name="random_id",
        provider=PROVIDER,
        schema_version=0,
        attributes={"id": "a", **attributes},
        sensitive_paths=[],
    )


def write(previous, inst, version="1.10.10"):
    return write_state(previous, inst, terraform_version=version, resource_name="this")


def test_a_new_state_has_the_clis_shape():
    doc = json.loads(write(None, instance()))
    assert doc == {
        "version": 4,
        "terraform_version": "1.10.10",
        "serial": 1,
        "lineage": doc["lineage"],
        "outputs": {},
        "resources": [
            {
                "mode": "managed",
                "type": "random_id",
                "name": "this",
                "provider": PROVIDER,
                "instances": [
                    {"schema_version": 0, "attributes": {"id": "a"}, "sensitive_attributes": []}
                ],
            }
        ],
        "check_results": None,
    }
    assert len(doc["lineage"]) == 36


def test_serial_moves_only_on_change_and_lineage_and_version_stay():
    first = write(None, instance())
    assert write(first, instance(), version="1.11.0") == first  # same bytes back
    second = json.loads(write(first, instance(extra=1), version="1.11.0"))
    assert second["serial"] == 2
    assert second["lineage"] == json.loads(first)["lineage"]
    assert second["terraform_version"] == "1.10.10"  # the CLI's own, never raised
    gone = json.loads(write(json.dumps(second).encode(), None))
    assert gone["resources"] == [] and gone["serial"] == 3


def test_private_is_base64_and_the_clis_dependencies_are_kept():
    cli = write(None, instance())
    doc = json.loads(cli)
    doc["resources"][0]["instances"][0]["dependencies"] = ["random_id.other"]
    inst = InstanceState("random_id", PROVIDER, 0, {"id": "b"}, [], private=b'{"x":1}')
    record = state_instance(write(json.dumps(doc).encode(), inst))[1]
    assert base64.b64decode(record["private"]) == b'{"x":1}'
    assert record["dependencies"] == ["random_id.other"]


@pytest.mark.parametrize(
    "previous",
    [b"not json", b'{"version": 3, "serial": 1}', b"[]"],
)
def test_a_state_it_does_not_understand_is_never_overwritten(previous):
    with pytest.raises(ValueError, match="not overwriting"):
        write(previous, instance())


def test_provider_address():
    assert provider_address("registry.opentofu.org", "linode/linode") == (
        'provider["registry.opentofu.org/linode/linode"]'
    )
    assert provider_address("x", "example.com/Acme/Thing") == ('provider["example.com/acme/thing"]')


SCHEMA = {
    "attributes": {
        "id": {"type": "string", "computed": True},
        "password": {"type": "string", "optional": True, "sensitive": True},
        "tokens": {
            "nested_type": {
                "nesting_mode": "list",
                "attributes": {
                    "name": {"type": "string", "optional": True},
                    "secret": {"type": "string", "optional": True, "sensitive": True},
                },
            },
            "optional": True,
        },
    },
    "block_types": {
        "disk": {
            "nesting_mode": "list",
            "block": {"attributes": {"key": {"type": "string", "sensitive": True}}},
        },
        "conf": {
            "nesting_mode": "single",
            "block": {"attributes": {"key": {"type": "string", "sensitive": True}}},
        },
        "tags": {
            "nesting_mode": "set",
            "block": {"attributes": {"key": {"type": "string", "sensitive": True}}},
        },
        "plain": {
            "nesting_mode": "list",
            "block": {"attributes": {"v": {"type": "string"}}},
        },
    },
}


def attr(name):
    return {"type": "get_attr", "value": name}


def index(i):
    return {"type": "index", "value": {"value": i, "type": "number"}}


def test_sensitive_paths_follow_the_schema_into_nested_values():
    value = {
        "id": "x",
        "password": None,  # null, still marked (as the CLI does)
        "tokens": [{"name": "a", "secret": "s"}, {"name": "b", "secret": None}],
        "disk": [{"key": "k1"}, {"key": "k2"}],
        "conf": None,  # absent single block: nothing below it
        "tags": [{"key": "t"}],  # a set carries the mark as a whole
        "plain": [{"v": "1"}],
    }
    paths = sensitive_paths(SCHEMA, value)
    assert paths == sorted(paths, key=lambda p: json.dumps(p, sort_keys=True))
    assert sorted(map(json.dumps, paths)) == sorted(
        map(
            json.dumps,
            [
                [attr("password")],
                [attr("tokens"), index(0), attr("secret")],
                [attr("tokens"), index(1), attr("secret")],
                [attr("disk"), index(0), attr("key")],
                [attr("disk"), index(1), attr("key")],
                [attr("tags")],
            ],
        )
    )


def test_no_sensitive_schema_no_paths():
    assert sensitive_paths({"attributes": {"id": {"type": "string"}}}, {"id": "x"}) == []
