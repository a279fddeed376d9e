"""The runtime's plugin-protocol poll against real providers, checked against tofu itself.

tofu (through the runtime's own CliDriver) creates the resource in a workdir; the poll then
judges that workdir, and every verdict is compared with what `tofu plan` says about the
same workdir: "unchanged" must mean tofu would neither see drift nor plan a change.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from jetgen.runtime import poll
from jetgen.runtime.terraform.desired import Desired, ProviderSetup, ResourceBlock
from jetgen.runtime.terraform.driver import CliDriver
from jetgen.runtime.terraform.workdir import Workdir
from jetgen.runtime.tfplugin.client import ProviderProcess

from .conftest import provider_descendants, run

pytestmark = pytest.mark.e2e


class Bed:
    """A CliDriver installation of one provider, and pollers over it."""

    def __init__(self, testbed, root: Path, name: str):
        self.name = name
        self.source = f"hashicorp/{name}"
        self.version = testbed.providers[name]
        self.driver = CliDriver(
            binary=str(testbed.tofu), root=root, cli_config=str(testbed.cli_config)
        )
        self.root = root

    async def prepare(self) -> None:
        await self.driver.prepare(self.source, self.version)

    def pool(self, **kw) -> poll.ProviderPool:
        async def start(binary, env):
            return await poll.start_provider(
                binary, env, cwd=poll.plugin_cwd(self.root), rpc_timeout=60
            )

        return poll.ProviderPool(start, **kw)

    def poller(self, pool: poll.ProviderPool) -> poll.Poller:
        providers = self.driver.template / ".terraform" / "providers"
        return poll.Poller(pool, lambda: providers, self.driver.environment)

    def config(self, type_name: str, arguments: dict, ignore_changes=()) -> Desired:
        return Desired(
            ProviderSetup(source=self.source, version=self.version),
            ResourceBlock(type_name, arguments, tuple(ignore_changes)),
        )

    async def workdir(self, key: str, config: Desired, env: dict | None = None):
        wd = self.driver.workdir(key)
        wd.write_config(config.config)
        await self.driver.apply(wd, env or {}, saved=False)
        return wd

    async def tofu_verdict(self, wd: Workdir, env: dict | None = None) -> str:
        """What a CLI poll concludes: nothing to do, or something to do."""
        plan = await self.driver.plan(wd, env or {})
        if plan.action == "create":
            return poll.GONE
        changed = plan.has_changes or plan.drift
        return poll.DRIFT if changed else poll.UNCHANGED


def check(poller, wd, config, **kw):
    return poller.check(wd.read_state(), config, **kw)


def test_local_file_verdicts_match_tofu(testbed, tmp_path):
    bed = Bed(testbed, tmp_path / "work", "local")
    target = tmp_path / "out" / "f.txt"
    config = bed.config("local_file", {"filename": str(target), "content": "v1\n"})

    async def scenario():
        await bed.prepare()
        pool = bed.pool()
        poller = bed.poller(pool)
        try:
            wd = await bed.workdir("f", config)
            state_before = wd.read_state()
            assert await check(poller, wd, config) == poll.UNCHANGED
            assert await bed.tofu_verdict(wd) == poll.UNCHANGED
            assert await check(poller, wd, config) == poll.UNCHANGED
            assert len(pool) == 1  # one process served both polls

            # The desired content changes (a spec edit): tofu plans an update.
            edited = bed.config("local_file", {"filename": str(target), "content": "v2\n"})
            assert await check(poller, wd, edited) == poll.DRIFT
            wd.write_config(edited.config)
            assert await bed.tofu_verdict(wd) == poll.DRIFT
            wd.write_config(config.config)

            # Someone deletes the file: gone for both.
            target.unlink()
            assert await check(poller, wd, config) == poll.GONE
            assert await bed.tofu_verdict(wd) == poll.GONE
            assert wd.read_state() == state_before  # the poll never writes the state
        finally:
            await pool.close()

    run(scenario())
    assert target.exists() is False  # nothing was ever applied by the poll


def test_ignore_changes_and_observe_only(testbed, tmp_path):
    bed = Bed(testbed, tmp_path / "work", "random")

    async def scenario():
        await bed.prepare()
        pool = bed.pool()
        poller = bed.poller(pool)
        try:
            created = bed.config("random_password", {"length": 12, "keepers": {"k": "1"}})
            wd = await bed.workdir("pw", created)
            assert await check(poller, wd, created) == poll.UNCHANGED

            # keepers force a replacement...
            rekeyed = bed.config("random_password", {"length": 12, "keepers": {"k": "2"}})
            assert await check(poller, wd, rekeyed) == poll.DRIFT
            # ...unless initProvider-style ignore_changes covers them, as tofu agrees.
            ignored = bed.config(
                "random_password", {"length": 12, "keepers": {"k": "2"}}, ignore_changes=["keepers"]
            )
            assert await check(poller, wd, ignored) == poll.UNCHANGED
            wd.write_config(ignored.config)
            assert await bed.tofu_verdict(wd) == poll.UNCHANGED
            # Observe-only MRs never plan: only whether the object is as stored counts.
            assert await check(poller, wd, rekeyed, observe_only=True) == poll.UNCHANGED
        finally:
            await pool.close()

    run(scenario())


def test_nested_blocks_as_the_runtime_renders_them(testbed, tmp_path):
    """A resource with a nested block, written as fields.to_terraform writes it (a list of
    one object): settled means unchanged, and a changed block value is drift."""
    bed = Bed(testbed, tmp_path / "work", "tls")

    def request(common_name: str, key_pem: str) -> Desired:
        subject = [{"common_name": common_name, "organization": "jetgen"}]
        return bed.config("tls_cert_request", {"private_key_pem": key_pem, "subject": subject})

    async def scenario():
        await bed.prepare()
        pool = bed.pool()
        poller = bed.poller(pool)
        try:
            key = await bed.workdir("key", bed.config("tls_private_key", {"algorithm": "ED25519"}))
            pem = key.resource_attributes()["private_key_pem"]
            config = request("a.example.org", pem)
            wd = await bed.workdir("csr", config)
            assert await check(poller, wd, config) == poll.UNCHANGED
            assert await bed.tofu_verdict(wd) == poll.UNCHANGED
            renamed = request("b.example.org", pem)
            assert await check(poller, wd, renamed) == poll.DRIFT
            wd.write_config(renamed.config)
            assert await bed.tofu_verdict(wd) == poll.DRIFT
        finally:
            await pool.close()

    run(scenario())


def test_pool_shares_bounds_restarts_and_stops(testbed, tmp_path):
    bed = Bed(testbed, tmp_path / "work", "random")
    binary = None

    async def scenario():
        nonlocal binary
        await bed.prepare()
        binary = poll.provider_binary(bed.driver.template / ".terraform" / "providers", bed.source)
        pool = bed.pool(limit=2, idle_timeout=3600)
        try:
            async with pool.use(binary, {}, {"A": "1"}) as first:
                async with pool.use(binary, {}, {"A": "1"}) as again:
                    assert again is first  # same configuration, same process
                async with pool.use(binary, {}, {"A": "2"}) as second:
                    assert second is not first  # other credentials: own process
                    assert _environ(second.pid).get("A") == "2"
                    # Both in use and the limit reached: the caller must use the CLI.
                    with pytest.raises(poll.PoolBusy):
                        async with pool.use(binary, {}, {"A": "3"}):
                            pass
            # Idle now: a third configuration replaces the least recently used (second:
            # first was released last).
            async with pool.use(binary, {}, {"A": "3"}) as third:
                await exited(second)  # stopped in the background
                assert first.alive and third.alive
            assert len(pool) == 2

            # A crashed provider is replaced on next use.
            os.kill(third.pid, 9)
            await third.plugin.process.wait()
            async with pool.use(binary, {}, {"A": "3"}) as fourth:
                assert fourth is not third and fourth.alive
                await fourth.get_schema()  # and it works
            assert len(pool) == 2
        finally:
            await pool.close()
        assert len(pool) == 0
        assert provider_descendants() == []

    run(scenario())


def test_idle_processes_are_stopped(testbed, tmp_path):
    bed = Bed(testbed, tmp_path / "work", "random")

    async def scenario():
        await bed.prepare()
        binary = poll.provider_binary(bed.driver.template / ".terraform" / "providers", bed.source)
        pool = bed.pool(idle_timeout=0.2)
        try:
            async with pool.use(binary, {}, {"A": "1"}) as old:
                pass
            await asyncio.sleep(0.3)
            async with pool.use(binary, {}, {"A": "2"}):
                await exited(old)  # reaped when the pool was next used
            assert len(pool) == 1
        finally:
            await pool.close()

    run(scenario())


def test_processes_are_recycled_by_their_rss_without_failing_a_call(testbed, tmp_path):
    """A long-lived provider grows by some memory per RPC (random 3.9.0: about 23 KB):
    once its RSS has grown past `rss_growth`, the pool starts a fresh process in the
    background; callers meanwhile keep the old one, new callers get the fresh one, and
    the old one stops once its last caller is done."""
    bed = Bed(testbed, tmp_path / "work", "random")

    async def scenario():
        await bed.prepare()
        binary = poll.provider_binary(bed.driver.template / ".terraform" / "providers", bed.source)
        recycles: list[str] = []
        pool = bed.pool(rss_growth=2 * poll.MIB, rss_interval=0, on_recycle=recycles.append)
        try:
            async with pool.use(binary, {}, {}) as old:
                started = old.rss()
                for _ in range(300):  # about 7 MB of the provider's own growth
                    await old.rpc.call("get_metadata")
                assert old.rss() > started + 2 * poll.MIB
                async with pool.use(binary, {}, {}) as same:
                    assert same is old  # the replacement starts in the background
                fresh = await _next_process(pool, binary, old)
                assert recycles == ["rss"]
                assert old.alive  # still in use by the outer caller
                await old.get_schema()
                assert fresh.rss() < old.rss()
            await exited(old)  # its last caller is done
            async with pool.use(binary, {}, {}) as again:
                assert again is fresh
            assert len(pool) == 1
        finally:
            await pool.close()

    run(scenario())


async def _next_process(pool, binary, old):
    """The process the pool hands out once it has replaced `old`."""
    for _ in range(200):
        async with pool.use(binary, {}, {}) as provider:
            if provider is not old:
                return provider
        await asyncio.sleep(0.05)
    raise AssertionError("the pool never replaced the process")


def test_a_provider_that_rejects_its_configuration_is_not_kept(testbed, tmp_path):
    bed = Bed(testbed, tmp_path / "work", "random")

    async def scenario():
        await bed.prepare()
        binary = poll.provider_binary(bed.driver.template / ".terraform" / "providers", bed.source)
        pool = bed.pool()
        try:
            with pytest.raises(ValueError):  # random has no provider arguments
                async with pool.use(binary, {"nonsense": "x"}, {}):
                    pass
            assert len(pool) == 0
        finally:
            await pool.close()

    run(scenario())


async def exited(provider) -> None:
    await asyncio.wait_for(provider.plugin.process.wait(), 10)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_started_like_the_cli(testbed, tmp_path):
    """The shared process runs from an empty private directory, not from any workdir."""
    bed = Bed(testbed, tmp_path / "work", "random")

    async def scenario():
        await bed.prepare()
        binary = poll.provider_binary(bed.driver.template / ".terraform" / "providers", bed.source)
        pool = bed.pool()
        try:
            async with pool.use(binary, {}, bed.driver.environment({})) as provider:
                assert isinstance(provider, ProviderProcess)
                cwd = Path(os.readlink(f"/proc/{provider.pid}/cwd"))
                assert cwd == poll.plugin_cwd(bed.root)
                assert (cwd.stat().st_mode & 0o777) == 0o700
        finally:
            await pool.close()

    run(scenario())


def test_a_provider_that_cannot_start_is_retried_after_a_back_off(testbed, tmp_path):
    """A provider binary that exits before its handshake: one start, then every poll is
    told at once (ProviderStartFailed: use the CLI) until the back-off is over; once the
    binary is fixed, the next try starts it and every caller shares that process."""
    bed = Bed(testbed, tmp_path / "work", "random")
    binary = tmp_path / "bin" / "terraform-provider-random"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\necho 'cannot run here' >&2\nexit 3\n")
    binary.chmod(0o755)
    attempts = 0

    async def start(path, env):
        nonlocal attempts
        attempts += 1
        return await poll.start_provider(path, env, cwd=poll.plugin_cwd(bed.root), rpc_timeout=60)

    async def use(pool):
        async with pool.use(binary, {}, {}) as provider:
            await provider.get_schema()
            return provider

    async def scenario():
        pool = poll.ProviderPool(start, start_backoff=(1.0, 1.0))
        try:
            results = await asyncio.gather(*(use(pool) for _ in range(10)), return_exceptions=True)
            assert attempts == 1
            assert "exited with 3 before the handshake: cannot run here" in str(results[0])
            assert all(isinstance(r, poll.ProviderStartFailed) for r in results[1:])
            assert "cannot run here" in str(results[1]) and "after a back-off" in str(results[1])

            binary.write_bytes(testbed.provider_binary("random").read_bytes())  # the fix
            await asyncio.sleep(1.3)  # the back-off (1 s, jittered by at most a quarter)
            providers = await asyncio.gather(*(use(pool) for _ in range(10)))
            assert attempts == 2
            assert len({id(p) for p in providers}) == 1 and providers[0].alive
        finally:
            await pool.close()

    run(scenario())
