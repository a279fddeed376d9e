"""Schema + configuration -> field trees (the runtime contract) and CRD schemas."""

from __future__ import annotations

import json

import pytest
from jetgen.generator import crds, examples, model, schema
from jetgen.runtime.config import (
    ConfigError,
    ConnectionDetail,
    Credential,
    ExternalName,
    ProviderConfiguration,
    Reference,
    ResourceConfig,
    Timeouts,
)
from jetgen.runtime.contract import kindsfile, tree
from jetgen.runtime.kinds import ProviderInfo

from tests.generator.paths import EVERY_SHAPE, LINODE


def build(path=EVERY_SHAPE, **config) -> ProviderInfo:
    return model.build(schema.load(path), ProviderConfiguration(**{"name": "", **config}))


def kind(info: ProviderInfo, terraform_type: str):
    return next(k for k in info.kinds if k.terraform_type == terraform_type)


def openapi(k, info) -> dict:
    return crds.managed_crd(k, info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@pytest.fixture(scope="module")
def shapes() -> ProviderInfo:
    return build()


def test_kinds_groups_and_provider_config_group(shapes):
    assert [(k.kind, k.group) for k in shapes.kinds] == [
        ("Thing", "legacy.shapes.m.jetgen.dev"),
        ("Cluster", "lke.shapes.m.jetgen.dev"),
        ("Policy", "net.shapes.m.jetgen.dev"),
        ("Widget", "shapes.m.jetgen.dev"),
    ]
    assert shapes.config_group == "shapes.m.jetgen.dev"
    assert kind(shapes, "shapes_net_policy").plural == "policies"
    assert kind(shapes, "shapes_legacy_thing").deprecated


def test_colliding_and_reserved_names_round_trip(shapes):
    fields = kind(shapes, "shapes_widget").fields
    by_tf = {f.tf_name: name for name, f in fields.items()}
    assert by_tf["ip_v4"] == "ipV4" and by_tf["ipv4"] == "ipv4" and by_tf["ip_v_4"] == "ip_v_4"
    for reserved in ("status", "spec", "metadata", "kind", "conditions", "namespace", "in"):
        assert by_tf[reserved] == reserved
    assert by_tf["api_version"] == "apiVersion"


def test_single_item_blocks_become_objects(shapes):
    fields = kind(shapes, "shapes_widget").fields
    settings = fields["settings"]
    assert (settings.type, settings.single, settings.mode) == ("object", True, "set")
    assert settings.required
    marker = fields["marker"]
    assert (marker.type, marker.single, marker.mode, marker.fields) == ("object", True, "list", {})
    assert fields["oneNested"].single and fields["oneNested"].mode == "list"
    assert fields["rule"].type == "list" and fields["rule"].item.type == "object"
    assert fields["named"].type == "map" and fields["groupBlock"].type == "object"


def test_six_deep_nested_type(shapes):
    deep = kind(shapes, "shapes_widget").fields["deep"]
    level6 = deep.fields["level2"].item.fields["level3"].item.fields["level4"].item
    level6 = level6.fields["level5"].fields["level6"]
    assert level6.type == "list"
    leaf = level6.item.fields
    assert leaf["secret"].secret_ref == "secretSecretRef"
    assert leaf["id"].computed and not leaf["id"].is_input


def test_sensitive_inputs_get_secret_refs_outputs_do_not(shapes):
    fields = kind(shapes, "shapes_widget").fields
    assert fields["password"].secret_ref == "passwordSecretRef"
    assert fields["token"].sensitive and fields["token"].secret_ref is None
    assert fields["singleBlock"].fields["key"].secret_ref == "keySecretRef"


def test_top_level_id_is_not_an_input(shapes):
    id_field = kind(shapes, "shapes_widget").fields["id"]
    assert id_field.computed and not id_field.is_input


def test_object_type_members(shapes):
    obj = kind(shapes, "shapes_widget").fields["configObj"]
    assert obj.fields["a"].required and obj.fields["b"].optional
    assert obj.fields["c"].fields["d"].required


def test_kinds_json_round_trips(shapes):
    again = kindsfile.loads(kindsfile.dumps(shapes, descriptions=True))
    assert again == shapes


def test_crd_views(shapes):
    widget = kind(shapes, "shapes_widget")
    root = openapi(widget, shapes)
    spec = root["properties"]["spec"]
    for_provider = spec["properties"]["forProvider"]["properties"]
    at_provider = root["properties"]["status"]["properties"]["atProvider"]["properties"]
    # sensitive input: only as SecretRef; sensitive output and write-only: not observed
    assert "passwordSecretRef" in for_provider and "password" not in for_provider
    assert "token" not in at_provider and "secretJson" not in at_provider
    assert "secretJson" in for_provider
    # computed-only values are observed, never set
    assert "status" in at_provider and "status" not in for_provider
    assert "id" in at_provider and "id" not in for_provider
    # empty marker block keeps no properties at all, so {} is stored as is
    assert for_provider["marker"] == {"type": "object"}
    # dynamic and tuple
    assert for_provider["anything"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert for_provider["point"]["minItems"] == for_provider["point"]["maxItems"] == 3
    # nested required fields are OpenAPI-required in forProvider only
    rule = for_provider["rule"]["items"]
    assert rule["required"] == ["action"]
    init_rule = spec["properties"]["initProvider"]["properties"]["rule"]["items"]
    assert "required" not in init_rule
    # sets of scalars are list-type set
    assert for_provider["tags"]["x-kubernetes-list-type"] == "set"


def test_cel_rules_for_required_top_level_arguments(shapes):
    spec = openapi(kind(shapes, "shapes_widget"), shapes)["properties"]["spec"]
    messages = [r["message"] for r in spec["x-kubernetes-validations"]]
    assert messages == [
        "spec.forProvider.name is a required parameter",
        "spec.forProvider.namespace is a required parameter",
        "spec.forProvider.passwordSecretRef is a required parameter",
        "spec.forProvider.rule is a required parameter",
        "spec.forProvider.settings is a required parameter",
    ]
    rule = spec["x-kubernetes-validations"][1]["rule"]
    assert "has(self.forProvider.__namespace__)" in rule  # CEL reserved word escaped


def test_at_provider_keeps_ids_deep_in_lists():
    info = build(LINODE, include=["linode_lke_cluster"])
    at = openapi(info.kinds[0], info)["properties"]["status"]["properties"]["atProvider"]
    pool = at["properties"]["pool"]["items"]["properties"]
    assert "id" in pool
    assert "id" in pool["nodes"]["items"]["properties"]


def test_include_and_skip(shapes):
    info = build(include=["shapes_*"], skip=["shapes_widget", "shapes_legacy_*"])
    assert [k.terraform_type for k in info.kinds] == ["shapes_lke_cluster", "shapes_net_policy"]


def test_references_add_ref_and_selector_and_relax_required():
    rc = ResourceConfig(references=[Reference(field="pool.type", kind="Widget")])
    info = build(resources={"shapes_lke_cluster": rc})
    cluster = info.kinds[0] if info.kinds[0].terraform_type == "shapes_lke_cluster" else None
    cluster = kind(info, "shapes_lke_cluster")
    pool_type = cluster.fields["pool"].item.fields["type"]
    assert (pool_type.ref, pool_type.selector) == ("typeRef", "typeSelector")
    pool = openapi(cluster, info)["properties"]["spec"]["properties"]["forProvider"]
    item = pool["properties"]["pool"]["items"]
    assert {"typeRef", "typeSelector", "type"} <= set(item["properties"])
    assert "type" not in item.get("required", [])
    example = examples.example(cluster)
    assert example["spec"]["forProvider"]["pool"] == [{}]


def test_config_naming_unknown_resource_is_an_error():
    with pytest.raises(ConfigError, match=r"jetgen.yaml: resources.shapes_nope: no such resource"):
        build(resources={"shapes_nope": ResourceConfig()})


def test_config_naming_unknown_field_is_an_error():
    rc = ResourceConfig(references=[Reference(field="pool.nope", kind="X")])
    with pytest.raises(ConfigError, match=r"shapes_lke_cluster.references\[0\].field: no attr"):
        build(resources={"shapes_lke_cluster": rc})
    rc = ResourceConfig(late_init_ignore=["nope"])
    with pytest.raises(ConfigError, match=r'cluster.lateInitIgnore\[0\]: no attribute "nope"'):
        build(resources={"shapes_lke_cluster": rc})


def test_kind_clash_is_an_error():
    rc = ResourceConfig(kind="Policy", group="net")
    message = "jetgen.yaml: resources.shapes_widget: shapes_net_policy also uses the name 'Policy'"
    with pytest.raises(ConfigError, match=message):
        build(resources={"shapes_widget": rc})


def test_init_provider_only_fields_leave_for_provider():
    rc = ResourceConfig(init_provider_only=["label"])
    info = build(resources={"shapes_lke_cluster": rc})
    cluster = kind(info, "shapes_lke_cluster")
    spec = openapi(cluster, info)["properties"]["spec"]
    assert "label" not in spec["properties"]["forProvider"]["properties"]
    assert "label" in spec["properties"]["initProvider"]["properties"]
    rule = next(r for r in spec["x-kubernetes-validations"] if "label" in r["message"])
    assert "forProvider.label" not in rule["rule"]
    assert examples.example(cluster)["spec"]["initProvider"] == {"label": "example"}


def test_cluster_scope():
    info = build(scope="Cluster")
    widget = kind(info, "shapes_widget")
    assert widget.group == "shapes.jetgen.dev" and info.config_group == "shapes.jetgen.dev"
    spec = openapi(widget, info)["properties"]["spec"]["properties"]
    assert spec["deletionPolicy"]["default"] == "Delete"
    assert spec["writeConnectionSecretToRef"]["required"] == ["name", "namespace"]
    assert "namespace" in spec["forProvider"]["properties"]["passwordSecretRef"]["required"]
    assert [c["spec"]["names"]["kind"] for c in crds.provider_config_crds(info)] == [
        "ProviderConfig"
    ]


def test_trim_descriptions():
    full, trimmed = build(), build(trim_descriptions=True)
    assert not any(f.description for k in trimmed.kinds for f in tree.walk(k.fields))
    full_text = json.dumps(openapi(kind(full, "shapes_widget"), full))
    trimmed_text = json.dumps(openapi(kind(trimmed, "shapes_widget"), trimmed))
    assert "Name of the widget." in full_text and "Name of the widget." not in trimmed_text
    assert len(trimmed_text) < len(full_text)


def test_bad_scope_and_external_name_are_errors():
    with pytest.raises(ConfigError, match=r"jetgen.yaml: scope: 'Global' is not one of"):
        build(scope="Global")
    rc = ResourceConfig(external_name=ExternalName(strategy="argument", argument="nope"))
    with pytest.raises(ConfigError, match=r"widget.externalName.argument: no top-level"):
        build(resources={"shapes_widget": rc})
    rc = ResourceConfig(external_name=ExternalName(strategy="guess"))
    with pytest.raises(ConfigError, match=r'widget.externalName.strategy: "guess" is not'):
        build(resources={"shapes_widget": rc})
    rc = ResourceConfig(external_name=ExternalName(strategy="argument", argument="name"))
    assert kind(build(resources={"shapes_widget": rc}), "shapes_widget").external_name == (
        rc.external_name
    )


def test_driver_is_chosen_per_provider_and_per_kind():
    default = build()
    assert {k.driver for k in default.kinds} == {"plugin"}
    info = build(
        driver="cli",
        resources={"shapes_widget": ResourceConfig(driver="plugin")},
    )
    assert kind(info, "shapes_widget").driver == "plugin"
    assert {k.driver for k in info.kinds if k.terraform_type != "shapes_widget"} == {"cli"}
    only = build(resources={"shapes_widget": ResourceConfig(driver="cli")})
    assert [k.terraform_type for k in only.kinds if k.driver == "cli"] == ["shapes_widget"]


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"driver": "grpc"}, "jetgen.yaml: driver: 'grpc' is not one of plugin, cli"),
        ({"driver": ""}, "jetgen.yaml: driver: '' is not one of plugin, cli"),
        ({"driver": 5}, "jetgen.yaml: driver: 5 is not one of plugin, cli"),
        (
            {"resources": {"shapes_widget": ResourceConfig(driver="cl\ni")}},
            "jetgen.yaml: resources.shapes_widget.driver: 'cl\\ni' is not one of",
        ),
        (
            {"resources": {"shapes_widget": ResourceConfig(driver=["cli"])}},  # type: ignore[arg-type]
            "jetgen.yaml: resources.shapes_widget.driver: ['cli'] is not one of plugin, cli",
        ),
    ],
)
def test_a_bad_driver_is_one_line_naming_the_key(config, words):
    with pytest.raises(ConfigError) as caught:
        build(**config)
    assert str(caught.value).startswith(words), str(caught.value)
    assert "\n" not in str(caught.value)


