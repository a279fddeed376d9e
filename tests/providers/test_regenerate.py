"""The committed reference providers are exactly what jetgen generates from them.

Each test copies the files git tracks in ``providers/provider-*`` into a temporary
directory, runs ``jetgen generate --force`` there, and fails on any file that differs,
appeared or disappeared: after changing jetgen or a provider's configuration, regenerate
and commit (see providers/README.md).
"""

from __future__ import annotations

import json
import os

import pytest

from tests.generator.paths import LINODE as LINODE_SCHEMA
from tests.providers import reference


@pytest.mark.e2e
def test_provider_linode_is_regenerated_unchanged(testbed, tmp_path):
    # The normal way, as for provider-random: jetgen obtains the schema of linode/linode
    # 3.13.0 with tofu from the test bed's mirror (the binary built from its source).
    # The examples come from the provider's docs, which the test bed unpacked into its
    # cache: jetgen.yaml names them under $JETGEN_TESTBED_DIR.
    copy = reference.copy_tracked(reference.LINODE, tmp_path / "provider-linode")
    assert not (copy / "schema.json").exists()
    env = testbed.tf_env(
        {"JETGEN_TERRAFORM": str(testbed.tofu), "JETGEN_TESTBED_DIR": str(testbed.dir)}
    )
    env.pop("PYTHONPATH", None)
    output = reference.regenerate(copy, env=env)
    schema = json.loads((copy / "schema.json").read_text())
    assert list(schema["provider_schemas"]) == ["registry.opentofu.org/linode/linode"]
    assert "44 kinds" in output
    assert "examples from" in output and "43 of 44 kinds" in output, output
    problems = reference.differences(reference.LINODE, copy)
    assert not problems, "provider-linode is stale; regenerate it:\n" + "\n".join(problems)


@pytest.mark.e2e
def test_provider_linode_preview_for_2_37_0_generates(testbed, tmp_path):
    """The same configuration generates for linode/linode 2.37.0 (the version the Upjet-based
    peer is built for), from the shared schema of that release; its binary is in the mirror."""
    assert LINODE_SCHEMA.is_file(), f"{LINODE_SCHEMA}: the shared linode 2.37.0 schema is missing"
    assert testbed.providers["linode-v2"] == "2.37.0"
    copy = reference.copy_tracked(reference.LINODE, tmp_path / "provider-linode-2.37.0")
    config = copy / "jetgen.yaml"
    config.write_text(config.read_text().replace('version: "3.13.0"', 'version: "2.37.0"'))
    # With that release's own docs (the test bed keeps its source too).
    docs = testbed.dir / "src/terraform-provider-linode_v2.37.0/terraform-provider-linode/docs"
    output = reference.regenerate(
        copy, "--schema", str(LINODE_SCHEMA), "--docs", str(docs / "resources")
    )
    assert "38 kinds" in output
    assert "examples from" in output, output
    kinds = json.loads((copy / "linode_provider" / "kinds.json").read_text())
    assert kinds["version"] == "2.37.0"
    by_type = {k["terraform_type"]: k for k in kinds["kinds"]}
    # The 2.x-only kinds come from the hooks, the 3.x-only ones are absent.
    assert by_type["linode_database_mysql"]["kind"] == "MySQL"
    assert "linode_interface" not in by_type
    # What the peer benchmark polls: the pure plans declared (read for this release too).
    pure = {t for t, k in by_type.items() if k.get("pure_plan")}
    assert len(pure) == 36 and "linode_domain" in pure
    assert "linode_database_mysql" not in pure
    slots = {r["field"] for r in by_type["linode_instance_config"]["references"]}
    assert "devices.sdh.disk_id" in slots and "devices.sdi.disk_id" not in slots


@pytest.mark.e2e
def test_provider_random_is_regenerated_unchanged(testbed, tmp_path):
    # The normal way: no schema is given, so jetgen obtains it with tofu from the test
    # bed's provider mirror and caches it as schema.json (gitignored).
    copy = reference.copy_tracked(reference.RANDOM, tmp_path / "provider-random")
    assert not (copy / "schema.json").exists()
    env = testbed.tf_env({"JETGEN_TERRAFORM": str(testbed.tofu)})
    env.pop("PYTHONPATH", None)
    output = reference.regenerate(copy, env=env)
    assert (copy / "schema.json").is_file()
    assert "10 kinds" in output
    problems = reference.differences(reference.RANDOM, copy)
    assert not problems, "provider-random is stale; regenerate it:\n" + "\n".join(problems)


@pytest.mark.e2e
def test_provider_postgresql_is_regenerated_unchanged(testbed, tmp_path):
    # Obtained through tofu from the mirror (the test bed builds cyrilgdn/postgresql from
    # its released source), with the examples from the provider's docs, which the test
    # bed unpacked into its cache: jetgen.yaml names them under $JETGEN_TESTBED_DIR.
    copy = reference.copy_tracked(reference.POSTGRESQL, tmp_path / "provider-postgresql")
    assert not (copy / "schema.json").exists()
    env = testbed.tf_env(
        {"JETGEN_TERRAFORM": str(testbed.tofu), "JETGEN_TESTBED_DIR": str(testbed.dir)}
    )
    env.pop("PYTHONPATH", None)
    output = reference.regenerate(copy, env=env)
    assert "15 kinds" in output
    assert "examples from" in output and "15 of 15 kinds" in output, output
    problems = reference.differences(reference.POSTGRESQL, copy)
    assert not problems, "provider-postgresql is stale; regenerate it:\n" + "\n".join(problems)


def test_a_stale_file_is_reported_with_a_diff(tmp_path):
    """The check itself: a hand edit of a generated file is found and shown."""
    copy = reference.copy_tracked(reference.LINODE, tmp_path / "provider-linode")
    example = copy / "examples" / "lke" / "cluster.yaml"
    example.write_text(example.read_text().replace("kind: Cluster", "kind: Clusterr"))
    (copy / "examples" / "extra.yaml").write_text("{}\n")
    problems = reference.differences(reference.LINODE, copy)
    assert "changed: examples/lke/cluster.yaml" in problems
    assert "not committed: examples/extra.yaml" in problems
    assert "+kind: Clusterr" in problems
    assert os.path.exists(reference.LINODE / "examples" / "lke" / "cluster.yaml")
