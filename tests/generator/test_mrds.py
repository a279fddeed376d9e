"""ManagedResourceDefinitions of the Crossplane package (generator/mrds.py) and the
package folder they live in: unit tests, no test bed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from jetgen.generator import cli, mrds, packaging
from jetgen.runtime.config import ConnectionDetail, PackageMetadata, ProviderConfiguration
from jetgen.runtime.kinds import Field, Kind

from tests.generator.paths import EVERY_SHAPE
from tests.generator.shapes import info_for


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def kind(fields: dict[str, Field], details: list[ConnectionDetail] | None = None) -> Kind:
    return Kind(
        kind="Thing",
        group="ex.m.jetgen.dev",
        version="v1alpha1",
        plural="things",
        scope="Namespaced",
        terraform_type="ex_thing",
        fields=fields,
        connection_details=details or [],
    )


def test_connection_details_name_every_key_the_runtime_writes():
    """The same paths runtime/fields.py gives sensitive state values: attribute.<tf path>,
    a single block's index 0, numbered list items, keyed map values; then configured keys."""
    secret = Field("token", "string", sensitive=True, computed=True, description="The token.")
    fields = {
        "name": Field("name", "string", required=True),
        "token": secret,
        "password": Field("password", "string", sensitive=True, optional=True),
        "once": Field("once", "string", sensitive=True, write_only=True, optional=True),
        "login": Field(
            "login",
            "object",
            single=True,
            fields={"key": Field("key", "string", sensitive=True, computed=True)},
        ),
        "nodes": Field(
            "nodes",
            "list",
            item=Field(
                "nodes",
                "object",
                fields={"cert": Field("cert", "string", sensitive=True, computed=True)},
            ),
        ),
        "labels": Field("labels", "map", item=Field("labels", "string")),
    }
    details = [
        ConnectionDetail("kubeconfig", "kube_config", "base64decode"),
        ConnectionDetail("endpoint", "api_endpoints.0"),
    ]
    got = mrds.connection_details(kind(fields, details))
    assert [d["name"] for d in got] == [
        "attribute.token",
        "attribute.password",
        "attribute.login.0.key",
        "attribute.nodes.<index>.cert",
        "kubeconfig",
        "endpoint",
    ]
    described = {d["name"]: d["description"] for d in got}
    assert described["attribute.token"] == "The token."
    assert described["attribute.password"] == "The sensitive attribute password."
    assert described["kubeconfig"] == "The Terraform attribute kube_config, base64-decoded."
    assert described["endpoint"] == "The Terraform attribute api_endpoints.0, as it is."
    assert all(d["description"] for d in got)  # Crossplane requires one


def test_an_mrd_is_its_crd_plus_connection_details_and_inactive():
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.ex.m.jetgen.dev"},
        "spec": {"group": "ex.m.jetgen.dev", "names": {"kind": "Thing", "plural": "things"}},
    }
    token = Field("token", "string", sensitive=True, computed=True)
    mrd = mrds.managed_resource_definition(crd, kind({"token": token}))
    assert mrd["apiVersion"] == "apiextensions.crossplane.io/v1alpha1"
    assert mrd["kind"] == "ManagedResourceDefinition"
    assert mrd["metadata"] == {"name": "things.ex.m.jetgen.dev"}
    assert mrd["spec"]["state"] == "Inactive"
    assert {k: v for k, v in mrd["spec"].items() if k not in ("state", "connectionDetails")} == (
        crd["spec"]
    )
    assert mrd["spec"]["connectionDetails"][0]["name"] == "attribute.token"
    assert mrds.mrd_file(crd) == "mrds/ex.m.jetgen.dev_things.yaml"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("mrds")
    args = ["--version", "1.2.3", "--directory", str(base / "r"), "--schema", str(EVERY_SHAPE)]
    assert cli.main(["new", "shapes", *args]) == 0
    repo = base / "r"
    config = repo / "jetgen.yaml"
    config.write_text(
        config.read_text()
        + "package:\n  source: https://example.com/provider-shapes\n"
        + "  license: Apache-2.0\n  maintainer: Shapes Team <shapes@example.com>\n"
    )
    assert cli.main(["generate", "--repo", str(repo), "--no-models"]) == 0
    return repo


