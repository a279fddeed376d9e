"""CR <-> Terraform value conversion follows the generator's field tree exactly."""

from jetgen.runtime.fields import (
    collect_secret_refs,
    from_terraform,
    ignore_changes,
    merge_init_provider,
    to_terraform,
)
from jetgen.runtime.kinds import Field


def s(tf_name, **kw):
    return Field(tf_name=tf_name, type="string", optional=True, **kw)


POOL = Field(
    tf_name="pool",
    type="list",
    optional=True,
    item=Field(
        tf_name="",
        type="object",
        fields={
            "type": s("type"),
            "count": Field(tf_name="count", type="number", optional=True),
            "id": Field(tf_name="id", type="number", computed=True),
            "autoscaler": Field(
                tf_name="autoscaler",
                type="object",
                single=True,
                mode="list",
                optional=True,
                fields={"min": Field(tf_name="min", type="number", optional=True)},
            ),
            "nodes": Field(
                tf_name="nodes",
                type="list",
                computed=True,
                item=Field(tf_name="", type="object", fields={"id": s("id")}),
            ),
        },
    ),
)

FIELDS = {
    "label": s("label"),
    "ipV4": s("ip_v4"),
    "ipv4": s("ipv4"),
    "tags": Field(tf_name="tags", type="set", optional=True, item=Field(tf_name="", type="string")),
    "labels": Field(
        tf_name="labels", type="map", optional=True, item=Field(tf_name="", type="string")
    ),
    "pool": POOL,
    "marker": Field(tf_name="marker", type="object", single=True, mode="set", fields={}),
    "settings": Field(tf_name="settings", type="dynamic", optional=True),
    "pair": Field(
        tf_name="pair",
        type="tuple",
        optional=True,
        items=[Field(tf_name="", type="string"), Field(tf_name="", type="number")],
    ),
    "password": Field(
        tf_name="password",
        type="string",
        optional=True,
        sensitive=True,
        secret_ref="passwordSecretRef",
    ),
    "kubeconfig": Field(tf_name="kubeconfig", type="string", computed=True, sensitive=True),
    "token": Field(tf_name="token", type="string", optional=True, write_only=True),
}

SPEC = {
    "label": "prod",
    "ipV4": "10.0.0.1",
    "ipv4": "10.0.0.2",
    "tags": ["a", "b"],
    "labels": {"some_key": "v", "camelKey": "w"},
    "pool": [{"type": "g6", "count": 3, "autoscaler": {"min": 1}}],
    "marker": {},
    "settings": {"deep": [1, {"x": None}], "flag": True},
    "pair": ["x", 2],
    "passwordSecretRef": {"name": "creds", "key": "pw"},
    "labelRef": {"name": "ignored-by-terraform"},
}


def test_spec_to_terraform_renames_wraps_and_keeps_user_keys():
    tf = to_terraform(FIELDS, SPEC, {("password",): "hunter2"})
    assert tf == {
        "label": "prod",
        "ip_v4": "10.0.0.1",
        "ipv4": "10.0.0.2",
        "tags": ["a", "b"],
        "labels": {"some_key": "v", "camelKey": "w"},
        "pool": [{"type": "g6", "count": 3, "autoscaler": [{"min": 1}]}],
        "marker": [{}],
        "settings": {"deep": [1, {"x": None}], "flag": True},
        "pair": ["x", 2],
        "password": "hunter2",
    }


def test_secret_refs_are_found_with_their_paths():
    nested = {
        **FIELDS,
        "pool": Field(
            tf_name="pool",
            type="list",
            item=Field(
                tf_name="",
                type="object",
                fields={"key": s("key", sensitive=True, secret_ref="keySecretRef")},
            ),
        ),
    }
    spec = dict(SPEC, pool=[{}, {"keySecretRef": {"name": "n", "key": "k", "namespace": "x"}}])
    refs = collect_secret_refs(nested, spec)
    assert [(r.path, r.name, r.key, r.namespace) for r in refs] == [
        (("pool", 1, "key"), "n", "k", "x"),
        (("password",), "creds", "pw", None),
    ]
    tf = to_terraform(nested, spec, {r.path: "v" + str(i) for i, r in enumerate(refs)})
    assert tf["pool"] == [{}, {"key": "v0"}]
    assert tf["password"] == "v1"


def test_state_to_status_keeps_deep_ids_and_hides_sensitive_values():
    state = {
        "label": "prod",
        "ip_v4": "10.0.0.1",
        "ipv4": None,
        "tags": ["a"],
        "pool": [
            {
                "type": "g6",
                "count": 3,
                "id": 41,
                "autoscaler": [],
                "nodes": [{"id": "n-1"}, {"id": "n-2"}],
            }
        ],
        "marker": [{}],
        "settings": {"flag": True},
        "password": "hunter2",
        "kubeconfig": "YXBpVmVyc2lvbjogdjE=",
        "token": "write-only-never-in-state-anyway",
    }
    at_provider, sensitive = from_terraform(FIELDS, state)
    assert at_provider == {
        "label": "prod",
        "ipV4": "10.0.0.1",
        "tags": ["a"],
        "pool": [{"type": "g6", "count": 3, "id": 41, "nodes": [{"id": "n-1"}, {"id": "n-2"}]}],
        "marker": {},
        "settings": {"flag": True},
    }
    assert sensitive == {
        "attribute.password": "hunter2",
        "attribute.kubeconfig": "YXBpVmVyc2lvbjogdjE=",
    }
    assert "hunter2" not in repr(at_provider)


def test_nested_sensitive_values_are_keyed_by_terraform_path():
    fields = {
        "passwords": Field(
            tf_name="password",
            type="object",
            single=True,
            mode="list",
            fields={
                "value": Field(tf_name="value", type="string", computed=True, sensitive=True),
                "keyId": s("key_id"),
            },
        )
    }
    at_provider, sensitive = from_terraform(fields, {"password": [{"value": "s3", "key_id": "k"}]})
    assert at_provider == {"passwords": {"keyId": "k"}}
    assert sensitive == {"attribute.password.0.value": "s3"}


def test_round_trip_of_arguments_is_exact():
    spec = {k: v for k, v in SPEC.items() if not k.endswith(("Ref", "SecretRef"))}
    tf = to_terraform(FIELDS, spec)
    back, _ = from_terraform(FIELDS, tf)
    assert back == spec


def test_init_provider_fills_gaps_and_is_ignored_for_drift():
    merged = merge_init_provider(
        {"label": "a", "labels": {"x": "1"}}, {"label": "b", "tags": ["t"], "labels": {"y": "2"}}
    )
    assert merged == {"label": "a", "tags": ["t"], "labels": {"x": "1", "y": "2"}}
    assert ignore_changes(FIELDS, {"label": "b", "tags": ["t"]}, {"label": "a"}) == ["tags"]
    assert ignore_changes(FIELDS, {"passwordSecretRef": {"name": "x", "key": "y"}}) == ["password"]
