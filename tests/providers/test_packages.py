"""The committed provider packages work as the runtime and their users load them.

* provider-linode's configuration covers its schema: every argument named ``*_id``
  (outside lists) either references a kind or is listed as deliberately plain.
* Each package loads like the controller loads it (kinds.json, hooks module, transforms),
  and every generated example validates against the generated pydantic model of its kind.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from jetgen.runtime.contract import kindsfile

from tests.generator.paths import LINODE as LINODE_SCHEMA
from tests.providers import reference


def hooks_module(provider: Path) -> ModuleType:
    """The provider's ``config`` package under a name of its own (each provider has one)."""
    path = provider / "config" / "__init__.py"
    spec = importlib.util.spec_from_file_location(f"hooks_{provider.name.replace('-', '_')}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def id_arguments(block: dict, path: str = "", in_list: bool = False) -> Iterator[tuple[str, bool]]:
    """(Terraform path, inside a list?) of every argument whose name ends in ``_id``.

    A block or nested type with at most one item is an object in the CRD, not a list.
    """
    for name, attr in block.get("attributes", {}).items():
        nested = attr.get("nested_type")
        if nested:
            single = nested["nesting_mode"] == "single" or nested.get("max_items") == 1
            yield from id_arguments(nested, f"{path}{name}.", in_list or not single)
        elif (attr.get("required") or attr.get("optional")) and name.endswith("_id"):
            yield path + name, in_list
    for name, child in block.get("block_types", {}).items():
        single = child["nesting_mode"] in ("single", "group") or child.get("max_items") == 1
        yield from id_arguments(child["block"], f"{path}{name}.", in_list or not single)


def _id_arguments(schema_file: Path) -> tuple[set, set]:
    """(plain, inside lists) (type, path) pairs of every *_id argument of a linode schema."""
    (provider,) = json.loads(schema_file.read_text())["provider_schemas"].values()
    plain, in_lists = set(), set()
    for type_name, resource in provider["resource_schemas"].items():
        for path, in_list in id_arguments(resource["block"]):
            (in_lists if in_list else plain).add((type_name, path))
    return plain, in_lists


@pytest.mark.e2e
def test_every_linode_id_argument_is_referenced_or_explained(linode_schema):
    """linode/linode 3.13.0, schema from the real binary: every *_id argument, also inside
    lists, names a kind or is explained."""
    hooks = hooks_module(reference.LINODE)
    plain, in_lists = _id_arguments(linode_schema)
    referenced = set(hooks.REFERENCES) | set(hooks.REFERENCES_SINCE_3)
    explained = set(hooks.NOT_REFERENCED)
    missing = (plain | in_lists) - referenced - explained
    assert missing == set(), f"decide: reference or NOT_REFERENCED: {sorted(missing)}"
    assert referenced & explained == set()
    # Every configured *_id path exists in this release (the generator checks all paths).
    assert {k for k in referenced if k[1].endswith("_id")} - plain - in_lists == set()
    # Sanity of the walk itself: it sees both kinds of places.
    assert ("linode_lke_node_pool", "cluster_id") in plain
    assert ("linode_instance", "interface.subnet_id") in in_lists
    assert ("linode_instance_config", "devices.sdbl.disk_id") in plain


def test_the_2_37_preview_references_exist_in_that_release():
    hooks = hooks_module(reference.LINODE)
    plain, in_lists = _id_arguments(LINODE_SCHEMA)
    ids = {k for k in hooks.REFERENCES if k[1].endswith("_id")}
    assert ids - plain - in_lists == set()
    assert ("linode_instance_config", "devices.sdh.disk_id") in hooks.REFERENCES
    assert ("linode_instance_config", "devices.sdi.disk_id") not in hooks.REFERENCES


# Runs in its own interpreter: both providers' hooks modules are called `config`, and the
# runtime imports them by that name.
LOAD_AND_VALIDATE = """
import importlib, json, sys
from pathlib import Path
import yaml
from jetgen.runtime.cli import load
package = sys.argv[1]
info = load(importlib.import_module(package).KINDS_FILE)
checked = []
for path in sorted(Path("examples").rglob("*.yaml")):
    doc = yaml.safe_load(path.read_text())
    # models/<short group>.py; the base group's module is named after the provider.
    module = doc["apiVersion"].split(".")[0]
    model = getattr(importlib.import_module(f"{package}.models.{module}"), doc["kind"])
    model.model_validate(doc)
    checked.append(doc["kind"])
print(json.dumps({"kinds": len(info.kinds), "examples": len(checked)}))
"""


@pytest.mark.parametrize(
    ("provider", "package", "kinds"),
    [
        (reference.LINODE, "linode_provider", 44),
        (reference.RANDOM, "random_provider", 10),
        (reference.POSTGRESQL, "postgresql_provider", 15),
    ],
    ids=["linode", "random", "postgresql"],
)
def test_package_loads_and_examples_fit_the_models(provider, package, kinds):
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_VALIDATE, package],
        cwd=provider,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout) == {"kinds": kinds, "examples": kinds}


