"""Real schemas beyond the shared files: every provider the test bed builds.

One ``tofu init`` against the test bed's mirror installs the newest version of each
provider there (random, local, tls, time, http, null, linode, postgresql and the test
bed's own fault provider), ``tofu providers schema -json`` prints all their schemas, and
each provider is generated from that file (``--provider``), checked against the offline
apiserver rules, installed on the real apiserver (all Established) and its examples
dry-run.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.generator import apiserver_rules
from tests.generator.crds import dry_run_examples, install_crds, remove_crds
from tests.generator.inprocess import generate_file

pytestmark = pytest.mark.e2e

EXPECTED = {"random", "local", "tls", "time", "http", "null", "linode", "postgresql"}


def newest_in_mirror(mirror: Path) -> dict[str, tuple[str, str]]:
    """Provider type -> (source, newest version) of the mirror's registry.opentofu.org."""
    found: dict[str, tuple[str, str]] = {}
    for version_dir in sorted((mirror / "registry.opentofu.org").glob("*/*/*")):
        namespace, name, version = version_dir.parts[-3:]
        key = tuple(int(p) for p in version.split(".") if p.isdigit())
        current = found.get(name)
        if current is None or key > tuple(int(p) for p in current[1].split(".")):
            found[name] = (f"{namespace}/{name}", version)
    return found


@pytest.fixture(scope="module")
def schema_file(testbed, tmp_path_factory) -> tuple[Path, dict[str, tuple[str, str]]]:
    work = tmp_path_factory.mktemp("testbed-schemas")
    providers = newest_in_mirror(testbed.mirror)
    required = {n: {"source": s, "version": v} for n, (s, v) in providers.items()}
    (work / "main.tf.json").write_text(json.dumps({"terraform": {"required_providers": required}}))
    env = testbed.tf_env()
    init = [str(testbed.tofu), "init", "-input=false", "-no-color"]
    done = subprocess.run(init, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    schema = [str(testbed.tofu), "providers", "schema", "-json"]
    done = subprocess.run(schema, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    path = work / "schemas.json"
    path.write_text(done.stdout)
    return path, providers


def test_every_testbed_provider_is_established(apiserver, schema_file, tmp_path):
    path, providers = schema_file
    assert EXPECTED <= set(providers), sorted(providers)
    merged = tmp_path / "all"
    (merged / "install" / "crds").mkdir(parents=True)
    outs = []
    for name in sorted(providers):
        repo = tmp_path / f"repo-{name}"
        repo.mkdir()
        (repo / "jetgen.yaml").write_text("name: ''\ngroupSuffix: testbed.test\n")
        out = tmp_path / name
        source = f"registry.opentofu.org/{providers[name][0]}"
        extra = ("--no-models", "--provider", source, "--repo", str(repo))
        status, stderr = generate_file(path, out, *extra)
        assert status == 0, f"{name}: {stderr}"
        crds = []
        for crd_path in sorted((out / "install" / "crds").glob("*.yaml")):
            crd = yaml.safe_load(crd_path.read_text())
            assert apiserver_rules.problems(crd) == [], crd_path
            crds.append(crd)
            (merged / "install" / "crds" / crd_path.name).write_bytes(crd_path.read_bytes())
        # ProviderConfig kinds and, but for http (data sources only), resources.
        assert len(crds) > 2 or (name == "http" and len(crds) == 2), name
        outs.append((name, out, len(crds)))
    names = install_crds(apiserver, merged)
    try:
        namespace = apiserver.create_namespace("testbed-providers")
        for name, out, _ in outs:
            if not (out / "examples").is_dir():
                continue  # http: no resources, no examples
            done = dry_run_examples(apiserver, out, namespace)
            assert done.returncode == 0, f"{name}: {done.stderr[-2000:]}"
    finally:
        remove_crds(apiserver, names)
    print(", ".join(f"{name} {providers[name][1]}: {n} CRDs" for name, out, n in outs))
