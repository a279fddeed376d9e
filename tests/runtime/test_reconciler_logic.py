"""Pure parts of the reconciler: policies, redaction, external names, reference paths."""

from jetgen.runtime import reconciler, render, resource
from jetgen.runtime.config import ExternalName
from jetgen.runtime.contract import tree
from jetgen.runtime.kinds import Field

from tests.runtime.kinds import kind


def mr(spec=None, annotations=None):
    body = {
        "apiVersion": "x.example.org/v1alpha1",
        "kind": "Thing",
        "metadata": {"name": "a", "namespace": "ns", "uid": "u", "annotations": annotations or {}},
        "spec": spec or {},
    }
    return resource.ManagedResource(body, kind())


def test_default_policy_allows_everything():
    m = mr()
    assert all(m.may(a) for a in ("Observe", "Create", "Update", "Delete"))
    assert not m.observe_only


def test_observe_only_and_orphan():
    assert mr({"managementPolicies": ["Observe"]}).observe_only
    keep = mr({"managementPolicies": ["Observe", "Create", "Update", "LateInitialize"]})
    assert keep.may("Create") and not keep.may("Delete")
    assert not mr({"deletionPolicy": "Orphan"}).may("Delete")


def test_paused_annotation():
    assert mr(annotations={"crossplane.io/paused": "true"}).paused
    assert not mr(annotations={"crossplane.io/paused": "false"}).paused


def test_redactor_hides_values_and_their_base64():
    r = resource.Redactor()
    r.add("hunter2hunter2")
    r.add("ab")  # too short to redact safely
    text = r("pw=hunter2hunter2 b64=aHVudGVyMmh1bnRlcjI= ab")
    assert "hunter2" not in text and "aHVudGVy" not in text
    assert text.endswith(" ab")


def test_external_name_strategies():
    rec = reconciler.Reconciler.__new__(reconciler.Reconciler)
    rec.kind = kind()
    assert rec._external_name(mr(), {"id": "42"}) == "42"
    rec.kind = kind(external_name=ExternalName(strategy="argument", argument="name"))
    assert rec._external_name(mr(), {"id": "42", "name": "db"}) == "db"
    rec.kind = kind(external_name=ExternalName(strategy="template", template="{db}.{name}"))
    assert rec._external_name(mr(), {"db": "d", "name": "s"}) == "d.s"
    assert rec._external_name(mr(), {"db": "d"}) is None


def test_reference_paths_follow_terraform_names():
    k = kind()
    path = tree.resolve(k.fields, "settings.owner_id")
    assert [name for name, _ in path] == ["settings", "ownerId"]
    assert tree.resolve(k.fields, "cluster_id")[0][0] == "clusterId"
    assert tree.resolve(k.fields, "nope") is None


def test_references_reach_into_list_and_map_blocks_with_their_state_values():
    subnet = {"subnetId": Field(tf_name="subnet_id", type="string", optional=True)}
    fields = {
        "interface": Field(
            tf_name="interface",
            type="list",
            item=Field(tf_name="interface", type="object", fields=subnet),
        ),
        "pools": Field(
            tf_name="pools",
            type="map",
            item=Field(tf_name="pools", type="object", fields=subnet),
        ),
    }
    spec = {
        "interface": [{"subnetIdRef": {"name": "a"}}, {"subnetId": "fixed"}],
        "pools": {"blue": {"subnetIdRef": {"name": "b"}}},
    }
    state = {"interface": [{"subnet_id": "11"}, {"subnet_id": "fixed"}], "pools": {}}

    path = tree.resolve(fields, "interface.subnet_id")
    assert [name for name, _ in path] == ["interface", "subnetId"]
    found = list(render._containers(spec, path, state))
    assert [(c is spec["interface"][i], known) for i, (c, known) in enumerate(found)] == [
        (True, "11"),
        (True, "fixed"),
    ]
    path = tree.resolve(fields, "pools.subnet_id")
    assert list(render._containers(spec, path, state)) == [(spec["pools"]["blue"], None)]
    # A single nested block is a one-item list in state, an object in the spec.
    single = {"settings": Field(tf_name="settings", type="object", single=True, fields=subnet)}
    path = tree.resolve(single, "settings.subnet_id")
    assert list(render._containers({"settings": {}}, path, {"settings": [{"subnet_id": "7"}]})) == [
        ({}, "7")
    ]


def test_nested_init_provider_values_are_ignored_after_create():
    from jetgen.runtime import fields as fields_module

    k = kind()
    k.fields["labels"] = Field(tf_name="labels", type="map", item=Field(tf_name="", type="string"))
    init = {"settings": {"ownerId": "o"}, "labels": {"team": "a", 'bad key"]': "x"}}
    given = {"settings": {}, "labels": {"env": "prod"}, "clusterId": "c"}
    assert fields_module.ignore_changes(k.fields, init, given) == [
        'labels["team"]',
        "settings[0].owner_id",
    ]
    # Not in forProvider at all: the whole field, as before.
    assert fields_module.ignore_changes(k.fields, init, {}) == ["labels", "settings"]
    # forProvider sets it too: forProvider's value is enforced.
    same = {"settings": {"ownerId": "p"}, "labels": {"team": "b"}}
    assert fields_module.ignore_changes(k.fields, init, same) == []