def test_linode_kinds_carry_credentials_endpoint_and_kubeconfig():
    """What the runtime reads from provider-linode's kinds.json for the seed story."""
    info = kindsfile.load(reference.LINODE / "linode_provider" / "kinds.json")
    assert (info.source, info.version) == ("linode/linode", "3.13.0")
    token = next(c for c in info.credentials if c.key == "token")
    assert (token.env, token.optional) == ("LINODE_TOKEN", False)
    # The API address is a ProviderConfig setting (spec.configuration.url, .apiVersion).
    assert info.provider_fields["url"].tf_name == "url"
    assert info.provider_fields["apiVersion"].tf_name == "api_version"
    assert "token" not in {f.tf_name for f in info.provider_fields.values()}
    kinds = {k.terraform_type: k for k in info.kinds}
    cluster = kinds["linode_lke_cluster"]
    assert (cluster.group, cluster.kind) == ("lke.linode.m.jetgen.dev", "Cluster")
    (detail,) = cluster.connection_details
    assert (detail.key, detail.attribute, detail.transform) == (
        "kubeconfig",
        "kubeconfig",
        "base64decode",
    )
    pool = kinds["linode_lke_node_pool"]
    assert pool.external_name.import_id == "{cluster_id},{external_name}"
    ref = next(r for r in pool.references if r.field == "cluster_id")
    assert (ref.kind, ref.group) == ("Cluster", "lke.linode.m.jetgen.dev")
    assert pool.fields["clusterId"].ref == "clusterIdRef"


def test_linode_pure_plans_are_the_types_both_releases_have():
    """jetgen.yaml declares purePlan for the types whose plans were read in the source of
    3.13.0 and 2.37.0 (the peer's release): all that both have, none that only 3.13.0 has
    (not read for 2.37.0, and the peer benchmark runs the same configuration there)."""
    info = kindsfile.load(reference.LINODE / "linode_provider" / "kinds.json")
    (older,) = json.loads(LINODE_SCHEMA.read_text())["provider_schemas"].values()
    types = {k.terraform_type for k in info.kinds}
    both = types & set(older["resource_schemas"])
    assert len(both) == 36
    assert {k.terraform_type for k in info.kinds if k.pure_plan} == both
    assert {"linode_domain", "linode_lke_cluster"} <= both


def test_postgresql_kinds_carry_credentials_references_and_the_role_login():
    """What the runtime reads from provider-postgresql's kinds.json."""
    info = kindsfile.load(reference.POSTGRESQL / "postgresql_provider" / "kinds.json")
    assert (info.source, info.version) == ("cyrilgdn/postgresql", "1.26.0")
    # Where and as whom to connect come from the ProviderConfig's Secret, as arguments.
    assert [(c.key, c.argument, c.optional) for c in info.credentials] == [
        ("host", "host", False),
        ("port", "port", True),
        ("username", "username", False),
        ("password", "password", False),
    ]
    assert not {"host", "port", "username", "password"} & set(info.provider_fields)
    assert "sslmode" in info.provider_fields
    kinds = {k.terraform_type: k for k in info.kinds}
    wanted = ("role", "database", "schema", "extension", "grant")
    assert {f"postgresql_{t}" for t in wanted} <= set(kinds)
    role = kinds["postgresql_role"]
    assert (role.external_name.strategy, role.external_name.argument) == ("argument", "name")
    assert [(d.key, d.attribute) for d in role.connection_details] == [
        ("username", "name"),
        ("password", "password"),
    ]
    assert role.fields["password"].secret_ref == "passwordSecretRef"
    refs = {(t, r.field): (r.kind, r.value_from) for t, k in kinds.items() for r in k.references}
    assert refs[("postgresql_database", "owner")] == ("Role", "external_name")
    assert refs[("postgresql_grant", "schema")] == ("Schema", "status.atProvider.name")
    assert refs[("postgresql_schema", "policy.role")] == ("Role", "external_name")
    assert kinds["postgresql_schema"].fields["policy"].item.fields["role"].ref == "roleRef"
