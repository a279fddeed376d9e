"""Import over the plugin protocol (PluginDriver.import_resource: ImportResourceState, then
ReadResource) against ``tofu import`` on the same IDs: the state each writes must be the
same (attributes, sensitive paths, schema version, private data, provider), the CLI must
plan the same on either imported state (here both plan a change: an import fills only what
the ID carries, and the test configurations differ from it on purpose), and an ID that
names nothing must be Terraform's own "does not exist" verdict (what the reconciler's
adoption relies on) with either driver.

Real providers: hashicorp/random (random_string, random_password import by value) and
linode/linode 3.13.0 against the Linode API stand-in (an LKE cluster by its ID, a node
pool by the composite ``<cluster_id>,<pool_id>`` of provider-linode's ``importId``).
"""

from __future__ import annotations

import json

import pytest
from jetgen.runtime.terraform.desired import Desired, ProviderSetup, ResourceBlock
from jetgen.runtime.terraform.diagnostics import TerraformError
from jetgen.runtime.terraform.workdir import Workdir

from tests.linode_standin import StandIn

from .conftest import LINODE_FAST as FAST
from .conftest import run
from .test_e2e_plugindriver import Bed, state_of

pytestmark = pytest.mark.e2e


def instance(wd: Workdir) -> dict:
    """The state's one instance; its sensitive paths sorted (the CLI writes them in no
    fixed order: two tofu imports of the same password wrote them both ways)."""
    (resource,) = state_of(wd)["resources"]
    (only,) = resource["instances"]
    paths = sorted(only["sensitive_attributes"], key=lambda p: json.dumps(p, sort_keys=True))
    return {
        **only,
        "type": resource["type"],
        "provider": resource["provider"],
        "sensitive_attributes": paths,
    }


async def import_both(bed: Bed, key: str, desired: Desired, import_id: str) -> tuple[dict, dict]:
    """The same import by the CLI and over the plugin protocol, each in its own workdir."""
    by_cli = bed.workdir(f"{key}-cli", desired)
    by_grpc = bed.workdir(f"{key}-grpc", desired)
    address = desired.resource.address
    await bed.cli.import_resource(by_cli, desired.env, address, import_id)
    await bed.grpc.import_resource(by_grpc, desired.env, address, import_id)
    assert state_of(by_grpc)["serial"] == 1 and state_of(by_grpc)["lineage"]
    assert bed.tofu_plan(by_grpc) == bed.tofu_plan(by_cli)
    return instance(by_cli), instance(by_grpc)


@pytest.fixture
def random_bed(testbed, tmp_path):
    return Bed(testbed, tmp_path / "work", "hashicorp/random", testbed.providers["random"])


def test_random_imports_write_the_state_tofu_import_writes(random_bed):
    bed = random_bed

    async def scenario():
        await bed.prepare()
        try:
            string = bed.desired("random_string", {"length": 8, "special": False})
            strings = await import_both(bed, "s", string, "abcdEFGH")
            password = bed.desired("random_password", {"length": 13})
            passwords = await import_both(bed, "p", password, "sup3rS3cret!x")
            return strings, passwords
        finally:
            await bed.pool.close()

    (cli, grpc), (cli_pw, grpc_pw) = run(scenario())
    assert grpc["attributes"]["result"] == "abcdEFGH"
    assert grpc == cli
    # bcrypt_hash is salted afresh by every import: equal in kind, not in value.
    for state in (cli_pw, grpc_pw):
        assert state["attributes"].pop("bcrypt_hash").startswith("$2a$10$")
    assert grpc_pw["attributes"]["result"] == "sup3rS3cret!x"
    assert [p[0]["value"] for p in grpc_pw["sensitive_attributes"]] == ["bcrypt_hash", "result"]
    assert grpc_pw == cli_pw


@pytest.fixture
def linode_bed(testbed, tmp_path):
    return Bed(testbed, tmp_path / "work", "linode/linode", testbed.providers["linode"])


def linode(bed: Bed, standin: StandIn, type_name: str, arguments: dict) -> Desired:
    setup = ProviderSetup(
        source=bed.source,
        version=bed.version,
        arguments={"url": standin.url, **FAST},
        credentials={"token": standin.token},
    )
    return Desired(setup, ResourceBlock(type_name, arguments))


CLUSTER = {
    "label": "imported",
    "region": "us-east",
    "k8s_version": "1.33",
    "pool": [{"type": "g6-standard-2", "count": 1}],
}


def test_linode_imports_by_id_and_by_composite_id_match_tofu_import(linode_bed, standin):
    bed = linode_bed
    cluster = linode(bed, standin, "linode_lke_cluster", CLUSTER)

    async def scenario():
        await bed.prepare()
        try:
            made = bed.workdir("made", cluster)
            await bed.cli.apply(made, cluster.env, saved=False)  # the object to adopt
            (existing,) = standin.clusters()
            (pool,) = existing["pools"]
            clusters = await import_both(bed, "c", cluster, str(existing["id"]))
            node_pool = linode(
                bed,
                standin,
                "linode_lke_node_pool",
                {"cluster_id": existing["id"], "type": "g6-standard-2", "node_count": 1},
            )
            pools = await import_both(bed, "np", node_pool, f"{existing['id']},{pool['id']}")

            # An ID that names nothing: Terraform's own verdict, from either driver.
            verdicts = []
            for driver, key in ((bed.cli, "gone-cli"), (bed.grpc, "gone-grpc")):
                wd = bed.workdir(key, cluster)
                with pytest.raises(TerraformError) as caught:
                    await driver.import_resource(
                        wd, cluster.env, cluster.resource.address, "999999"
                    )
                verdicts.append((caught.value.not_found, wd.resource_attributes()))
            return existing, clusters, pools, verdicts
        finally:
            await bed.pool.close()

    existing, (cli, grpc), (cli_pool, grpc_pool), verdicts = run(scenario())
    assert grpc["attributes"]["id"] == str(existing["id"])
    assert grpc["attributes"]["label"] == "imported"
    assert grpc == cli, json.dumps([cli, grpc], indent=1)[:4000]
    assert grpc_pool["attributes"]["cluster_id"] == existing["id"]
    assert grpc_pool == cli_pool
    assert verdicts == [(True, None), (True, None)]
    assert len(standin.clusters()) == 1  # importing made nothing