def test_pure_plan_is_off_unless_a_resource_sets_it():
    assert not any(k.pure_plan for k in build().kinds)
    info = build(resources={"shapes_widget": ResourceConfig(pure_plan=True)})
    assert [k.terraform_type for k in info.kinds if k.pure_plan] == ["shapes_widget"]


@pytest.mark.parametrize("value", ["yes", 1, None, [True], "tr\nue"])
def test_a_pure_plan_that_is_not_a_bool_is_one_line_naming_the_key(value):
    rc = ResourceConfig(pure_plan=value)
    with pytest.raises(ConfigError) as caught:
        build(resources={"shapes_widget": rc})
    words = "jetgen.yaml: resources.shapes_widget.purePlan: "
    assert str(caught.value).startswith(words), str(caught.value)
    assert str(caught.value).endswith("is not true or false")
    assert "\n" not in str(caught.value)


def test_immutable_fields_get_a_transition_rule_outside_lists():
    rc = ResourceConfig(immutable=["region", "pool.type"])
    info = build(resources={"shapes_lke_cluster": rc})
    cluster = kind(info, "shapes_lke_cluster")
    assert cluster.fields["region"].immutable
    assert cluster.fields["pool"].item.fields["type"].immutable
    spec = openapi(cluster, info)["properties"]["spec"]["properties"]
    region = spec["forProvider"]["properties"]["region"]
    assert region["x-kubernetes-validations"] == [
        {"rule": "self == oldSelf", "message": "region is immutable"}
    ]
    assert "x-kubernetes-validations" not in spec["initProvider"]["properties"]["region"]
    pool_type = spec["forProvider"]["properties"]["pool"]["items"]["properties"]["type"]
    assert "x-kubernetes-validations" not in pool_type  # not allowed inside lists
    with pytest.raises(ConfigError, match=r"immutable\[0\]: no attribute 'nope'"):
        build(resources={"shapes_lke_cluster": ResourceConfig(immutable=["nope"])})


