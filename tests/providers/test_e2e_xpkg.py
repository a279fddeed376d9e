"""The Crossplane package of the reference providers, built by the real `crossplane` CLI
(v2.2.4, built by the test bed from its release source), and its ManagedResourceDefinitions
accepted by Crossplane's own MRD schema (the CRD from Crossplane v2.3.0's sources) on the
test bed's apiserver."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.providers import reference

pytestmark = pytest.mark.e2e

MRD_CRD = "cluster/crds/apiextensions.crossplane.io_managedresourcedefinitions.yaml"
PROVIDERS = {
    "random": reference.RANDOM,
    "linode": reference.LINODE,
    "postgresql": reference.POSTGRESQL,
}


@pytest.fixture(scope="module")
def crossplane(testbed) -> Path:
    return testbed.bin("crossplane")


def build(crossplane: Path, repo: Path, package: Path, out: Path):
    return subprocess.run(
        [
            str(crossplane),
            "xpkg",
            "build",
            f"--package-root={package}",
            f"--examples-root={repo / 'examples'}",
            f"--package-file={out}",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )


def package_documents(xpkg: Path) -> list[dict]:
    """The YAML stream Crossplane stores in the package image (package.yaml)."""
    with tarfile.open(xpkg) as tar:
        (entry,) = json.load(tar.extractfile("manifest.json"))
        for layer in entry["Layers"]:
            with tarfile.open(fileobj=io.BytesIO(tar.extractfile(layer).read())) as inner:
                names = inner.getnames()
                if "package.yaml" in names:
                    text = inner.extractfile("package.yaml").read().decode()
                    return [d for d in yaml.safe_load_all(text) if d]
    raise AssertionError(f"{xpkg}: no package.yaml in any layer")


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_crossplane_builds_the_committed_package(crossplane, name, tmp_path):
    repo = reference.copy_tracked(PROVIDERS[name], tmp_path / f"provider-{name}")
    out = tmp_path / f"provider-{name}.xpkg"
    done = build(crossplane, repo, repo / "package", out)
    assert done.returncode == 0, done.stdout + done.stderr
    documents = package_documents(out)
    meta, *objects = documents
    assert meta["kind"] == "Provider" and meta["spec"]["capabilities"] == ["safe-start"]
    kinds = [o["kind"] for o in objects]
    mrds = len(list((repo / "package" / "mrds").glob("*.yaml")))
    assert kinds.count("ManagedResourceDefinition") == mrds > 0
    assert kinds.count("CustomResourceDefinition") == 2  # ProviderConfig, ClusterProviderConfig


def test_the_old_layout_is_refused(crossplane, tmp_path):
    """What a jetgen package looked like before: install manifests inside the package
    folder. The CLI refuses it, so the test above passing means something."""
    repo = reference.copy_tracked(reference.RANDOM, tmp_path / "provider-random")
    shutil.copytree(repo / "install", repo / "package" / "install")
    done = build(crossplane, repo, repo / "package", tmp_path / "old.xpkg")
    assert done.returncode != 0
    assert "is registered for version" in done.stderr, done.stderr


@pytest.fixture(scope="module")
def mrd_crd(testbed, apiserver) -> None:
    """Crossplane's own ManagedResourceDefinition CRD, from the core sources the test bed
    unpacked to build crossplane-core."""
    found = list((testbed.dir / "src" / "crossplane-core").glob(f"*/{MRD_CRD}"))
    assert found, f"{testbed.dir}/src/crossplane-core/*/{MRD_CRD}: run scripts/testbed install"
    apiserver.kubectl("apply", "--server-side", "-f", str(found[0]))
    apiserver.kubectl(
        "wait",
        "--for=condition=Established",
        "crd/managedresourcedefinitions.apiextensions.crossplane.io",
    )


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_every_mrd_is_valid_for_crossplane(apiserver, mrd_crd, name):
    """Server-side apply of each MRD against Crossplane's schema: accepted, nothing pruned
    (each field the generator wrote is one Crossplane knows), Inactive."""
    folder = PROVIDERS[name] / "package" / "mrds"
    files = sorted(folder.glob("*.yaml"))
    assert files
    apiserver.kubectl("apply", "--server-side", "--field-manager=jetgen-test", "-f", str(folder))
    for path in files:
        written = yaml.safe_load(path.read_text())
        stored = json.loads(
            apiserver.kubectl("get", "mrd", written["metadata"]["name"], "-o", "json").stdout
        )
        assert stored["spec"] == written["spec"], path.name
        assert stored["spec"]["state"] == "Inactive"
    apiserver.kubectl("delete", "-f", str(folder), "--wait=false")


def test_a_bad_mrd_is_refused(apiserver, mrd_crd, tmp_path):
    path = next((PROVIDERS["random"] / "package" / "mrds").glob("*.yaml"))
    mrd = yaml.safe_load(path.read_text())
    mrd["metadata"]["name"] = "bad." + mrd["spec"]["group"]
    mrd["spec"]["state"] = "Maybe"
    mrd["spec"]["connectionDetails"] = [{"name": "no-description"}]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(mrd))
    done = apiserver.kubectl("apply", "--server-side", "-f", str(bad), check=False)
    assert done.returncode != 0
    assert 'Unsupported value: "Maybe"' in done.stderr
    assert "description: Required value" in done.stderr
