"""Values reach Terraform literally: a round trip over every field shape.

A spec with template-looking text in every place a value can sit goes through the whole
path a pass takes -- ``fields.to_terraform`` -> the desired state (main.tf.json)
-> what the provider is shown (``poll``) -> the state read back
(``fields.from_terraform``) -- and comes out unchanged.  That Terraform itself reads the
escaped text as the literal is proven on real tofu in tests/runtime/test_e2e_literal.py.
"""

from __future__ import annotations

import itertools
import json

import pytest
from jetgen.runtime import fields, literal
from jetgen.runtime.kinds import Field
from jetgen.runtime.terraform.desired import Desired, ProviderSetup, ResourceBlock

HOSTILE = [
    '${file("/etc/passwd")}',
    "%{ if true }x%{ endif }",
    "$${x}",
    "$${",
    "%%{",
    "${aws:username}",
    "$$$${x}%%%{",
    "a$",
    "b%",
    "$",
    "{}",
    "plain",
]


def string(tf_name: str, **kw) -> Field:
    return Field(tf_name=tf_name, type="string", optional=True, **kw)


FIELDS = {
    "name": string("name"),
    "password": string("password", sensitive=True, secret_ref="passwordSecretRef"),
    "settings": Field(
        tf_name="settings",
        type="object",
        single=True,
        optional=True,
        fields={"comment": string("comment")},
    ),
    "rules": Field(
        tf_name="rules",
        type="list",
        optional=True,
        item=Field(tf_name="", type="object", fields={"expr": string("expr")}),
    ),
    "items": Field(
        tf_name="items", type="list", optional=True, item=Field(tf_name="", type="string")
    ),
    "tags": Field(tf_name="tags", type="set", optional=True, item=Field(tf_name="", type="string")),
    "labels": Field(
        tf_name="labels", type="map", optional=True, item=Field(tf_name="", type="string")
    ),
    "document": Field(tf_name="document", type="dynamic", optional=True),
}
PROVIDER_FIELDS = {
    "endpoint": string("endpoint"),
    "proxy": Field(
        tf_name="proxy",
        type="object",
        single=True,
        optional=True,
        fields={"url": string("url")},
    ),
}


def spec_with(text: str) -> dict:
    return {
        "name": text,
        "passwordSecretRef": {"name": "s", "key": "k"},
        "settings": {"comment": text},
        "rules": [{"expr": text}, {"expr": "x" + text}],
        "items": [text, "y" + text],
        "tags": [text],
        "labels": {text: text, "k": text},
        "document": {"Statement": [{"Resource": text, text: [text, 1, True, None]}]},
    }


@pytest.mark.parametrize("text", HOSTILE)
def test_every_field_shape_round_trips_literally(text):
    spec = spec_with(text)
    refs = fields.collect_secret_refs(FIELDS, spec)
    secrets = {ref.path: "pw" + text for ref in refs}  # a Secret's value is data too
    arguments = fields.to_terraform(FIELDS, spec, secrets)
    provider = fields.to_terraform(PROVIDER_FIELDS, {"endpoint": text, "proxy": {"url": text}}, {})
    desired = Desired(
        ProviderSetup(
            source="example/x", version="1.0.0", arguments=provider, credentials={"token": "tok"}
        ),
        ResourceBlock("x_thing", arguments, ignore_changes=("name",)),
    )
    written = json.loads(json.dumps(desired.config))  # what lands in main.tf.json

    # Nothing the user wrote is left as a template: each '${' / '%{' is escaped.
    resource = written["resource"]["x_thing"]["this"]
    read = literal.unescape({k: v for k, v in resource.items() if k != "lifecycle"})
    assert resource["lifecycle"]["ignore_changes"] == ["name"]  # names, not values

    # The provider is shown the literal (the plugin poll takes it from the typed block),
    # the very value Terraform reads from the file.
    shown = dict(desired.resource.arguments)
    assert shown == arguments == read
    assert shown["password"] == "pw" + text
    assert shown["settings"] == [{"comment": text}]
    assert shown["labels"] == {text: text, "k": text}
    assert shown["document"]["Statement"][0][text] == [text, 1, True, None]
    assert desired.provider.configuration() == {
        "endpoint": text,
        "proxy": [{"url": text}],
        "token": "tok",  # the runtime's own interpolation stays one
    }
    block = written["provider"]["x"]
    assert literal.unescape({k: v for k, v in block.items() if k != "token"}) == provider
    assert block["token"] == "${var.jetgen_credential_token}"

    # The state holds the literal, and reads back as the spec (no secret in atProvider).
    at_provider, sensitive = fields.from_terraform(FIELDS, shown)
    expected = {k: v for k, v in spec.items() if k != "passwordSecretRef"}
    expected["settings"] = {"comment": text}
    assert at_provider == expected
    assert sensitive == {"attribute.password": "pw" + text}


def test_fingerprints_tell_literals_apart():
    seen = {}
    for text in HOSTILE:
        desired = Desired(
            ProviderSetup(source="example/x", version="1"), ResourceBlock("x_thing", {"name": text})
        )
        seen[desired.fingerprint()] = text
    assert len(seen) == len(HOSTILE)


def test_escape_is_exact_over_every_short_string():
    # Every string of up to 7 characters over the characters that matter.
    for size in range(8):
        for chars in itertools.product("$%{x", repeat=size):
            text = "".join(chars)
            escaped = literal.escape(text)
            assert literal.unescape(escaped) == text
            assert literal.escape(text) == escaped  # deterministic


@pytest.mark.parametrize(
    ("text", "offset"), [("${x}", 0), ("a%{ if }", 1), ("$$${x}${y}", 6), ("%%{%{", 3)]
)
def test_unescape_refuses_a_real_template(text, offset):
    with pytest.raises(literal.Interpolation, match=f"offset {offset}"):
        literal.unescape(text)


def test_escape_leaves_other_values_alone():
    value = {"n": 1, "f": 1.5, "b": False, "z": None, "l": [1, "a"]}
    assert literal.escape(value) == value
    assert literal.escape({"${k}": ["%{v}"]}) == {"$${k}": ["%%{v}"]}