def test_provider_renamed_still_strips_the_terraform_prefix():
    info = build(name="widgets")
    assert kind(info, "shapes_lke_cluster").group == "lke.widgets.m.jetgen.dev"
    assert kind(info, "shapes_widget").group == "widgets.m.jetgen.dev"


def test_reference_to_unknown_kind_is_an_error():
    rc = ResourceConfig(references=[Reference(field="label", kind="Widgit")])
    with pytest.raises(ConfigError, match=r'cluster.references\[0\].kind: no kind "Widgit"$'):
        build(resources={"shapes_lke_cluster": rc})
    rc = ResourceConfig(references=[Reference(field="label", kind="Widget", group="x.y")])
    with pytest.raises(ConfigError, match=r'references\[0\].kind: no kind "Widget" in group x.y$'):
        build(resources={"shapes_lke_cluster": rc})
    rc = ResourceConfig(
        references=[Reference(field="label", kind="Widget", group="shapes.m.jetgen.dev")]
    )
    assert (
        kind(build(resources={"shapes_lke_cluster": rc}), "shapes_lke_cluster").fields["label"].ref
        == "labelRef"
    )


def test_arguments_filled_by_credentials_are_not_plain_configuration():
    # `api_key` comes from the Secret through an environment variable (named like the
    # key, as Linode's token), `endpoint` through a provider argument of another name.
    credentials = [
        Credential(key="api_key", env="SHAPES_API_KEY"),
        Credential(key="url", argument="endpoint"),
    ]
    info = build(credentials=credentials)
    assert sorted(f.tf_name for f in info.provider_fields.values()) == ["features", "retries"]
    assert sorted(f.tf_name for f in build().provider_fields.values()) == [
        "api_key",
        "endpoint",
        "features",
        "retries",
    ]


