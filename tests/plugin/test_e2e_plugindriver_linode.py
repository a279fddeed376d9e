"""The plugin-protocol driver on linode/linode 3.13.0 against the Linode API stand-in:
an LKE cluster created, updated in place, replaced and deleted over the plugin protocol,
with ``tofu plan -detailed-exitcode`` checking each state it leaves, and the stand-in
checking what exists (one cluster at a time, none at the end)."""

from __future__ import annotations

import pytest
from jetgen.runtime.terraform.diagnostics import TerraformError

from tests.linode_standin import StandIn

from .conftest import LINODE_FAST as FAST
from .conftest import run
from .test_e2e_plugindriver import Bed, state_of

pytestmark = pytest.mark.e2e


@pytest.fixture
def bed(testbed, tmp_path):
    return Bed(testbed, tmp_path / "work", "linode/linode", testbed.providers["linode"])


def cluster(bed: Bed, standin: StandIn, label: str, region: str = "us-east", count: int = 1):
    arguments = {
        "label": label,
        "region": region,
        "k8s_version": "1.33",
        "pool": [{"type": "g6-standard-2", "count": count}],
    }
    return bed.desired(
        "linode_lke_cluster",
        arguments,
        provider={"url": standin.url, **FAST},
        credentials={"token": standin.token},
    )


def ids(standin: StandIn) -> list[tuple[int, str, str]]:
    return sorted((c["id"], c["label"], c["region"]) for c in standin.clusters())


def test_lke_cluster_created_updated_replaced_deleted_over_grpc(bed, standin):
    async def scenario():
        await bed.prepare()
        try:
            wd = bed.workdir("lke", cluster(bed, standin, "grpc-one"))
            await bed.grpc.apply(wd, wd.desired.env, saved=False)
            ((first, label, _),) = ids(standin)
            assert label == "grpc-one"
            attributes = state_of(wd)["resources"][0]["instances"][0]["attributes"]
            assert int(attributes["id"]) == first
            assert bed.tofu_plan(wd) == 0

            # In place: a new label, the same cluster.
            wd.write_desired(cluster(bed, standin, "grpc-two"))
            plan = await bed.grpc.plan(wd, wd.desired.env)
            assert plan.action == "update"
            await bed.grpc.apply(wd, wd.desired.env)
            assert ids(standin) == [(first, "grpc-two", "us-east")]
            assert bed.tofu_plan(wd) == 0

            # A new region forces a new cluster: the old one goes first.
            wd.write_desired(cluster(bed, standin, "grpc-two", region="us-west"))
            plan = await bed.grpc.plan(wd, wd.desired.env)
            assert plan.action == "replace"
            assert "region" in (await bed.grpc.changes(wd, wd.desired.env))[1]
            await bed.grpc.apply(wd, wd.desired.env)
            ((second, _, region),) = ids(standin)
            assert second != first and region == "us-west"
            assert bed.tofu_plan(wd) == 0

            # The CLI takes the workdir over for an update, then gRPC again to delete.
            wd.write_desired(cluster(bed, standin, "cli-three", region="us-west"))
            await bed.cli.apply(wd, wd.desired.env, saved=False)
            assert ids(standin) == [(second, "cli-three", "us-west")]

            await bed.grpc.destroy(wd, wd.desired.env)
            assert standin.clusters() == []
            assert state_of(wd)["resources"] == []
        finally:
            await bed.pool.close()

    run(scenario())
    created = standin.creates()
    assert standin.problems() == []
    assert created, "the stand-in saw the creates"


def test_cli_created_cluster_resized_and_deleted_over_grpc(bed, standin):
    async def scenario():
        await bed.prepare()
        try:
            wd = bed.workdir("lke", cluster(bed, standin, "cli-made"))
            await bed.cli.apply(wd, wd.desired.env, saved=False)
            cli_state = state_of(wd)
            ((first, _, _),) = ids(standin)

            wd.write_desired(cluster(bed, standin, "cli-made", count=2))
            plan = await bed.grpc.plan(wd, wd.desired.env)
            assert plan.action == "update"
            await bed.grpc.apply(wd, wd.desired.env)
            (found,) = standin.clusters()
            assert found["id"] == first
            assert [p["count"] for p in found["pools"]] == [2]
            taken = state_of(wd)
            assert taken["lineage"] == cli_state["lineage"]
            # The refresh's own record (3.13.0 reads a pool's null labels back as {}),
            # then the update's: the serial moves on from the CLI's.
            assert taken["serial"] > cli_state["serial"]
            assert taken["resources"][0]["provider"] == cli_state["resources"][0]["provider"]
            # The SDK's private data (timeouts, schema version) travels on.
            assert taken["resources"][0]["instances"][0].get("private")
            assert bed.tofu_plan(wd) == 0

            # Adopted again by ID over gRPC, from no state at all.
            wd.state_file.unlink()
            address = wd.desired.resource.address
            await bed.grpc.import_resource(wd, wd.desired.env, address, str(first))
            adopted = state_of(wd)["resources"][0]["instances"][0]["attributes"]
            assert int(adopted["id"]) == first
            assert bed.tofu_plan(wd) == 0
            with pytest.raises(TerraformError) as twice:
                await bed.grpc.import_resource(wd, wd.desired.env, address, str(first))
            assert not twice.value.not_found  # already in the state: not "does not exist"

            await bed.grpc.destroy(wd, wd.desired.env)
            assert standin.clusters() == []

            # An ID that names nothing: the same structured verdict from both drivers.
            wd.state_file.unlink()
            for driver in (bed.grpc, bed.cli):
                with pytest.raises(TerraformError) as caught:
                    await driver.import_resource(wd, wd.desired.env, address, str(first))
                assert caught.value.not_found, caught.value
        finally:
            await bed.pool.close()

    run(scenario())
