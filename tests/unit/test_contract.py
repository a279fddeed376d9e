"""The contract: kinds.json's one reader and writer, its one validator, its tree helpers.

The validator is fed hostile files (each breaks one thing the runtime relies on) and
must answer with one line naming the key; the generator reports the same faults against
jetgen.yaml (tests/generator/test_model.py, and below through ``jetgen generate``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jetgen.runtime.contract import durations, kindsfile, tree
from jetgen.runtime.contract.errors import ContractError

from tests.generator.paths import EVERY_SHAPE
from tests.unit.kinds_json import CLUSTER, POOL, cluster, pool, valid


def with_change(change: Callable[[dict[str, Any]], Any]) -> str:
    data = valid()
    change(data)
    return json.dumps(data)


def fault(text: str) -> ContractError:
    with pytest.raises(ContractError) as caught:
        kindsfile.loads(text)
    return caught.value


def test_the_valid_file_loads_and_writes_back_identically():
    info = kindsfile.loads(json.dumps(valid()))
    assert [k.kind for k in info.kinds] == ["Cluster", "NodePool"]
    again = kindsfile.dumps(info)
    assert kindsfile.loads(again) == info
    assert kindsfile.dumps(kindsfile.loads(again)) == again


def test_the_driver_default_is_left_out_and_other_drivers_are_kept():
    """A kinds.json written before drivers existed reads as the default (plugin), and
    the default is not written: files of providers using it are unchanged."""
    data = valid()
    assert all("driver" not in k for k in data["kinds"])
    info = kindsfile.loads(json.dumps(data))
    assert [k.driver for k in info.kinds] == ["plugin", "plugin"]
    assert '"driver"' not in kindsfile.dumps(info)
    pool(data)["driver"] = "cli"
    info = kindsfile.loads(json.dumps(data))
    assert [k.driver for k in info.kinds] == ["plugin", "cli"]
    again = json.loads(kindsfile.dumps(info))
    assert [k.get("driver") for k in again["kinds"]] == [None, "cli"]


def test_pure_plan_is_left_out_unless_set():
    """Off by default and not written then: files of providers not using it are unchanged."""
    data = valid()
    info = kindsfile.loads(json.dumps(data))
    assert [k.pure_plan for k in info.kinds] == [False, False]
    assert '"pure_plan"' not in kindsfile.dumps(info)
    pool(data)["pure_plan"] = True
    info = kindsfile.loads(json.dumps(data))
    assert [k.pure_plan for k in info.kinds] == [False, True]
    again = json.loads(kindsfile.dumps(info))
    assert [k.get("pure_plan") for k in again["kinds"]] == [None, True]


# (change, key, words of the message): one fault each.
HOSTILE: list[tuple[str, Callable[[dict[str, Any]], Any], str, str]] = [
    # operation timeouts: the reconciler's own parser
    ("timeout in words", lambda d: cluster(d)["timeouts"].update(create="20 minutes"),
     "kinds[0].timeouts.create", '"20 minutes" is not a duration'),
    ("timeout without unit", lambda d: cluster(d)["timeouts"].update(update="20"),
     "kinds[0].timeouts.update", "is not a duration"),
    ("timeout of nothing", lambda d: cluster(d)["timeouts"].update(delete="0s"),
     "kinds[0].timeouts.delete", "must be positive"),
    ("timeout a number", lambda d: cluster(d)["timeouts"].update(create=20),
     "kinds[0].timeouts.create", "expected a string, got 20"),
    # Terraform paths
    ("late-init path missing", lambda d: cluster(d).update(late_init_ignore=["pool.nope"]),
     "kinds[0].late_init_ignore[0]", 'no attribute "pool.nope"'),
    ("init-only path missing", lambda d: cluster(d).update(init_provider_only=["a..b"]),
     "kinds[0].init_provider_only[0]", 'no attribute "a..b"'),
    ("state path without item index",
     lambda d: cluster(d)["connection_details"][1].update(attribute="control_plane.ha"),
     "kinds[0].connection_details[1].attribute", "item index"),
    ("state path into a string",
     lambda d: cluster(d)["connection_details"][0].update(attribute="kubeconfig.x"),
     "kinds[0].connection_details[0].attribute", 'no attribute "kubeconfig.x"'),
    # transforms and hooks
    ("unknown transform", lambda d: cluster(d)["connection_details"][0].update(transform="rot13"),
     "kinds[0].connection_details[0].transform", "unknown connection detail transform 'rot13'"),
    ("python transform without function",
     lambda d: cluster(d)["connection_details"][2].update(transform="python:mod"),
     "kinds[0].connection_details[2].transform", "is not python:<module>:<function>"),
    ("python transform with a path",
     lambda d: cluster(d)["connection_details"][2].update(transform="python:../evil:f"),
     "kinds[0].connection_details[2].transform", "is not python:<module>:<function>"),
    ("hooks module with a path", lambda d: d.update(hooks_module="../config"),
     "hooks_module", "is not a dotted Python module name"),
    # references
    ("reference to a missing kind", lambda d: pool(d)["references"][0].update(kind="Clustr"),
     "kinds[1].references[0].kind", 'no kind "Clustr"'),
    ("reference to a kind of another group",
     lambda d: pool(d)["references"][0].update(group="other.acme.m.jetgen.dev"),
     "kinds[1].references[0].kind", 'no kind "Cluster" in group other.acme.m.jetgen.dev'),
    ("reference field missing", lambda d: pool(d)["references"][0].update(field="cluster"),
     "kinds[1].references[0].field", 'no attribute "cluster"'),
    ("reference without Ref names", lambda d: pool(d)["fields"]["clusterId"].pop("ref"),
     "kinds[1].references[0].field", "no Ref/Selector names"),
    ("reference valueFrom typo",
     lambda d: pool(d)["references"][0].update(value_from="status.atProvider.idd"),
     "kinds[1].references[0].value_from", 'Cluster has no field "idd"'),
    ("reference valueFrom outside the object",
     lambda d: pool(d)["references"][0].update(value_from="__class__.x"),
     "kinds[1].references[0].value_from", "neither external_name nor a dotted path"),
    # external-name templates
    ("template with an unknown name", lambda d: pool(d)["external_name"].update(template="{nope}"),
     "kinds[1].external_name.template", "{nope} is not a top-level argument"),
    ("template reaching into an attribute",
     lambda d: pool(d)["external_name"].update(import_id="{external_name.__class__}"),
     "kinds[1].external_name.import_id", "is not a plain name"),
    ("template by position", lambda d: pool(d)["external_name"].update(import_id="{0}"),
     "kinds[1].external_name.import_id", "{0} is not a plain name"),
    ("template not a format string", lambda d: pool(d)["external_name"].update(template="{x"),
     "kinds[1].external_name.template", "is not a format string"),
    ("argument strategy on a nested field",
     lambda d: cluster(d).update(external_name={"strategy": "argument", "argument": "pool.count"}),
     "kinds[0].external_name.argument", 'no top-level attribute "pool.count"'),
    ("unknown strategy", lambda d: cluster(d)["external_name"].update(strategy="guess"),
     "kinds[0].external_name.strategy", '"guess" is not one of'),
    # the driver of writes
    ("unknown driver", lambda d: cluster(d).update(driver="grpc"),
     "kinds[0].driver", '"grpc" is not one of plugin, cli'),
    ("driver not a string", lambda d: pool(d).update(driver=["cli"]),
     "kinds[1].driver", 'expected a string, got ["cli"]'),
    ("empty driver", lambda d: pool(d).update(driver=""),
     "kinds[1].driver", '"" is not one of plugin, cli'),
    ("pure_plan not a bool", lambda d: pool(d).update(pure_plan="true"),
     "kinds[1].pure_plan", 'expected a boolean, got "true"'),
    # names where Terraform, a request or a file reads them
    ("interpolation in a Terraform type", lambda d: cluster(d).update(terraform_type="x_${y}"),
     "kinds[0].terraform_type", "is not a Terraform resource type"),
    ("empty attribute name", lambda d: cluster(d)["fields"]["label"].update(tf_name=""),
     "kinds[0].fields.label.tf_name", 'expected a non-empty string, got ""'),
    ("interpolation in a credential argument",
     lambda d: d["credentials"][1].update(argument="x}${var.y"),
     "credentials[1].argument", "is not an argument name"),
    ("dot-dot Secret key", lambda d: cluster(d)["connection_details"][0].update(key=".."),
     "kinds[0].connection_details[0].key", "is not a Secret key"),
    ("Secret key twice", lambda d: cluster(d)["connection_details"][1].update(key="kubeconfig"),
     "kinds[0].connection_details[1].key", '"kubeconfig" is used twice'),
    ("group with a path", lambda d: cluster(d).update(group="../lke"),
     "kinds[0].group", "is not a DNS-1123 subdomain"),
    ("kind with a line break", lambda d: cluster(d).update(kind="Clu\nster"),
     "kinds[0].kind", '"Clu\\nster" is not a kind'),
    ("credential going nowhere", lambda d: d["credentials"][0].pop("env"),
     "credentials[0]", "sets neither env nor argument"),
    ("environment variable with '='", lambda d: d["credentials"][0].update(env="A=B"),
     "credentials[0].env", "is not an environment variable name"),
    ("source with interpolation", lambda d: d.update(source="acme/${x}"),
     "source", "is not a Terraform source address"),
    ("the same kind twice", lambda d: pool(d).update(kind="Cluster"),
     "kinds[1].kind", "lke.acme.m.jetgen.dev/v1alpha1/Cluster is also kinds[0]"),
    ("the same plural twice", lambda d: pool(d).update(plural="clusters"),
     "kinds[1].plural", "lke.acme.m.jetgen.dev/clusters is also kinds[0]"),
    # the field tree
    ("unknown field type", lambda d: cluster(d)["fields"]["label"].update(type="array"),
     "kinds[0].fields.label.type", '"array" is not one of'),
    ("list without item", lambda d: cluster(d)["fields"]["pool"].pop("item"),
     "kinds[0].fields.pool.item", "a list needs its item"),
    ("single that is no object", lambda d: cluster(d)["fields"]["label"].update(single=True),
     "kinds[0].fields.label.single", "only an object"),
    # the file's shape
    ("unknown key", lambda d: cluster(d).update(colour="red"),
     "kinds[0].colour", "unknown key"),
    ("missing key", lambda d: cluster(d)["fields"]["label"].pop("tf_name"),
     "kinds[0].fields.label.tf_name", "missing"),
    ("kinds not a list", lambda d: d.update(kinds={"a": 1}),
     "kinds", 'expected a list, got {"a": 1}'),
    ("flag not a bool", lambda d: cluster(d)["fields"]["label"].update(required="yes"),
     "kinds[0].fields.label.required", 'expected a boolean, got "yes"'),
    ("field named oddly", lambda d: cluster(d)["fields"].update({"a b": {"tf_name": "x"}}),
     'kinds[0].fields["a b"].type', "missing"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "key", "words"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE]
)
def test_a_hostile_kinds_json_is_refused_with_one_line_naming_the_key(change, key, words):
    exc = fault(with_change(change))
    assert exc.json_key() == key, str(exc)
    assert words in exc.message, str(exc)
    assert str(exc).startswith(f"{key}: ") and "\n" not in str(exc)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{", "not valid JSON: Expecting property name"),
        ("[]", "expected an object, got []"),
        ('{"name": "a"}', "source: missing"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_a_broken_file_is_refused(text, words):
    assert words in str(fault(text))


def test_a_field_tree_nested_beyond_python_s_stack_is_refused():
    """A hostile file may nest items deeper than any schema (whose parser bounds the
    depth); decoding must still end in one line, not a RecursionError."""
    text = json.dumps(valid()).replace('"controlPlane": {', '"deep": @@, "controlPlane": {')
    depth = 3000
    deep = (
        '{"tf_name": "x", "type": "list", "item": ' * depth + '{"tf_name": "x", "type": "string"}'
    )
    with pytest.raises(ContractError, match="nested too deeply"):
        kindsfile.loads(text.replace("@@", deep + "}" * depth))


def test_load_names_a_missing_or_unreadable_file(tmp_path):
    with pytest.raises(ContractError, match="No such file"):
        kindsfile.load(tmp_path / "nope.json")
    (tmp_path / "latin1.json").write_bytes(b'{"name": "\xe9"}')
    with pytest.raises(ContractError, match="not UTF-8"):
        kindsfile.load(tmp_path / "latin1.json")


# --- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20m", 1200), ("1h30m", 5400), ("45s", 45), ("1.5h", 5400), (None, None), ("", None)],
)
def test_durations_in_terraform_syntax(text, seconds):
    assert durations.seconds(text) == seconds


@pytest.mark.parametrize("bad", ["20", "5x", "m", "20 minutes", " 20m", "1..5m", "-5m", "0s", 20])
def test_what_is_not_a_duration(bad):
    with pytest.raises(durations.DurationError):
        durations.seconds(bad)


# --- tree helpers ------------------------------------------------------------------------


def test_paths_resolve_through_objects_and_items():
    info = kindsfile.loads(json.dumps(valid()))
    fields = info.kinds[CLUSTER].fields
    steps = tree.resolve(fields, "pool.count")
    assert steps is not None and [name for name, _ in steps] == ["pool", "count"]
    assert tree.field_at(fields, "control_plane.high_availability").type == "bool"
    parent, name = tree.find(fields, "control_plane.high_availability")
    assert name == "ha" and parent is fields["controlPlane"].fields
    assert tree.resolve(fields, "pool.nope") is None and tree.find(fields, "") is None
    assert tree.json_name(fields, "control_plane") == "controlPlane"
    assert tree.state_field(fields, "tags.any-key").type == "string"
    assert tree.state_field(fields, "pool.x.count") is None
    assert len(list(tree.walk(fields))) == 10


def test_kinds_are_found_by_name_and_group():
    info = kindsfile.loads(json.dumps(valid()))
    assert tree.kind_named(info.kinds, "NodePool", None) is info.kinds[POOL]
    assert tree.kind_named(info.kinds, "NodePool", "lke.acme.m.jetgen.dev") is info.kinds[POOL]
    assert tree.kind_named(info.kinds, "NodePool", "other.acme.m.jetgen.dev") is None


# --- the generator refuses what the controller would ------------------------------------


def test_jetgen_generate_refuses_a_bad_timeout_with_one_line(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "jetgen.yaml").write_text(
        "name: shapes\nresources:\n  shapes_widget:\n    timeouts: {create: 20 minutes}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "jetgen.generator.cli", "generate", "--schema", str(EVERY_SHAPE)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        'jetgen: error: jetgen.yaml: resources.shapes_widget.timeouts.create: "20 minutes" is'
        f" not a duration: {durations.SYNTAX}"
    ]
    assert sorted(p.name for p in repo.iterdir()) == ["jetgen.yaml"]  # nothing written


def test_every_reference_provider_passes(tmp_path):
    root = Path(__file__).resolve().parents[2] / "providers"
    files = sorted(root.glob("provider-*/*_provider/kinds.json"))
    assert len(files) >= 3
    for path in files:
        assert kindsfile.dumps(kindsfile.load(path)) == path.read_text()