def test_the_package_folder_holds_only_what_crossplane_reads(repo):
    """crossplane.yaml, the ProviderConfig kinds as CRDs, every managed kind as an MRD;
    install manifests and examples live outside it."""
    package = repo / "package"
    files = sorted(p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file())
    assert "crossplane.yaml" in files
    crds = [load(package / f) for f in files if f.startswith("crds/")]
    mrd_docs = [load(package / f) for f in files if f.startswith("mrds/")]
    assert len(files) == 1 + len(crds) + len(mrd_docs)
    assert {c["kind"] for c in crds} == {"CustomResourceDefinition"}
    assert {c["spec"]["names"]["kind"] for c in crds} == {
        "ProviderConfig",
        "ClusterProviderConfig",
    }
    assert {m["kind"] for m in mrd_docs} == {"ManagedResourceDefinition"}
    assert {m["spec"]["state"] for m in mrd_docs} == {"Inactive"}
    # The plain install has every kind as a CRD, each MRD's spec is its CRD's spec.
    install = {
        load(p)["metadata"]["name"]: load(p) for p in (repo / "install" / "crds").glob("*.yaml")
    }
    assert set(install) == {d["metadata"]["name"] for d in crds + mrd_docs}
    for mrd in mrd_docs:
        spec = {k: v for k, v in mrd["spec"].items() if k not in ("state", "connectionDetails")}
        assert spec == install[mrd["metadata"]["name"]]["spec"]
    assert (repo / "install" / "providerconfig.yaml").is_file()
    assert not (package / "install").exists() and not (package / "examples").exists()


def test_an_older_layout_is_cleaned_up(repo):
    """install manifests, examples and a kustomization left in package/ by an older jetgen
    go: the package folder must hold nothing the CLI refuses."""
    for path in ("install/namespace.yaml", "examples/providerconfig.yaml", "kustomization.yaml"):
        (repo / "package" / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / "package" / path).write_text("kind: Old\n")
    assert cli.main(["generate", "--repo", str(repo), "--no-models", "--force"]) == 0
    assert sorted(p.name for p in (repo / "package").iterdir()) == [
        "crds",
        "crossplane.yaml",
        "mrds",
    ]


def test_crossplane_yaml_is_current(repo):
    meta = load(repo / "package" / "crossplane.yaml")
    assert meta["apiVersion"] == "meta.pkg.crossplane.io/v1" and meta["kind"] == "Provider"
    assert "controller" not in meta["spec"]  # dropped upstream: the image is the package's
    assert meta["spec"]["capabilities"] == ["safe-start"]
    assert meta["spec"]["crossplane"] == {"version": ">=v2.0.0-0"}
    annotations = meta["metadata"]["annotations"]
    assert annotations["meta.crossplane.io/source"] == "https://example.com/provider-shapes"
    assert annotations["meta.crossplane.io/license"] == "Apache-2.0"
    assert annotations["meta.crossplane.io/maintainer"] == "Shapes Team <shapes@example.com>"


def test_package_annotations_unset_are_left_out_and_bad_ones_refused():
    info = packaging_info()
    meta = packaging.crossplane_package(info, PackageMetadata(), "jetgen.yaml")
    assert set(meta["metadata"]["annotations"]) == {"meta.crossplane.io/description"}
    with pytest.raises(ValueError, match=r"^jetgen.yaml: package.license: expected a string$"):
        packaging.crossplane_package(info, PackageMetadata(license=3), "jetgen.yaml")


def packaging_info():
    return info_for(ProviderConfiguration(name="shapes", source="example/shapes"))


def test_bad_package_metadata_is_one_line_naming_the_file(repo, capsys):
    config = repo / "jetgen.yaml"
    before = config.read_text()
    try:
        config.write_text(before.replace("license: Apache-2.0", "license: [1, 2]"))
        assert cli.main(["generate", "--repo", str(repo), "--no-models", "--force"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "package.license: expected a string" in err, err
        assert "jetgen.yaml" in err
    finally:
        config.write_text(before)
    # Nothing was half-written: the package is as before.
    assert (
        load(repo / "package" / "crossplane.yaml")["metadata"]["annotations"][
            "meta.crossplane.io/license"
        ]
        == "Apache-2.0"
    )
