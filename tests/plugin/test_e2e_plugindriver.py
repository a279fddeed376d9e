"""The plugin-protocol driver against real providers, checked by the CLI itself.

Every scenario hands a workdir from one driver to the other: what PluginDriver writes must
be a state ``tofu plan -detailed-exitcode`` finds nothing to do about (exit 0), and a
state tofu wrote must be one PluginDriver plans, updates, replaces and destroys from.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
from pathlib import Path

import pytest
from jetgen.runtime import poll
from jetgen.runtime.plugindriver import PluginDriver, PluginUnsupported
from jetgen.runtime.terraform.desired import Desired, ProviderSetup, ResourceBlock
from jetgen.runtime.terraform.diagnostics import TerraformError
from jetgen.runtime.terraform.driver import CliDriver
from jetgen.runtime.terraform.workdir import Workdir

from .conftest import run

pytestmark = pytest.mark.e2e


class Bed:
    """One provider installed by a CliDriver, and a PluginDriver over the same install."""

    def __init__(self, testbed, root: Path, source: str, version: str, binary: str = "tofu"):
        self.source, self.version = source, version
        self.cli = CliDriver(
            binary=str(getattr(testbed, binary)), root=root, cli_config=str(testbed.cli_config)
        )

        async def start(binary, env):
            return await poll.start_provider(binary, env, cwd=poll.plugin_cwd(root), rpc_timeout=60)

        self.pool = poll.ProviderPool(start)
        self.grpc = PluginDriver(self.cli, self.pool)

    async def prepare(self) -> None:
        await self.grpc.prepare(self.source, self.version)

    def desired(
        self,
        type_name: str,
        arguments: dict,
        *,
        provider: dict | None = None,
        credentials: dict | None = None,
    ) -> Desired:
        setup = ProviderSetup(
            source=self.source,
            version=self.version,
            arguments=provider or {},
            credentials=credentials or {},
        )
        return Desired(setup, ResourceBlock(type_name, arguments))

    def workdir(self, key: str, desired: Desired) -> Workdir:
        wd = self.grpc.workdir(key)
        wd.write_desired(desired)
        return wd

    def tofu_plan(self, wd: Workdir) -> int:
        """``tofu plan -detailed-exitcode``'s exit code: 0 nothing to do, 2 changes."""
        result = subprocess.run(
            [self.cli.binary, "plan", "-input=false", "-no-color", "-detailed-exitcode"],
            cwd=wd.path,
            env=self.cli.environment(wd.desired.env, home=wd.path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode in (0, 2), result.stdout + result.stderr
        return result.returncode


def state_of(wd: Workdir) -> dict:
    return json.loads(wd.read_state())


def instance_of(wd: Workdir) -> dict:
    (resource,) = state_of(wd)["resources"]
    (instance,) = resource["instances"]
    return instance


@pytest.fixture
def random_bed(testbed, tmp_path):
    return Bed(testbed, tmp_path / "work", "hashicorp/random", testbed.providers["random"])


@pytest.fixture
def local_bed(testbed, tmp_path):
    return Bed(testbed, tmp_path / "work", "hashicorp/local", testbed.providers["local"])


@pytest.mark.parametrize(
    ("binary", "host"),
    [("tofu", "registry.opentofu.org"), ("terraform", "registry.terraform.io")],
)
def test_create_over_grpc_then_the_cli_plans_nothing(testbed, tmp_path, binary, host):
    """Under either CLI: its version and its registry host in the state it takes over."""
    version = testbed.providers["random"]
    bed = Bed(testbed, tmp_path / "work", "hashicorp/random", version, binary)

    async def scenario():
        await bed.prepare()
        try:
            wd = bed.workdir(
                "pw", bed.desired("random_password", {"length": 20, "keepers": {"k": "1"}})
            )
            plan = await bed.grpc.plan(wd, {})
            assert (plan.action, plan.drift) == ("create", None)
            assert wd.read_state() is None  # planning writes nothing
            await bed.grpc.apply(wd, {})
            return wd
        finally:
            await bed.pool.close()

    wd = run(scenario())
    state = state_of(wd)
    assert state["version"] == 4 and state["serial"] == 1 and state["lineage"]
    assert state["terraform_version"] == bed.grpc.terraform_version != ""
    (resource,) = state["resources"]
    assert resource["mode"] == "managed" and resource["name"] == "this"
    assert resource["provider"] == f'provider["{host}/hashicorp/random"]'
    instance = resource["instances"][0]
    assert instance["schema_version"] == 3  # random_password's current schema
    assert len(instance["attributes"]["result"]) == 20
    # Each CLI's own convention: OpenTofu marks the schema's sensitive attributes,
    # Terraform 1.5 only what sensitive configuration made so (none here).
    marked = [p[0]["value"] for p in instance["sensitive_attributes"]]
    assert marked == (["bcrypt_hash", "result"] if binary == "tofu" else [])
    assert bed.tofu_plan(wd) == 0
    # And the CLI's apply of that workdir is a no-op: same lineage, nothing rewritten.
    before = wd.read_state()
    run(bed.cli.apply(wd, {}, saved=False))
    assert state_of(wd)["lineage"] == json.loads(before)["lineage"]
    assert state_of(wd)["resources"][0]["instances"][0]["attributes"] == instance["attributes"]


def test_cli_state_taken_over_replaced_and_destroyed_over_grpc(local_bed, tmp_path):
    bed = local_bed
    target = tmp_path / "out" / "f.txt"
    v1 = bed.desired("local_sensitive_file", {"filename": str(target), "content": "one\n"})
    v2 = bed.desired("local_sensitive_file", {"filename": str(target), "content": "two\n"})

    async def scenario():
        await bed.prepare()
        try:
            wd = bed.workdir("f", v1)
            await bed.cli.apply(wd, {}, saved=False)  # the CLI creates it
            created = state_of(wd)
            assert (await bed.grpc.plan(wd, {})).action == "no-op"
            wd.write_desired(v2)
            plan = await bed.grpc.plan(wd, {})
            assert plan.action == "replace"  # content forces a new file
            changed, forcing = await bed.grpc.changes(wd, {})
            assert "content" in changed and forcing == ["content"]
            await bed.grpc.apply(wd, {})
            assert target.read_text() == "two\n"
            replaced = state_of(wd)
            assert replaced["lineage"] == created["lineage"]
            assert replaced["serial"] > created["serial"]
            assert bed.tofu_plan(wd) == 0

            await bed.grpc.destroy(wd, {})
            assert not target.exists()
            assert state_of(wd)["resources"] == []
            assert bed.tofu_plan(wd) == 2  # the CLI would create it again
        finally:
            await bed.pool.close()

    run(scenario())


def test_drift_is_refreshed_and_a_vanished_object_recreated(local_bed, tmp_path):
    bed = local_bed
    target = tmp_path / "f.txt"
    desired = bed.desired("local_file", {"filename": str(target), "content": "x"})

    async def scenario():
        await bed.prepare()
        try:
            wd = bed.workdir("f", desired)
            await bed.grpc.apply(wd, {}, saved=False)
            assert target.read_text() == "x"
            serial = state_of(wd)["serial"]
            # A plan nobody applies goes with its pass's Workdir: nothing stays per MR.
            await bed.grpc.plan(bed.workdir("f", desired), {})
            gc.collect()
            assert len(bed.grpc._saved) == 0
            plan = await bed.grpc.plan(wd, {})
            assert (plan.action, plan.drift) == ("no-op", None)
            await bed.grpc.apply(wd, {})
            assert state_of(wd)["serial"] == serial  # nothing changed, nothing written

            target.unlink()
            plan = await bed.grpc.plan(wd, {})
            assert (plan.action, plan.drift) == ("create", "delete")
            await bed.grpc.apply(wd, {})
            assert target.read_text() == "x"
            assert bed.tofu_plan(wd) == 0
        finally:
            await bed.pool.close()

    run(scenario())


def test_a_stale_plan_is_refused_and_unknown_arguments_fall_back(local_bed, tmp_path):
    bed = local_bed
    target = tmp_path / "f.txt"

    async def scenario():
        await bed.prepare()
        try:
            wd = bed.workdir(
                "f", bed.desired("local_file", {"filename": str(target), "content": "a"})
            )
            await bed.grpc.plan(wd, {})
            wd.write_state(b'{"version":4,"serial":9,"lineage":"x","resources":[]}')
            with pytest.raises(TerraformError) as caught:
                await bed.grpc.apply(wd, {})
            assert caught.value.stale_plan and caught.value.nothing_created
            assert not target.exists()

            bad = bed.desired("local_file", {"filename": str(target), "no_such_argument": 1})
            wd.write_desired(bad)
            with pytest.raises(PluginUnsupported):
                await bed.grpc.plan(wd, {})
            # A value of the wrong type is named by its place, never shown (it may be a
            # secret a reference resolved).
            hostile = {"filename": str(target), "content": "a", "file_permission": ["s3cr3t-v4lue"]}
            wd.write_desired(bed.desired("local_file", hostile))
            with pytest.raises(PluginUnsupported) as caught:
                await bed.grpc.plan(wd, {})
            assert "file_permission" in str(caught.value)
            assert "s3cr3t" not in str(caught.value)
            with pytest.raises(PluginUnsupported):
                await bed.grpc.apply(wd, {})  # no plan of this driver is saved
        finally:
            await bed.pool.close()

    run(scenario())


def test_provider_errors_read_as_the_clis(local_bed, tmp_path):
    """A create the provider refuses: the provider's own words, nothing created."""
    bed = local_bed
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    desired = bed.desired("local_file", {"filename": str(blocked / "f.txt"), "content": "a"})

    async def scenario():
        await bed.prepare()
        try:
            wd = bed.workdir("f", desired)
            with pytest.raises(TerraformError) as grpc_error:
                await bed.grpc.apply(wd, {}, saved=False)
            wd.state_file.unlink(missing_ok=True)
            with pytest.raises(TerraformError) as cli_error:
                await bed.cli.apply(wd, {}, saved=False)
            return grpc_error.value, cli_error.value
        finally:
            await bed.pool.close()

    grpc_error, cli_error = run(scenario())
    assert grpc_error.nothing_created and cli_error.nothing_created
    assert [d.summary for d in grpc_error.diagnostics] == [
        d.summary for d in cli_error.diagnostics if d.severity == "error"
    ]


@pytest.fixture
def fault_bed(testbed, tmp_path):
    return Bed(testbed, tmp_path / "work", "jetgen/jetgenfault", testbed.providers["jetgenfault"])


def objects(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


def test_an_apply_past_its_timeout(fault_bed, tmp_path):
    """The provider makes the object, then takes 2 s to answer; the create may take 0.5 s.
    Answered within the grace: the state records the object (the next pass finds it) and
    the create is still a timeout, its outcome unknown.  Not answered within it: nothing
    recorded, and the process that did not answer is no longer handed out."""
    bed = fault_bed
    root = tmp_path / "objects"
    root.mkdir()

    def desired(content: str) -> Desired:
        arguments = {"content": content, "shape": "a", "create_delay_ms": 2000}
        return bed.desired("jetgenfault_object", arguments, provider={"root": str(root)})

    async def scenario():
        await bed.prepare()
        try:
            bed.grpc.grace = 5.0
            late = bed.workdir("late", desired("late"))
            with pytest.raises(TerraformError) as caught:
                await bed.grpc.apply(late, {}, saved=False, timeout=0.5)
            assert "timed out after 0.5s" in str(caught.value)
            assert not caught.value.nothing_created
            (made,) = objects(root)
            assert instance_of(late)["attributes"]["id"] == made
            assert len(bed.pool) == 1  # it answered: still in service

            bed.grpc.grace = 0.2
            lost = bed.workdir("lost", desired("lost"))
            with pytest.raises(TerraformError) as caught:
                await bed.grpc.apply(lost, {}, saved=False, timeout=0.5)
            assert not caught.value.nothing_created
            assert lost.read_state() is None
            assert len(bed.pool) == 0  # retired
            await asyncio.sleep(2.5)
            assert len(objects(root)) == 2  # it did make the object: outcome unknown
        finally:
            await bed.pool.close()

    run(scenario())