@pytest.mark.parametrize(
    ("rc", "message"),
    [
        (
            ResourceConfig(references=[Reference(field=5, kind="Widget")]),
            "references[0].field: expected a non-empty string, got 5",
        ),
        (
            ResourceConfig(connection_details=[ConnectionDetail(key="k", attribute="label.x")]),
            'connectionDetails[0].attribute: no attribute "label.x" in the state',
        ),
        (
            ResourceConfig(timeouts=Timeouts(create=20)),
            "timeouts.create: 20 is not a duration",
        ),
        (
            ResourceConfig(external_name=ExternalName(import_id="{cluster}/{external_name}")),
            "externalName.importId: placeholder {cluster} is not a top-level argument",
        ),
        (
            ResourceConfig(late_init_ignore=[None]),
            "lateInitIgnore[0]: expected a non-empty string, got null",
        ),
    ],
    ids=["reference-type", "state-path", "timeout-type", "import-id", "path-type"],
)
def test_hostile_configuration_is_one_line_naming_the_key(rc, message):
    """What YAML or a hook may put where a string belongs: the contract's check names the
    key as jetgen.yaml spells it (the runtime would refuse the same at start-up)."""
    with pytest.raises(ConfigError) as caught:
        build(resources={"shapes_lke_cluster": rc})
    text = str(caught.value)
    assert text.startswith(f"jetgen.yaml: resources.shapes_lke_cluster.{message}"), text
    assert "\n" not in text
