"""Settled polls skip the RPCs whose answers they already know, and only those.

Counted at our side of the wire (every RPC goes through PluginRpc.call), on the real
hashicorp/random.  UpgradeResourceState: the second poll of an unchanged state makes no
call; a state rewritten by the plugin driver, by the CLI, or read by another provider
binary is upgraded by the provider again; a state at an older schema version always is;
what a poll gets without the call is what the call answers.  PlanResourceChange, for a
kind declared ``pure_plan``: a plan of inputs that planned nothing before is not asked
again, by any process of the same binary and provider configuration; other inputs,
another configuration, another binary or a kind not so declared are planned.  (That a
real drift is still found with the memo on: tests/runtime/test_e2e_linode_polls.py.)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from jetgen.runtime import poll
from jetgen.runtime.plugindriver import PluginDriver
from jetgen.runtime.terraform.desired import Desired, ProviderSetup, ResourceBlock
from jetgen.runtime.terraform.driver import CliDriver
from jetgen.runtime.terraform.workdir import Workdir
from jetgen.runtime.tfplugin.client import ProviderProcess
from jetgen.runtime.tfplugin.rpc import PluginRpc
from jetgen.runtime.tfplugin.schemacache import SchemaCache

from .conftest import run

pytestmark = pytest.mark.e2e

UPGRADE, PLAN = "upgrade_resource_state", "plan_resource_change"


def upgrades() -> int:
    return PluginRpc.calls[UPGRADE]


def plans() -> int:
    return PluginRpc.calls[PLAN]


class Bed:
    """hashicorp/random installed by a CliDriver; the plugin driver and a poller share one
    pool whose processes share one schema cache (as the controller's do)."""

    def __init__(self, testbed, root: Path):
        self.version = testbed.providers["random"]
        self.cli = CliDriver(
            binary=str(testbed.tofu), root=root, cli_config=str(testbed.cli_config)
        )
        self.schemas = SchemaCache()

        async def start(binary, env):
            return await poll.start_provider(
                binary, env, cwd=poll.plugin_cwd(root), rpc_timeout=60, schemas=self.schemas
            )

        self.pool = poll.ProviderPool(start)
        self.grpc = PluginDriver(self.cli, self.pool)
        self.poller = poll.Poller(self.pool, self.providers, self.cli.environment)

    def providers(self) -> Path | None:
        template = self.cli.template  # set by prepare: the installation init made
        return template / ".terraform" / "providers" if template else None

    def desired(self, keeper: str, env: dict | None = None) -> Desired:
        setup = ProviderSetup(
            source="hashicorp/random", version=self.version, environment=env or {}
        )
        return Desired(
            setup, ResourceBlock("random_id", {"byte_length": 4, "keepers": {"k": keeper}})
        )

    async def poll(self, wd: Workdir) -> tuple[str, int]:
        """The verdict of one poll and the UpgradeResourceState calls it made."""
        before = upgrades()
        verdict = await self.poller.check(wd.read_state(), wd.desired)
        return verdict, upgrades() - before

    async def pure(self, wd: Workdir, desired: Desired | None = None) -> tuple[str, int]:
        """The verdict of one poll of a kind with pure plans, and the plans it asked for."""
        before = plans()
        verdict = await self.poller.check(wd.read_state(), desired or wd.desired, pure_plan=True)
        return verdict, plans() - before


def test_a_rewritten_state_is_upgraded_again(testbed, tmp_path):
    bed = Bed(testbed, tmp_path / "work")

    async def scenario():
        await bed.grpc.prepare("hashicorp/random", bed.version)
        try:
            wd = bed.grpc.workdir("id")
            wd.write_desired(bed.desired("1"))
            await bed.cli.apply(wd, {}, saved=False)  # created by the CLI
            assert await bed.poll(wd) == (poll.UNCHANGED, 1)
            assert await bed.poll(wd) == (poll.UNCHANGED, 0)
            # The same state still plans: a changed desired configuration is drift.
            before = upgrades()
            assert await bed.poller.check(wd.read_state(), bed.desired("2")) == poll.DRIFT
            assert upgrades() == before

            # A write by the plugin driver (keepers replace the id): new state, new upgrade.
            first = wd.read_state()
            wd.write_desired(bed.desired("2"))
            await bed.grpc.plan(wd, {})
            await bed.grpc.apply(wd, {})
            assert wd.read_state() != first
            assert await bed.poll(wd) == (poll.UNCHANGED, 1)
            assert await bed.poll(wd) == (poll.UNCHANGED, 0)

            # The CLI takes over and writes (another replacement): upgraded again.
            second = wd.read_state()
            wd.write_desired(bed.desired("3"))
            await bed.cli.plan(wd, {})
            await bed.cli.apply(wd, {})
            assert wd.read_state() != second
            assert await bed.poll(wd) == (poll.UNCHANGED, 1)
            assert await bed.poll(wd) == (poll.UNCHANGED, 0)

        finally:
            await bed.pool.close()

    run(scenario())


def test_another_binary_upgrades_and_plans_again_an_older_version_always_upgrades(
    testbed, tmp_path, provider_binary
):
    original = provider_binary("random")
    copy = tmp_path / "bin" / original.name  # the same code, but another binary (an upgrade)
    copy.parent.mkdir()
    shutil.copy2(original, copy)
    schemas = SchemaCache()

    async def started(binary: Path) -> ProviderProcess:
        provider = await ProviderProcess.start(binary, schemas=schemas, rpc_timeout=60)
        await provider.configure({})
        return provider

    async def pure(provider: ProviderProcess, stored: dict, private: bytes) -> tuple[str, int]:
        """A poll of a pure-plan kind: the verdict and the plans it asked for."""
        before = plans()
        resource = poll.StoredResource("random_password", version, stored, private)
        verdict = await poll.Poller._compare(provider, resource, {"length": 12}, (), False, "cfg")
        return verdict, plans() - before

    version = 0

    async def scenario():
        nonlocal version
        async with await started(original) as provider:
            plan = await provider.plan("random_password", None, {"length": 12})
            state, private = await provider.apply("random_password", None, plan, {"length": 12})
            stored = json.loads(json.dumps(state))  # as a state file holds it
            version = (await provider.get_schema())["resource_schemas"]["random_password"][
                "version"
            ]
            before = upgrades()
            answered = await provider.upgrade_state("random_password", version, stored)
            assert upgrades() == before + 1
            remembered = await provider.upgrade_state("random_password", version, stored)
            assert upgrades() == before + 1
            assert remembered == answered  # the same value as the provider's answer
            # A state of an older schema version runs the provider's upgraders: always asked.
            for _ in range(2):
                await provider.upgrade_state("random_password", version - 1, stored)
            assert upgrades() == before + 3
            assert await pure(provider, stored, private) == (poll.UNCHANGED, 1)
            assert await pure(provider, stored, private) == (poll.UNCHANGED, 0)

        before = upgrades()
        async with await started(original) as provider:  # a new process of the same binary
            assert await provider.upgrade_state("random_password", version, stored) == answered
            assert await pure(provider, stored, private) == (poll.UNCHANGED, 0)
        assert upgrades() == before
        async with await started(copy) as provider:  # a new binary: asked again
            assert await provider.upgrade_state("random_password", version, stored) == answered
            assert await pure(provider, stored, private) == (poll.UNCHANGED, 1)
        assert upgrades() == before + 1

    run(scenario())


def test_a_pure_plan_of_the_same_inputs_is_asked_once(testbed, tmp_path):
    bed = Bed(testbed, tmp_path / "work")

    async def scenario():
        await bed.grpc.prepare("hashicorp/random", bed.version)
        try:
            wd = bed.grpc.workdir("id")
            wd.write_desired(bed.desired("1"))
            await bed.cli.apply(wd, {}, saved=False)
            assert await bed.pure(wd) == (poll.UNCHANGED, 1)
            assert await bed.pure(wd) == (poll.UNCHANGED, 0)
            # Not declared pure: planned every time, as Terraform does.
            before = plans()
            for _ in range(2):
                assert await bed.poller.check(wd.read_state(), wd.desired) == poll.UNCHANGED
            assert plans() == before + 2

            # Another desired configuration is planned (and drift is never remembered).
            for _ in range(2):
                assert await bed.pure(wd, bed.desired("2")) == (poll.DRIFT, 1)
            assert await bed.pure(wd) == (poll.UNCHANGED, 0)

            # A new process of the same provider configuration (a recycle, a restart of
            # the pool) still knows the plan; another configuration does not.
            await bed.pool.close()
            assert await bed.pure(wd) == (poll.UNCHANGED, 0)
            other = bed.desired("1", env={"JETGEN_TEST_ACCOUNT": "b"})
            assert await bed.pure(wd, other) == (poll.UNCHANGED, 1)
            assert await bed.pure(wd, other) == (poll.UNCHANGED, 0)

            # A write (new state): planned again.
            wd.write_desired(bed.desired("2"))
            await bed.grpc.plan(wd, {})
            await bed.grpc.apply(wd, {})
            assert await bed.pure(wd) == (poll.UNCHANGED, 1)
            assert await bed.pure(wd) == (poll.UNCHANGED, 0)
            assert await bed.pure(wd, bed.desired("1")) == (poll.DRIFT, 1)
        finally:
            await bed.pool.close()

    run(scenario())
